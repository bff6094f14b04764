"""A reference point for the colour sets' accuracy: a 1-nearest-neighbour classifier on raw pixels
with the same oracle labels (10 per class, seeds 0, 1, 2) and the same test split as
benchmarks/bench_accuracy.py's runs on the colour shapes and the photo patches.

    .venv/bin/python benchmarks/bench_pixel_baseline.py

Writes docs/benchmarks/pixel-baseline-colour.json. The data are built in memory with the
defaults of `latentloop data synth shapes --colour --n-train 12000 --n-test 3000` and
`latentloop data patches photos`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.neighbors import KNeighborsClassifier

from benchmarks.bench_accuracy import summarise
from benchmarks.common import write_result
from engine.datasets import Dataset, oracle_labels
from engine.datasets.photos import photo_patches
from engine.datasets.shapes import shapes_dataset

SEEDS = (0, 1, 2)


def pixel_1nn(ds: Dataset, per_class: int, seeds: Sequence[int]) -> list[float]:
    """Test accuracy of a 1-NN on the raw pixels of ``per_class`` oracle labels per class, one per seed
    (the labels `latentloop experiment --labels-per-class` picks with that seed)."""
    x = ds.images.reshape(len(ds), -1).astype(np.float32) / 255.0
    test = np.arange(ds.n_train, len(ds))
    accs = []
    for seed in seeds:
        labels = oracle_labels(ds, per_class, seed)
        idx = np.array(sorted(labels), np.int64)
        knn = KNeighborsClassifier(1).fit(x[idx], ds.targets[idx])
        accs.append(float(knn.score(x[test], ds.targets[test])))
    return accs


def main() -> None:
    sets = {
        "shapes": ("latentloop data synth shapes --colour --n-train 12000 --n-test 3000", shapes_dataset(12000, 3000)),
        "photos": ("latentloop data patches photos", photo_patches()),
    }
    out = {}
    for name, (made_by, ds) in sets.items():
        accs = pixel_1nn(ds, 10, SEEDS)
        out[name] = {"data": made_by, "test_acc": summarise(accs), "labels": int(10 * ds.num_classes)}
    write_result(
        "pixel-baseline-colour",
        {
            "what": "1-NN on raw pixels (scikit-learn), 10 oracle labels per class, test split, seeds 0, 1, 2",
            "command": "python benchmarks/bench_pixel_baseline.py",
            "sets": out,
        },
    )


if __name__ == "__main__":
    main()
