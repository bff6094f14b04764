"""Core operations on the hot paths of a labelling session, at MNIST size (no model involved):

- the 2-D projection of 70,000 latent means (first fit, then an aligned refit of moved points);
- k-center greedy choosing 20 of 60,000 candidates (the `*+kcenter` strategies);
- one keypress-driven ``LabelStore.set`` with 4,000 labels already in the file, with the real
  fsync and with fsync stubbed, alternated in one run: the ratio is the disk's share.

    .venv/bin/python benchmarks/bench_core.py [--repeats 5] [--sets 40]

These were timed tests once; timings belong here, where a noisy machine shows up as spread
instead of a failed suite.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_result
from engine.analysis import acquisition as acq
from engine.analysis.projection import Projector
from engine.stores import labels as labels_mod
from engine.stores.labels import LabelStore


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50": round(float(np.median(a)), 3), "p95": round(float(np.percentile(a, 95)), 3), "n": len(ms)}


def bench_projection(repeats: int) -> dict[str, dict[str, float]]:
    mu = np.random.default_rng(0).normal(size=(70_000, 16)).astype(np.float32)
    first, aligned = [], []
    for r in range(repeats):
        proj = Projector(seed=r)
        t0 = time.perf_counter()
        proj.fit_transform(mu)
        first.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        proj.fit_transform(mu + 0.01)
        aligned.append((time.perf_counter() - t0) * 1e3)
    return {"first_fit_ms": _stats(first), "aligned_refit_ms": _stats(aligned)}


def bench_kcenter(repeats: int) -> dict[str, float]:
    feats = np.random.default_rng(0).normal(size=(60_000, 16))
    ms = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        acq.k_center_greedy(feats, 20)
        ms.append((time.perf_counter() - t0) * 1e3)
    return _stats(ms)


def _no_fsync(fd: Any, /) -> None:
    """The stubbed arm: the write path without waiting for the disk."""


def bench_label_set(sets: int) -> dict[str, object]:
    real_fsync = os.fsync
    with tempfile.TemporaryDirectory() as tmp:
        store = LabelStore(Path(tmp) / "labels.csv", 60_000, 10)
        rng = np.random.default_rng(0)
        store.set_many({int(i): int(i) % 10 for i in rng.choice(60_000, 4000, replace=False)})
        times: dict[str, list[float]] = {"fsync": [], "no_fsync": []}
        for i in range(sets):  # alternate the two arms so load hits both alike
            for arm in ("fsync", "no_fsync") if i % 2 == 0 else ("no_fsync", "fsync"):
                with mock.patch.object(labels_mod.os, "fsync", real_fsync if arm == "fsync" else _no_fsync):
                    t0 = time.perf_counter()
                    store.set(int(rng.integers(60_000)), int(rng.integers(10)))
                    times[arm].append((time.perf_counter() - t0) * 1e3)
    with_disk, cpu = _stats(times["fsync"]), _stats(times["no_fsync"])
    return {
        "with_fsync_ms": with_disk,
        "fsync_stubbed_ms": cpu,
        "ratio_p50_with_over_without": round(with_disk["p50"] / max(cpu["p50"], 1e-9), 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--sets", type=int, default=40)
    args = ap.parse_args()
    write_result(
        "core",
        {
            "what": "projection of 70k latent means, k-center 20 of 60k, one labels.csv set with 4k labels",
            "command": f"python benchmarks/bench_core.py --repeats {args.repeats} --sets {args.sets}",
            "projection_70k": bench_projection(args.repeats),
            "kcenter_20_of_60k_ms": bench_kcenter(args.repeats),
            "label_set_4k_labels": bench_label_set(args.sets),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
