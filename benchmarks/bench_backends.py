"""The three backends side by side on the default model: training throughput after compilation,
compile time (first steps), and inference throughput.

Each measurement runs in a fresh subprocess that imports one framework only, so no framework's
threads, allocator or import-time settings touch another's numbers. The order of the backends
rotates every round (torch, tensorflow, jax; then tensorflow, jax, torch; ...) so machine noise and
warm caches hit all of them alike. Run it on an otherwise idle machine.

    .venv/bin/python benchmarks/bench_backends.py [--rounds 6 --steps 40]

Writes docs/benchmarks/backends.json. Accuracy per backend is bench_accuracy.py's job
(`--backend tensorflow --backend jax`): several seeds, one process per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, write_result

BACKENDS = ("torch", "tensorflow", "jax")


def measure(backend: str, steps: int) -> dict[str, float]:
    """In this (fresh) process: compile, then time ``steps`` training steps and one 10k inference."""
    import numpy as np

    from engine.config import load_config
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer

    ds = load_dataset("mnist")
    cfg = load_config("configs/default.yaml", {"backend": backend, "train.eval_every": 10**9, "train.log_every": 10**6})
    store = LabelStore(Path(tempfile.mkdtemp()) / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 10, 0), source="bench")
    tr = Trainer(cfg, ds, store)
    t0 = time.perf_counter()
    tr.backend.read_metrics(tr.backend.train_step(tr.make_batch()))  # without the consistency term
    tr.step = cfg.curriculum.warmup_steps  # consistency on from here: the variant a run spends its time in
    tr.backend.read_metrics(tr.backend.train_step(tr.make_batch()))
    compile_s = time.perf_counter() - t0
    batches = [tr.make_batch() for _ in range(steps)]
    t0 = time.perf_counter()
    for b in batches:
        handle = tr.backend.train_step(b)
    tr.backend.read_metrics(handle)
    train_sps = steps * len(batches[0]["y"]) / (time.perf_counter() - t0)
    x = ds.float_images(np.arange(10_000))
    tr.backend.predict(x[:2048])  # compile predict
    t0 = time.perf_counter()
    tr.backend.predict(x)
    infer_sps = len(x) / (time.perf_counter() - t0)
    return {"train_samples_per_s": train_sps, "infer_samples_per_s": infer_sps, "compile_s": compile_s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)  # one measurement, JSON on stdout
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(measure(args.worker, args.steps)))
        return 0
    res: dict[str, list[dict[str, float]]] = {b: [] for b in BACKENDS}
    orders = []
    for r in range(args.rounds):
        order = BACKENDS[r % 3 :] + BACKENDS[: r % 3]
        orders.append(list(order))
        for b in order:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", b, "--steps", str(args.steps)]
            out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
            res[b].append(json.loads(out.strip().splitlines()[-1]))
        print({b: round(res[b][-1]["train_samples_per_s"]) for b in order}, flush=True)

    def med(b: str, key: str) -> float:
        return statistics.median(m[key] for m in res[b])

    summary: dict[str, Any] = {}
    for b in BACKENDS:
        summary[b] = {
            "train_samples_per_s_median": round(med(b, "train_samples_per_s"), 1),
            "train_samples_per_s": [round(m["train_samples_per_s"], 1) for m in res[b]],
            "ratio_vs_torch": round(med(b, "train_samples_per_s") / med("torch", "train_samples_per_s"), 3),
            "compile_s_median": round(med(b, "compile_s"), 2),
            "infer_samples_per_s_median": round(med(b, "infer_samples_per_s"), 1),
        }
    write_result("backends", {
        "what": "default model, batch 192, 1 training thread: train samples/s after compilation, compile s of the "
                "first two steps, inference samples/s (10k images); one fresh process per backend and round, "
                "order rotated every round",
        "command": f"python benchmarks/bench_backends.py --rounds {args.rounds} --steps {args.steps}",
        "orders": orders,
        **summary,
        "fastest_training": max(BACKENDS, key=lambda b: med(b, "train_samples_per_s")),
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
