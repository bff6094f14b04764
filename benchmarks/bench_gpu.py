"""Training throughput on a GPU: the engine's Trainer vs a hand-written loop of the same model, loss
and batch with the training images kept on the device, per backend (torch, JAX) and config
(``configs/baseline.yaml``, the old default, and ``configs/default.yaml``, the levers and the mean
teacher), alternated in one run (ABBA order: neither side always runs first) so the machine's noise
hits both.

    .venv/bin/python benchmarks/bench_gpu.py [--device cuda --rounds 5 --steps 300]

Writes docs/benchmarks/gpu.json (``--out`` elsewhere): the GPU's name, driver and memory, the
framework versions, and per backend and config the samples/s of both loops in every round, their
ratio per round and its median, and the achieved TFLOP/s (an analytic count of the model's
multiply-adds, :func:`train_flops_per_sample`); then, per backend, whole 100-label default runs
(seeds ``--accuracy-seeds``): their seconds and test accuracy. ``--device cpu`` runs the same code on the CPU (a
smoke test; tests/engine/test_device_path.py) and writes to a temporary file unless ``--out``
says where. Needs data/mnist/mnist.npz (make data) or ``--dataset``.

The hand loops are what one writes in plain framework code: random rows by index on the device,
one ``torch.roll`` / ``jnp.roll`` shift per batch for the consistency view, ``affine_grid`` +
``grid_sample`` (torch) or ``map_coordinates`` (JAX) for the levers' affine view, a rolled main
view for the weak shift, a weight average every 10 steps and, once it is ready, the mean teacher's
encoder pass with it; noise and dropout drawn on the device.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import machine, write_result
from engine.config import Config, ModelConfig, load_config
from engine.datasets import Dataset, load_dataset, oracle_labels
from engine.stores.labels import LabelStore
from engine.training.checkpoints import EMA_EVERY, average_is_ready
from engine.training.curriculum import Curriculum
from engine.training.trainer import Trainer

CONFIGS = {"baseline": "configs/baseline.yaml", "default": "configs/default.yaml"}


def train_flops_per_sample(m: ModelConfig, consistency: bool, teacher: bool = False) -> float:
    """FLOPs of one training sample (conv encoder): 2 per multiply-add, backward = twice the
    forward; the consistency view adds an encoder pass with its backward, the mean teacher an
    encoder pass without one."""
    c1, c2 = m.enc_channels
    h2, w2, h4, w4 = m.height // 2, m.width // 2, m.height // 4, m.width // 4
    enc = h2 * w2 * c1 * m.channels * 16 + h4 * w4 * c2 * c1 * 16 + m.hidden * c2 * h4 * w4
    enc += m.hidden * (2 * m.latent_dim + m.components)
    dec = m.hidden * (m.latent_dim + m.components) + m.hidden * m.pixels
    return 3 * 2 * (enc + dec + (enc if consistency else 0)) + (2 * enc if consistency and teacher else 0)


def config(name: str, backend: str, device: str, dataset: str) -> Config:
    return load_config(
        CONFIGS[name],
        {
            "backend": backend,
            "device": device,
            "data.name": dataset,
            "train.eval_every": 10**9,
            "train.log_every": 50,
            "curriculum.warmup_steps": 0,
            "curriculum.anneal_steps": 0,
        },
    )


# -- the hand loops -----------------------------------------------------------------------------
class TorchHand:
    """The SSVAE and its loss (engine/backends/torch/model.py) in the shortest loop one would write."""

    def __init__(self, cfg: Config, ds: Dataset, lab_idx: np.ndarray, lab_y: np.ndarray) -> None:
        import torch

        from engine.backends.torch.model import SSVAE

        self.torch, self.cfg, t = torch, cfg, cfg.train
        self.dev = torch.device(cfg.device)
        torch.manual_seed(0)
        self.model = SSVAE(cfg.model).to(self.dev)
        self.model.tau.copy_(torch.eye(cfg.model.components, cfg.model.num_classes))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=t.lr)
        # the weight average as a second model's parameters: the mean teacher encodes with them
        self.teacher = copy.deepcopy(self.model).requires_grad_(False) if t.ema_decay else None
        self.avg = list(self.teacher.parameters()) if self.teacher is not None else []
        self.x_all = torch.from_numpy(np.array(ds.images[: ds.n_train])).to(self.dev).float() / 255.0
        self.li = torch.from_numpy(lab_idx).to(self.dev)
        self.ly = torch.from_numpy(lab_y).to(self.dev)
        self.w = torch.from_numpy(Curriculum(cfg).weights(10**6, has_feedback=False)).to(self.dev)
        self.threshold = torch.tensor(cfg.loss.pseudo_threshold, device=self.dev)
        self.n = ds.n_train
        self.step = 0

    def x_aug(self, x: Any) -> Any:
        torch, t = self.torch, self.cfg.train
        s = t.augment_shift
        if not (t.augment_rotate or t.augment_scale):
            dy, dx = np.random.randint(-s, s + 1, 2)
            return torch.roll(x, (int(dy), int(dx)), (1, 2))
        import torch.nn.functional as F

        b = len(x)
        ang = (torch.rand(b, device=self.dev) * 2 - 1) * math.radians(t.augment_rotate)
        zoom = 1 + (torch.rand(b, device=self.dev) * 2 - 1) * t.augment_scale
        sh = torch.randint(-s, s + 1, (b, 2), device=self.dev).float()
        theta = torch.stack(
            [
                torch.stack([ang.cos() / zoom, ang.sin() / zoom, -2 * sh[:, 0] / x.shape[2]], 1),
                torch.stack([-ang.sin() / zoom, ang.cos() / zoom, -2 * sh[:, 1] / x.shape[1]], 1),
            ],
            1,
        )
        img = x.permute(0, 3, 1, 2) if x.ndim == 4 else x[:, None]
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        out = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.permute(0, 2, 3, 1) if x.ndim == 4 else out[:, 0]

    def run(self, steps: int) -> float:
        from engine.backends.torch.model import ssvae_loss

        torch, t, m = self.torch, self.cfg.train, self.cfg.model
        bu, bl = t.batch_unlabeled, t.batch_labeled
        self.model.train()
        t0 = time.perf_counter()
        for _ in range(steps):
            iu = torch.randint(0, self.n, (bu,), device=self.dev)
            pick = torch.randint(0, len(self.li), (bl,), device=self.dev)
            x = self.x_all[torch.cat([iu, self.li[pick]])]
            y = torch.cat([torch.full((bu,), -1, device=self.dev), self.ly[pick]])
            x_aug = self.x_aug(x)
            if t.weak_shift:
                dy, dx = np.random.randint(-t.weak_shift, t.weak_shift + 1, 2)
                x = torch.roll(x, (int(dy), int(dx)), (1, 2))
            b = {
                "x": x,
                "x_aug": x_aug,
                "y": y,
                "eps": torch.randn(len(x), m.latent_dim, device=self.dev),
                "drop": torch.rand(len(x), m.hidden, device=self.dev),
                "drop_aug": torch.rand(len(x), m.hidden, device=self.dev),
                "w": self.w,
                "threshold": self.threshold,
            }
            if self.teacher is not None and t.mean_teacher and average_is_ready(t.ema_decay, self.step):
                with torch.no_grad():
                    b["teacher_p"] = self.teacher.class_probs(self.teacher.encode(x)["q"])
            loss = ssvae_loss(self.model, b, use_roi=False, use_cons=True)["loss"]
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            if self.avg and self.step % EMA_EVERY == 0:
                with torch.no_grad():
                    d = t.ema_decay**EMA_EVERY
                    torch._foreach_mul_(self.avg, d)
                    torch._foreach_add_(self.avg, list(self.model.parameters()), alpha=1 - d)
        float(loss.detach())  # wait for the device
        return steps * (bu + bl) / (time.perf_counter() - t0)


class JaxHand:
    """The SSVAE and its loss (engine/backends/jax/{model,loss}.py) in one jitted step that draws its
    own batch on the device."""

    def __init__(self, cfg: Config, ds: Dataset, lab_idx: np.ndarray, lab_y: np.ndarray) -> None:
        import jax
        import jax.numpy as jnp
        import optax

        from engine.backends.base import initial_weights
        from engine.backends.jax import layout
        from engine.backends.jax import loss as L
        from engine.backends.jax import model as M

        t, m = cfg.train, cfg.model
        dev = jax.devices("cpu" if cfg.device == "cpu" else "gpu")[int(cfg.device.partition(":")[2] or 0)]
        put = lambda a: jax.device_put(a, dev)  # noqa: E731
        model = M.build(m)
        self.params = put(layout.to_flax(initial_weights(m, 0), m))
        opt = optax.adam(t.lr, b1=0.9, b2=0.999, eps=1e-8)
        self.opt_state = opt.init(self.params)
        self.avg = jax.tree.map(jnp.copy, self.params) if t.ema_decay else None
        tau = put(np.eye(m.components, m.num_classes, dtype=np.float32))
        x_all = put(np.ascontiguousarray(ds.images[: ds.n_train])).astype(jnp.float32) / 255.0
        li, ly = put(lab_idx.astype(np.int32)), put(lab_y.astype(np.int32))
        w = put(Curriculum(cfg).weights(10**6, has_feedback=False))
        bu, bl, n, h, wd = t.batch_unlabeled, t.batch_labeled, ds.n_train, m.height, m.width
        affine = bool(t.augment_rotate or t.augment_scale)

        def roll(key, x, s):
            d = jax.random.randint(key, (2,), -s, s + 1)
            return jnp.roll(x, (d[0], d[1]), (1, 2))

        def warp(key, x):
            k1, k2, k3 = jax.random.split(key, 3)
            b = x.shape[0]
            ang = jax.random.uniform(k1, (b,), minval=-1, maxval=1) * math.radians(t.augment_rotate)
            zoom = 1 + jax.random.uniform(k2, (b,), minval=-1, maxval=1) * t.augment_scale
            sh = jax.random.randint(k3, (b, 2), -t.augment_shift, t.augment_shift + 1).astype(jnp.float32)
            yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(wd, dtype=jnp.float32), indexing="ij")

            def one(img, a, z, s):
                dx, dy = xx - (wd - 1) / 2 - s[0], yy - (h - 1) / 2 - s[1]
                u = (jnp.cos(a) * dx + jnp.sin(a) * dy) / z + (wd - 1) / 2
                v = (-jnp.sin(a) * dx + jnp.cos(a) * dy) / z + (h - 1) / 2
                sample = lambda c: jax.scipy.ndimage.map_coordinates(c, [v, u], order=1, mode="constant")  # noqa: E731
                return sample(img) if img.ndim == 2 else jax.vmap(sample, 2, 2)(img)

            return jax.vmap(one)(x, ang, zoom, sh)

        def step(params, opt_state, key, avg, teacher):
            ks = jax.random.split(key, 7)
            iu = jax.random.randint(ks[0], (bu,), 0, n)
            pick = jax.random.randint(ks[1], (bl,), 0, li.shape[0])
            x = x_all[jnp.concatenate([iu, li[pick]])]
            b = {
                "x": roll(ks[3], x, t.weak_shift) if t.weak_shift else x,
                "x_aug": warp(ks[2], x) if affine else roll(ks[2], x, t.augment_shift),
                "y": jnp.concatenate([jnp.full((bu,), -1, jnp.int32), ly[pick]]),
                "eps": jax.random.normal(ks[4], (bu + bl, m.latent_dim)),
                "drop": jax.random.uniform(ks[5], (bu + bl, m.hidden)),
                "drop_aug": jax.random.uniform(ks[6], (bu + bl, m.hidden)),
                "w": w,
                "threshold": jnp.float32(cfg.loss.pseudo_threshold),
            }
            if teacher:  # the mean teacher: the weight average's class probabilities
                b["teacher_p"] = M.encode(model, avg, b["x"])["q"] @ tau

            def objective(p):
                terms = L.ssvae_loss(model, p, tau, b, False, True, train=True)
                return terms["loss"], terms

            grads, terms = jax.grad(objective, has_aux=True)(params)
            updates, opt_state = opt.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state, terms["loss"]

        d = t.ema_decay**EMA_EVERY
        self._step = jax.jit(step, donate_argnums=(0, 1), static_argnames=("teacher",))
        self._avg = jax.jit(lambda a, p: jax.tree.map(lambda x, y: d * x + (1 - d) * y, a, p), donate_argnums=(0,))
        self.key = jax.random.PRNGKey(0)
        self.jax, self.batch, self.count = jax, bu + bl, 0
        self.mean_teacher, self.decay = t.mean_teacher, t.ema_decay

    def run(self, steps: int) -> float:
        t0 = time.perf_counter()
        for _ in range(steps):
            self.key, k = self.jax.random.split(self.key)
            teacher = self.avg is not None and self.mean_teacher and average_is_ready(self.decay, self.count)
            self.params, self.opt_state, loss = self._step(self.params, self.opt_state, k, self.avg, teacher=teacher)
            self.count += 1
            if self.avg is not None and self.count % EMA_EVERY == 0:
                self.avg = self._avg(self.avg, self.params)
        float(loss)  # wait for the device
        return steps * self.batch / (time.perf_counter() - t0)


HANDS = {"torch": TorchHand, "jax": JaxHand}


# -- the machine -----------------------------------------------------------------------------------
def gpu_info(device: str) -> dict[str, Any]:
    """The GPU's name, driver and memory (nvidia-smi), or the CPU's name for --device cpu."""
    if device == "cpu":
        return {"device": "cpu", "name": _cpu_name()}
    index = device.partition(":")[2] or "0"
    query = "name,driver_version,memory.total"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader", "-i", index],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
        name, driver, memory = (part.strip() for part in out.split(","))
    except (OSError, subprocess.SubprocessError, ValueError) as err:
        name, driver, memory = "?", f"? ({err})", "?"
    return {"device": device, "name": name, "driver": driver, "memory": memory}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def versions(backends: list[str]) -> dict[str, str]:
    out = {"numpy": np.__version__}
    if "torch" in backends:
        import torch

        out.update(torch=torch.__version__, torch_cuda=str(torch.version.cuda))
    if "jax" in backends:
        import jax
        import jaxlib

        out.update(jax=jax.__version__, jaxlib=jaxlib.__version__)
    return out


# -- the benchmark -----------------------------------------------------------------------------------
def measure(backend: str, name: str, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """Engine vs hand loop for one backend and config, rounds alternated ABBA."""
    cfg = config(name, backend, args.device, args.dataset)
    ds = load_dataset(args.dataset)
    store = LabelStore(home / f"labels-{backend}-{name}.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, args.labels_per_class, 0), source="bench")
    arr = store.read()
    lab_idx = np.flatnonzero(arr >= 0)
    trainer = Trainer(cfg, ds, store)
    hand = HANDS[backend](cfg, ds, lab_idx, arr[lab_idx])
    batch = cfg.train.batch_unlabeled + cfg.train.batch_labeled

    def engine(steps: int) -> float:
        start = trainer.step
        t0 = time.perf_counter()
        trainer.run(steps=start + steps, evaluate_at_end=False)  # its last step reads the metrics: a sync
        return steps * batch / (time.perf_counter() - t0)

    engine(args.warmup)  # compiles and caches, both sides
    hand.run(args.warmup)
    eng, hnd = [], []
    for r in range(args.rounds):
        if r % 2 == 0:
            eng.append(engine(args.steps))
            hnd.append(hand.run(args.steps))
        else:
            hnd.append(hand.run(args.steps))
            eng.append(engine(args.steps))
    teacher = cfg.train.mean_teacher and cfg.train.ema_decay > 0  # from step 230 at 0.99: nearly every step
    flops = train_flops_per_sample(cfg.model, consistency=cfg.loss.consistency > 0, teacher=teacher)
    ratios = [e / h for e, h in zip(eng, hnd, strict=True)]
    return {
        "backend": backend,
        "config": CONFIGS[name],
        "batch": batch,
        "engine_samples_per_s": [round(v, 1) for v in eng],
        "hand_samples_per_s": [round(v, 1) for v in hnd],
        "ratio_engine_over_hand": [round(v, 3) for v in ratios],
        "engine_median": round(statistics.median(eng), 1),
        "hand_median": round(statistics.median(hnd), 1),
        "ratio_median": round(statistics.median(ratios), 3),
        "train_mflop_per_sample": round(flops / 1e6, 2),
        "engine_tflops": round(statistics.median(eng) * flops / 1e12, 4),
        "hand_tflops": round(statistics.median(hnd) * flops / 1e12, 4),
    }


def accuracy_run(backend: str, seed: int, args: argparse.Namespace, home: Path) -> dict[str, Any]:
    """The issue's end-to-end goal: a whole run of the default (the levers and the mean teacher:
    configs/default.yaml, its 3000 steps and evaluations) with 10 labels per class, as
    ``latentloop experiment --seed S`` trains it; the seconds include the first steps' compilation."""
    overrides: dict[str, Any] = {"backend": backend, "device": args.device, "data.name": args.dataset, "seed": seed}
    if args.accuracy_steps:
        overrides["train.steps"] = args.accuracy_steps
    cfg = load_config(CONFIGS["default"], overrides)
    ds = load_dataset(args.dataset)
    store = LabelStore(home / f"labels-acc-{backend}-{seed}.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, args.labels_per_class, seed), source="bench")
    t0 = time.perf_counter()
    trainer = Trainer(cfg, ds, store)
    res = trainer.run()
    seconds = time.perf_counter() - t0
    return {"backend": backend, "seed": seed, "steps": res["step"], "seconds": round(seconds, 1),
            "test_acc": round(float(res["test_acc"]), 4), "split": res.get("split", "test")}  # fmt: skip


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals as ratios of medians (those whose runs were measured): what the levers cost
    (the default over the old default), and JAX's engine against torch's hand loop on the old
    default, the config the goal was set on."""
    med = {(r["backend"], r["config"].split("/")[-1].removesuffix(".yaml")): r for r in runs}
    out: dict[str, Any] = {}
    for be in ("torch", "jax"):
        if (be, "baseline") in med and (be, "default") in med:
            out[f"{be}_default_over_baseline"] = round(
                med[(be, "default")]["engine_median"] / med[(be, "baseline")]["engine_median"], 3
            )
    if ("jax", "baseline") in med and ("torch", "baseline") in med:
        out["jax_engine_over_torch_hand"] = round(
            med[("jax", "baseline")]["engine_median"] / med[("torch", "baseline")]["hand_median"], 3
        )
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (a smoke test)")
    ap.add_argument("--backends", default="torch,jax")
    ap.add_argument("--configs", default="baseline,default", help=f"a comma list of {sorted(CONFIGS)}")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300, help="training steps per round and side")
    ap.add_argument("--warmup", type=int, default=30, help="steps before the rounds (compiles)")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--accuracy-seeds", default="0,1,2", help="seeds of the whole default run per backend ('' = none)")
    ap.add_argument("--accuracy-steps", type=int, default=0, help="steps of those runs (default: the config's)")
    ap.add_argument("--out", type=Path, help="the JSON file (default: docs/benchmarks/gpu.json on a GPU)")
    args = ap.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    names = [c for c in args.configs.split(",") if c]
    for b in backends:
        if b not in HANDS:
            ap.error(f"--backends: {b!r} has no hand loop here; choose from {sorted(HANDS)}")
    for c in names:
        if c not in CONFIGS:
            ap.error(f"--configs: {c!r} is not one of {sorted(CONFIGS)}")
    if args.device == "cpu":
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
    else:
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # torch shares the GPU
    home = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    runs = [measure(b, c, args, home) for b in backends for c in names]
    seeds = [int(x) for x in args.accuracy_seeds.split(",") if x.strip()]
    accuracy = [accuracy_run(b, seed, args, home) for b in backends for seed in seeds]
    result = {
        "what": "samples/s of engine.Trainer vs a hand-written loop (same model, loss, batch; data on the device)",
        "command": "python benchmarks/bench_gpu.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "gpu": gpu_info(args.device),
        "versions": versions(backends),
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "runs": runs,
        "summary": summary(runs),
        "accuracy_runs": accuracy,
        "accuracy_summary": {
            b: {
                "seconds_median": round(statistics.median(r["seconds"] for r in rs), 1),
                "test_acc_mean": round(statistics.mean(r["test_acc"] for r in rs), 4),
                "test_acc_std": round(statistics.stdev(r["test_acc"] for r in rs), 4) if len(rs) > 1 else 0.0,
            }
            for b in backends
            if (rs := [r for r in accuracy if r["backend"] == b])
        },
    }
    if args.out is None and args.device.startswith("cuda"):
        write_result("gpu", result)
        return
    out = args.out or home / "gpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"benchmark": "gpu", "machine": machine(), **result}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
