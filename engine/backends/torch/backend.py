"""PyTorch implementation of the backend protocol (engine/backends/base.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.backends.base import Backend, Batch, Out, initial_tau
from engine.backends.torch.model import SSVAE, roi_capped_backward, ssvae_loss
from engine.config import ModelConfig
from engine.errors import DeviceUnavailable

_ADAM = {"betas": (0.9, 0.999), "eps": 1e-8}


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> None:
        super().__init__(cfg, device, threads)
        torch.set_num_threads(self.threads)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceUnavailable(f"--device {device}: torch sees no CUDA device; use --device cpu")
        self.dev = torch.device(device)
        self.lr = 1e-3
        self.init(0)

    # -- setup -----------------------------------------------------------------------
    def init(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = SSVAE(self.cfg).to(self.dev)
        self.model.tau.copy_(torch.from_numpy(initial_tau(self.cfg)))
        self._params = dict(self.model.named_parameters())
        self.opt = torch.optim.Adam(self._params.values(), lr=self.lr, **_ADAM)

    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)
        for g in self.opt.param_groups:
            g["lr"] = self.lr

    def _tensors(self, batch: Batch) -> dict[str, torch.Tensor]:
        out = {k: torch.as_tensor(np.asarray(v), device=self.dev) for k, v in batch.items()}
        out["y"] = out["y"].long()
        return out

    # -- training ----------------------------------------------------------------------
    def train_step(self, batch: Batch) -> Any:
        self.model.train()
        b = self._tensors(batch)
        use_roi, use_cons = self.loss_branches(batch)
        terms = ssvae_loss(self.model, b, use_roi=use_roi, use_cons=use_cons)
        self.opt.zero_grad(set_to_none=True)
        roi_capped_backward(self.model, terms, b["w"], use_roi)
        self.opt.step()
        return {k: v.detach() for k, v in terms.items()}

    def read_metrics(self, handle: Any) -> dict[str, float]:
        stacked = torch.stack([handle[k].float() for k in handle]).cpu().numpy()
        return {k: float(v) for k, v in zip(handle, stacked, strict=True)}

    def loss(self, batch: Batch) -> dict[str, float]:
        self.model.eval()
        b = self._tensors(batch)
        use_roi, use_cons = self.loss_branches(batch)
        terms = ssvae_loss(self.model, b, use_roi=use_roi, use_cons=use_cons, train=False)
        return self.read_metrics({k: v.detach() for k, v in terms.items()})

    # -- inference ---------------------------------------------------------------------
    def _as_input(self, x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(self.as_float_images(x), device=self.dev)

    @torch.no_grad()
    def predict(self, x: np.ndarray, batch_size: int = 1024) -> dict[Out, np.ndarray]:
        self.model.eval()
        parts: dict[Out, list[np.ndarray]] = {k: [] for k in Out}
        for i in range(0, len(x), batch_size):
            xb = self._as_input(x[i : i + batch_size])
            e = self.model.encode(xb)
            recon = torch.sigmoid(self.model.dec(e["mu"], e["q"]))
            vals = {
                Out.MU: e["mu"],
                Out.LOGVAR: e["logvar"],
                Out.RESP: e["q"],
                Out.PROBS: self.model.class_probs(e["q"]),
                Out.RECON: recon,
            }
            for k, v in vals.items():
                parts[k].append(v.cpu().numpy())
        if not parts[Out.MU]:
            return self.empty_prediction()
        return {k: np.concatenate(v) for k, v in parts.items()}

    @torch.no_grad()
    def decode(self, z: np.ndarray, q: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        z, q = self.check_decode_args(z, q)
        self.model.eval()
        out = np.zeros((len(z), *self.cfg.sample_shape), np.float32)
        for i in range(0, len(z), batch_size):
            zb = torch.as_tensor(z[i : i + batch_size], device=self.dev)
            qb = torch.as_tensor(q[i : i + batch_size], device=self.dev)
            out[i : i + len(zb)] = torch.sigmoid(self.model.dec(zb, qb)).cpu().numpy()
        return out

    @torch.no_grad()
    def predict_mc(self, x: np.ndarray, n: int, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        self.model.eval()
        torch.manual_seed(seed)
        out = np.zeros((n, len(x), self.cfg.num_classes), np.float32)
        for i in range(0, len(x), batch_size):
            xb = self._as_input(x[i : i + batch_size])
            fmap = self.model.enc.features(xb)  # shared by all MC passes: dropout sits after it
            for t in range(n):
                _, _, logits = self.model.enc.head(fmap, mc=True)
                out[t, i : i + len(xb)] = self.model.class_probs(torch.softmax(logits, 1)).cpu().numpy()
        return out

    def input_gradient(self, xs: np.ndarray, target: int) -> np.ndarray:
        self.model.eval()
        xt = self._as_input(xs).requires_grad_(True)
        probs = self.model.class_probs(self.model.encode(xt)["q"])
        (g,) = torch.autograd.grad(torch.log(probs[:, int(target)] + 1e-8).sum(), xt)
        return g.cpu().numpy().astype(np.float32)

    def feature_maps_and_grads(self, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        self.model.eval()
        fmap = self.model.enc.features(self._as_input(np.asarray(x)[None])).detach().requires_grad_(True)
        _, _, logits = self.model.enc.head(fmap)
        logp = torch.log(self.model.class_probs(torch.softmax(logits, 1))[0, int(target)] + 1e-8)
        (g,) = torch.autograd.grad(logp, fmap)
        return fmap[0].detach().cpu().numpy(), g[0].cpu().numpy()

    # -- state -------------------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        sd = self.model.state_dict()
        return {k: v.detach().cpu().numpy().copy() for k, v in sd.items()}

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.check_weights(weights)
        sd = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in weights.items()}
        self.model.load_state_dict(sd, strict=True)

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        step = 0
        for name, p in self._params.items():
            st = self.opt.state.get(p)
            if st:
                out[f"adam.m.{name}"] = st["exp_avg"].cpu().numpy().copy()
                out[f"adam.v.{name}"] = st["exp_avg_sq"].cpu().numpy().copy()
                step = int(st["step"])
            else:
                z = np.zeros(tuple(p.shape), np.float32)
                out[f"adam.m.{name}"], out[f"adam.v.{name}"] = z, z.copy()
        out["adam.step"] = np.array(step, np.int64)
        return out

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        step = self.check_optimizer_state(state)
        for name, p in self._params.items():
            if step == 0:
                self.opt.state.pop(p, None)
                continue
            self.opt.state[p] = {
                "step": torch.tensor(float(step)),
                "exp_avg": torch.as_tensor(np.asarray(state[f"adam.m.{name}"], np.float32), device=self.dev).clone(),
                "exp_avg_sq": torch.as_tensor(np.asarray(state[f"adam.v.{name}"], np.float32), device=self.dev).clone(),
            }
