"""The three backends side by side on the default model: training throughput after compilation,
compile time (first step), inference throughput, and MNIST test accuracy with the same 100 labels.

Throughput rounds alternate between backends so machine noise hits all of them.

    .venv/bin/python benchmarks/bench_backends.py [--rounds 5 --steps 40 --accuracy-steps 3000]

Writes docs/benchmarks/backends.json. --accuracy-steps 0 skips the (long) accuracy runs.
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

from benchmarks.common import write_result
from engine.config import load_config
from engine.datasets import load_dataset, oracle_labels
from engine.labels import LabelStore
from engine.trainer import Trainer

BACKENDS = ("torch", "tensorflow", "jax")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--accuracy-steps", type=int, default=3000)
    args = ap.parse_args()
    ds = load_dataset("mnist")
    tmp = Path(tempfile.mkdtemp())
    labels = oracle_labels(ds, 10, 0)
    base = {"train.eval_every": 10**9, "train.log_every": 10**6}
    trainers: dict[str, Trainer] = {}
    compile_s: dict[str, float] = {}
    for name in BACKENDS:
        store = LabelStore(tmp / name / "labels.csv", ds.n_train, ds.num_classes)
        store.set_many(labels, source="bench")
        cfg = load_config("configs/default.yaml", {**base, "backend": name})
        tr = Trainer(cfg, ds, store)
        # the first steps compile both variants (without and with the consistency term)
        t0 = time.perf_counter()
        tr.backend.read_metrics(tr.backend.train_step(tr.make_batch()))
        compile_s[name] = time.perf_counter() - t0
        tr.step = cfg.curriculum.warmup_steps  # consistency on from here
        tr.backend.read_metrics(tr.backend.train_step(tr.make_batch()))
        trainers[name] = tr
    batch = trainers["torch"].cfg.train.batch_unlabeled + trainers["torch"].cfg.train.batch_labeled
    train_sps: dict[str, list[float]] = {n: [] for n in BACKENDS}
    infer_sps: dict[str, list[float]] = {n: [] for n in BACKENDS}
    x_inf = ds.float_images(np.arange(10000))
    for tr in trainers.values():
        tr.backend.predict(x_inf[:2048])  # compile predict
    for _ in range(args.rounds):
        for name, tr in trainers.items():
            batches = [tr.make_batch() for _ in range(args.steps)]
            t0 = time.perf_counter()
            for b in batches:
                h = tr.backend.train_step(b)
            tr.backend.read_metrics(h)
            train_sps[name].append(args.steps * batch / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            tr.backend.predict(x_inf)
            infer_sps[name].append(len(x_inf) / (time.perf_counter() - t0))
        print({n: round(v[-1]) for n, v in train_sps.items()}, flush=True)
    acc: dict[str, float] = {}
    acc_s: dict[str, float] = {}
    if args.accuracy_steps:
        for name in BACKENDS:
            store = LabelStore(tmp / f"acc-{name}" / "labels.csv", ds.n_train, ds.num_classes)
            store.set_many(labels, source="bench")
            cfg = load_config(
                "configs/default.yaml", {"backend": name, "train.steps": args.accuracy_steps, "train.eval_every": 10**9}
            )
            tr = Trainer(cfg, ds, store)
            t0 = time.perf_counter()
            acc[name] = round(tr.run()["test_acc"], 4)
            acc_s[name] = round(time.perf_counter() - t0, 1)
            print(name, acc[name], acc_s[name], flush=True)
    med = {n: statistics.median(v) for n, v in train_sps.items()}
    fastest = max(med, key=med.get)
    write_result(
        "backends",
        {
            "what": f"default model, batch {batch}: train samples/s after compilation, first-step compile s, "
            "inference samples/s (10k images), MNIST test accuracy with 100 labels",
            "command": f"python benchmarks/bench_backends.py --rounds {args.rounds} --steps {args.steps} "
            f"--accuracy-steps {args.accuracy_steps}",
            **{f"{n}_train_samples_per_s_median": round(med[n], 1) for n in BACKENDS},
            **{f"{n}_train_samples_per_s": [round(v, 1) for v in train_sps[n]] for n in BACKENDS},
            **{f"{n}_ratio_vs_torch": round(med[n] / med["torch"], 3) for n in BACKENDS},
            **{f"{n}_compile_s": round(compile_s[n], 2) for n in BACKENDS},
            **{f"{n}_infer_samples_per_s_median": round(statistics.median(infer_sps[n]), 1) for n in BACKENDS},
            **{f"{n}_test_acc_100_labels": acc.get(n) for n in BACKENDS},
            **{f"{n}_accuracy_run_s": acc_s.get(n) for n in BACKENDS},
            "accuracy_steps": args.accuracy_steps,
            "fastest_training": fastest,
        },
    )


if __name__ == "__main__":
    main()
