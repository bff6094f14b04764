"""PyTorch implementation of the backend protocol (engine/backends/base.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from engine.backends.base import Backend, Batch, Out, initial_tau
from engine.backends.torch.model import SSVAE, roi_capped_backward, ssvae_loss
from engine.backends.torch.views import Views, put_many
from engine.config import ModelConfig
from engine.errors import DeviceUnavailable
from engine.training.augment import ViewPlan

_ADAM = {"betas": (0.9, 0.999), "eps": 1e-8}


class TorchBackend(Backend):
    name = "torch"

    def __init__(self, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> None:
        super().__init__(cfg, device, threads)
        torch.set_num_threads(self.threads)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceUnavailable(f"--device {device}: torch sees no CUDA device; use --device cpu")
        self.dev = torch.device(device)
        if self.dev.type == "cuda" and (self.dev.index or 0) >= (count := torch.cuda.device_count()):
            raise DeviceUnavailable(
                f"--device {device}: torch sees {count} CUDA device(s) (cuda:0 to cuda:{count - 1}); use one of them"
            )
        self._views = Views(self.dev)
        self.lr = 1e-3
        self.init(0)

    # -- setup -----------------------------------------------------------------------
    def init(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.model = SSVAE(self.cfg).to(self.dev)
        self.model.tau.copy_(torch.from_numpy(initial_tau(self.cfg)))
        self._params = dict(self.model.named_parameters())
        self.opt = torch.optim.Adam(self._params.values(), lr=self.lr, **_ADAM)
        self._avg_t: dict[str, torch.Tensor] | None = None  # the weight average, on the device

    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)
        for g in self.opt.param_groups:
            g["lr"] = self.lr

    def _tensors(self, batch: Batch, use_roi: bool = True) -> dict[str, torch.Tensor]:
        """The batch on the device: views' x and x_aug are there already; on a GPU the rest travel
        packed, without a sync, and the feedback mask only when the ROI term reads it."""
        out = {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}
        host = {k: np.asarray(v) for k, v in batch.items() if k not in out and (use_roi or k != "roi_mask")}
        if self.dev.type == "cuda":
            out.update(put_many(host, self.dev))
        else:  # numpy's memory, shared: nothing copied
            out.update({k: torch.as_tensor(v) for k, v in host.items()})
        out["y"] = out["y"].long()
        return out

    # -- the batch's images ------------------------------------------------------------
    def device_free_bytes(self) -> int | None:
        if self.dev.type != "cuda":
            return None
        free, _ = torch.cuda.mem_get_info(self.dev)
        return int(free)

    def hold_images(self, images: np.ndarray, upload: bool = False) -> None:
        super().hold_images(images, upload)
        self._views.upload(images if upload else None)

    def views(self, plan: ViewPlan) -> tuple[torch.Tensor, torch.Tensor]:
        return self._views.make(self._images, plan)

    # -- training ----------------------------------------------------------------------
    def train_step(self, batch: Batch) -> Any:
        self.model.train()
        use_roi, use_cons = self.loss_branches(batch)
        b = self._tensors(batch, use_roi)
        if self.uses_teacher(use_cons):
            b["teacher_p"] = self._teacher_probs(b["x"])
        terms = ssvae_loss(self.model, b, use_roi=use_roi, use_cons=use_cons)
        self.opt.zero_grad(set_to_none=True)
        roi_capped_backward(self.model, terms, b["w"], use_roi)
        self.opt.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def _teacher_probs(self, x: torch.Tensor) -> torch.Tensor:
        """The weight average's class probabilities for ``x`` (no dropout, the live tau)."""
        self.swap_average()  # tensors change places: nothing is copied
        try:
            return self.model.class_probs(self.model.encode(x)["q"])
        finally:
            self.swap_average()

    def read_metrics(self, handle: Any) -> dict[str, float]:
        stacked = torch.stack([handle[k].float() for k in handle]).cpu().numpy()
        return {k: float(v) for k, v in zip(handle, stacked, strict=True)}

    def loss(self, batch: Batch) -> dict[str, float]:
        self.model.eval()
        b = self._tensors(batch)
        use_roi, use_cons = self.loss_branches(batch)
        terms = ssvae_loss(self.model, b, use_roi=use_roi, use_cons=use_cons, train=False)
        return self.read_metrics({k: v.detach() for k, v in terms.items()})

    # -- the weight average --------------------------------------------------------------
    @torch.no_grad()
    def average_weights(self, decay: float) -> None:
        if self._avg_t is None:
            self._avg_t = {n: p.detach().clone() for n, p in self._params.items()}
            return
        # the reference's float32 factors, and a multiply then an add (no fused multiply-add)
        d, e = float(np.float32(decay)), float(np.float32(1) - np.float32(decay))
        for n, p in self._params.items():
            self._avg_t[n].mul_(d).add_(p * e)

    def has_average(self) -> bool:
        return self._avg_t is not None

    def averaged_weights(self) -> dict[str, np.ndarray] | None:
        return None if self._avg_t is None else {n: a.cpu().numpy().copy() for n, a in self._avg_t.items()}

    def set_averaged_weights(self, weights: dict[str, np.ndarray] | None) -> None:
        super().set_averaged_weights(weights)  # checks it
        avg, self._avg = self._avg, None
        self._avg_t = None if avg is None else {n: torch.as_tensor(avg[n], device=self.dev) for n in self._params}

    @torch.no_grad()
    def swap_average(self) -> None:
        if self._avg_t is None:
            raise ValueError("no weight average to swap in: average_weights was never called")
        for n, p in self._params.items():  # tensors change places: nothing is copied
            p.data, self._avg_t[n] = self._avg_t[n], p.data

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
