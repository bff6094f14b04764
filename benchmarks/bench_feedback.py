"""Does ROI feedback fix a shortcut? A spurious mark predicts the label in training but not at test.

MNIST with a 3x3 bright mark on the top border whose horizontal position encodes the class in
every training image; at test the mark's position is random. With 100 labels a model can learn
the mark instead of the digit. We train (a) without feedback, (b) with "ignore the borders" boxes
(0.15..0.85, i.e. the digit area) on a few labelled training samples, alternating nothing else,
and compare test accuracy on the marked test set (mark uncorrelated) and on clean test images.

    .venv/bin/python benchmarks/bench_feedback.py [--steps 1500 --boxes 20]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from benchmarks.common import write_result  # noqa: E402
from engine.backends.base import Out  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.datasets import Dataset, load_dataset, oracle_labels  # noqa: E402
from engine.labels import LabelStore  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

BOX = (0.15, 0.15, 0.85, 0.85)


def marked(ds: Dataset, seed: int = 0) -> Dataset:
    """Training images get the mark at column 2 + 2*label; test images at a random class's column."""
    rng = np.random.default_rng(seed)
    img = ds.images.copy()
    pos = ds.targets.copy()
    pos[ds.n_train:] = rng.integers(0, ds.num_classes, len(ds) - ds.n_train)
    for i, c in enumerate(pos):
        x = 2 + 2 * int(c)
        img[i, 0:3, x:x + 3] = 255
    return Dataset("mnist-marked", img, ds.targets, ds.n_train, ds.num_classes)


def accuracy(trainer: Trainer, ds: Dataset, idx: np.ndarray) -> float:
    p = trainer.backend.predict(ds.float_images(idx))[Out.PROBS]
    return float((p.argmax(1) == ds.targets[idx]).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--boxes", type=int, default=20, help="labelled training samples that get a box")
    ap.add_argument("--roi", type=float, default=50.0, help="loss.roi weight")
    args = ap.parse_args()
    clean = load_dataset("mnist")
    ds = marked(clean)
    cfg = load_config("configs/default.yaml", {"train.steps": args.steps, "train.eval_every": 10**9,
                                                "loss.roi": args.roi})
    tmp = Path(tempfile.mkdtemp())
    labels = oracle_labels(ds, 10, 0)
    test = ds.test_idx
    results = {}
    for variant in ("no_feedback", "feedback"):
        store = LabelStore(tmp / variant / "labels.csv", ds.n_train, ds.num_classes)
        store.set_many(labels, source="bench")
        tr = Trainer(cfg, ds, store)
        if variant == "feedback":
            chosen = sorted(labels)[: args.boxes]
            tr.set_feedback([{"sample_idx": i, "x0": BOX[0], "y0": BOX[1], "x1": BOX[2], "y1": BOX[3],
                              "strength": 1.0} for i in chosen])
        t0 = time.perf_counter()
        tr.run(steps=args.steps)
        results[variant] = {
            "test_acc_marked_random": round(accuracy(tr, ds, test), 4),
            "test_acc_clean": round(accuracy(tr, clean, test), 4),
            "train_acc_marked": round(accuracy(tr, ds, np.arange(0, ds.n_train, 6)), 4),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(variant, results[variant], flush=True)
    write_result("feedback", {
        "what": "test accuracy with a spurious training mark, without and with ROI feedback boxes on a few samples",
        "command": f"python benchmarks/bench_feedback.py --steps {args.steps} --boxes {args.boxes} --roi {args.roi}",
        "labels": len(labels), "boxes": args.boxes, "box": BOX, "steps": args.steps, "roi_weight": args.roi,
        **{f"{v}_{k}": val for v, r in results.items() for k, val in r.items()},
    })


if __name__ == "__main__":
    main()
