"""Training speed by image shape: the engine's Trainer (torch, the default config's model and batch)
on gray 28x28, RGB 32x32 and RGB 64x64 synthetic data, alternated in one run (issue 23).

    .venv/bin/python benchmarks/bench_image_sizes.py [--rounds 4 --steps 40]

Each round trains every shape for ``--steps`` steps, the order reversed every other round (ABC,
CBA), so machine noise hits every shape alike; the ratio to gray 28x28 is per round, then the
median. Gray strokes (engine.datasets.synthetic) and colour shapes (engine.datasets.shapes), 10
labels per class. Writes docs/benchmarks/image_sizes.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result
from engine.config import load_config
from engine.datasets import Dataset, oracle_labels, synthetic_dataset
from engine.datasets.shapes import shapes_dataset
from engine.stores.labels import LabelStore
from engine.training.trainer import Trainer

SHAPES = {"gray28": (28, 28, 1), "rgb32": (32, 32, 3), "rgb64": (64, 64, 3)}


def dataset(shape: tuple[int, int, int]) -> Dataset:
    h, w, c = shape
    if c == 1:
        return synthetic_dataset(n_train=4000, n_test=10, size=h)
    return shapes_dataset(n_train=4000, n_test=10, height=h, width=w)


def rate(trainer: Trainer, steps: int) -> float:
    """Samples per second of ``steps`` more training steps (no evaluation)."""
    start = trainer.step
    t0 = time.perf_counter()
    trainer.run(steps=start + steps, evaluate_at_end=False)
    return steps * (trainer.cfg.train.batch_unlabeled + trainer.cfg.train.batch_labeled) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    trainers: dict[str, Trainer] = {}
    for key, shape in SHAPES.items():
        ds = dataset(shape)
        cfg = load_config(
            "configs/default.yaml",
            {
                "model.image_shape": list(shape),
                "model.num_classes": ds.num_classes,
                "model.components": ds.num_classes,
                "train.eval_every": 10**9,
                "curriculum.warmup_steps": 0,
                "curriculum.anneal_steps": 0,
            },
        )
        store = LabelStore(tmp / f"{key}.csv", ds.n_train, ds.num_classes)
        store.set_many(oracle_labels(ds, 10, 0), source="bench")
        trainers[key] = Trainer(cfg, ds, store)
        rate(trainers[key], 5)  # warm-up
    got: dict[str, list[float]] = {k: [] for k in SHAPES}
    for r in range(args.rounds):
        for key in list(SHAPES) if r % 2 == 0 else list(SHAPES)[::-1]:
            got[key].append(rate(trainers[key], args.steps))
    ratios = {k: [v / g for v, g in zip(got[k], got["gray28"], strict=True)] for k in SHAPES}
    threads = next(iter(trainers.values())).backend.threads
    write_result(
        "image_sizes",
        {
            "what": "training samples/s of engine.Trainer (torch, default config's model and batch) by image shape",
            "command": f"python benchmarks/bench_image_sizes.py --rounds {args.rounds} --steps {args.steps}",
            "torch_threads": threads,
            "batch": trainers["gray28"].cfg.train.batch_unlabeled + trainers["gray28"].cfg.train.batch_labeled,
            "shapes": {k: list(v) for k, v in SHAPES.items()},
            "samples_per_s": {k: [round(x, 1) for x in v] for k, v in got.items()},
            "median_samples_per_s": {k: round(statistics.median(v), 1) for k, v in got.items()},
            "median_ratio_to_gray28": {k: round(statistics.median(v), 3) for k, v in ratios.items()},
        },
    )


if __name__ == "__main__":
    main()
