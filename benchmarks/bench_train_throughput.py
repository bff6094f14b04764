"""Training throughput: the engine's Trainer (torch backend) vs a minimal hand-written PyTorch loop
of the same model, loss and batch size, alternated in one run so machine noise hits both.

    .venv/bin/python benchmarks/bench_train_throughput.py [--rounds 5 --steps 60]

Writes docs/benchmarks/train_throughput.json. Needs data/mnist/mnist.npz (make data).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch

from benchmarks.common import write_result
from engine.backends.base import cpu_threads
from engine.backends.torch.model import SSVAE, ssvae_loss
from engine.config import load_config
from engine.datasets import load_dataset, oracle_labels
from engine.stores.labels import LabelStore
from engine.training.trainer import Trainer


def hand_loop(cfg, ds, lab_idx, lab_y, steps: int) -> float:
    """The same SSVAE and loss, trained by the shortest loop one would write by hand."""
    torch.manual_seed(0)
    torch.set_num_threads(cpu_threads(cfg.threads))  # the same thread policy as the engine
    model = SSVAE(cfg.model)
    model.tau.copy_(torch.eye(cfg.model.components, cfg.model.num_classes))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    x_all = torch.from_numpy(ds.images[: ds.n_train]).float() / 255.0
    li, ly = torch.from_numpy(lab_idx), torch.from_numpy(lab_y)
    bu, bl = cfg.train.batch_unlabeled, cfg.train.batch_labeled
    w = torch.tensor([1, 1, 1, 1, 1, 1, 0], dtype=torch.float32)
    s = cfg.train.augment_shift
    model.train()
    t0 = time.perf_counter()
    for _ in range(steps):
        iu = torch.randint(0, ds.n_train, (bu,))
        pick = torch.randint(0, len(li), (bl,))
        idx = torch.cat([iu, li[pick]])
        x = x_all[idx]
        y = torch.cat([torch.full((bu,), -1), ly[pick]])
        dx, dy = np.random.randint(-s, s + 1, 2)
        b = {
            "x": x,
            "x_aug": torch.roll(x, (int(dy), int(dx)), (1, 2)),
            "y": y,
            "eps": torch.randn(len(idx), cfg.model.latent_dim),
            "drop": torch.rand(len(idx), cfg.model.hidden),
            "drop_aug": torch.rand(len(idx), cfg.model.hidden),
            "w": w,
            "threshold": torch.tensor(0.95),
            "roi_mask": None,
            "roi_weight": None,
        }
        loss = ssvae_loss(model, b, use_roi=False, use_cons=True)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    float(loss)
    return steps * (bu + bl) / (time.perf_counter() - t0)


def engine_loop(trainer: Trainer, steps: int) -> float:
    start = trainer.step
    t0 = time.perf_counter()
    trainer.run(steps=start + steps, evaluate_at_end=False)  # training throughput, not evaluation
    return steps * (trainer.cfg.train.batch_unlabeled + trainer.cfg.train.batch_labeled) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    cfg = load_config(
        "configs/baseline.yaml",  # the hand loop below makes the shift view only: no affine view or average
        {"train.eval_every": 10**9, "train.log_every": 50, "curriculum.warmup_steps": 0, "curriculum.anneal_steps": 0},
    )
    ds = load_dataset("mnist")
    tmp = Path(tempfile.mkdtemp())
    store = LabelStore(tmp / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 10, 0), source="bench")
    trainer = Trainer(cfg, ds, store)
    arr = store.read()
    lab_idx = np.flatnonzero(arr >= 0)
    hand_loop(cfg, ds, lab_idx, arr[lab_idx], 5)  # warm-up both
    engine_loop(trainer, 5)
    eng, hand = [], []
    for r in range(args.rounds):  # ABBA order: neither side always runs first
        if r % 2 == 0:
            eng.append(engine_loop(trainer, args.steps))
            hand.append(hand_loop(cfg, ds, lab_idx, arr[lab_idx], args.steps))
        else:
            hand.append(hand_loop(cfg, ds, lab_idx, arr[lab_idx], args.steps))
            eng.append(engine_loop(trainer, args.steps))
    ratios = [e / h for e, h in zip(eng, hand, strict=True)]
    write_result(
        "train_throughput",
        {
            "what": "samples/s of engine.Trainer (torch backend) vs a hand-written torch loop, same model/batch",
            "command": f"python benchmarks/bench_train_throughput.py --rounds {args.rounds} --steps {args.steps}",
            "batch": cfg.train.batch_unlabeled + cfg.train.batch_labeled,
            "torch_threads": torch.get_num_threads(),
            "rounds": args.rounds,
            "steps_per_round": args.steps,
            "engine_samples_per_s": [round(v, 1) for v in eng],
            "hand_samples_per_s": [round(v, 1) for v in hand],
            "engine_median": round(statistics.median(eng), 1),
            "hand_median": round(statistics.median(hand), 1),
            "ratio_engine_over_hand_median": round(statistics.median(ratios), 3),
        },
    )


if __name__ == "__main__":
    main()
