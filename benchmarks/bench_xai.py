"""Saliency latency: the XAI worker's own milliseconds per request (Grad-CAM + SmoothGrad (16
samples) + consensus + overlay PNG) and the request-to-result time through the niced child
process, on MNIST with the default model (from artifacts/checkpoints/ssvae.ckpt when it exists).

    .venv/bin/python benchmarks/bench_xai.py [--requests 60]

Writes docs/benchmarks/xai.json. (Selection-to-overlay time in the browser: bench_dashboard.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import write_result
from engine.config import load_config
from engine.datasets import load_dataset
from engine.stores.checkpoints import CheckpointStore
from engine.stores.labels import LabelStore
from engine.training.trainer import Trainer
from workers.messages import XaiRequest, to_dict
from workers.supervisor import WorkerSupervisor
from workers.xai import XaiEngine, xai_main


def pct(v: list[float], q: float) -> float:
    return float(np.percentile(v, q))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    ds = load_dataset("mnist")
    cfg = load_config("configs/default.yaml")
    tmp = Path(tempfile.mkdtemp())
    tr = Trainer(cfg, ds, LabelStore(tmp / "labels.csv", ds.n_train, ds.num_classes))
    trained = CheckpointStore().exists("ssvae")
    if trained:
        tr.load_checkpoint("ssvae", weights_only=True)
    snaps = tmp / "snapshots"
    tr.snapshot_dir = snaps / "run"
    tr.write_snapshot()
    samples = np.random.default_rng(0).choice(ds.n_train, args.requests, replace=False)

    eng = XaiEngine(ds, snaps)
    eng.answer(XaiRequest(0, int(samples[0])))  # load + warm up
    inproc = [eng.answer(XaiRequest(i, int(s))).ms for i, s in enumerate(samples[1:], 1)]
    cached = [eng.answer(XaiRequest(i, int(s))).ms for i, s in enumerate(samples[1:11], 1)]

    sup = WorkerSupervisor(poll_s=0.1)
    sup.add("xai", xai_main, home=os.getcwd(), dataset="mnist", snapshot_root=str(snaps))
    sup.start()
    wall, worker_ms = [], []
    try:

        def roundtrip(req_id: int, sample: int, timeout: float = 120.0) -> dict:
            t0 = time.perf_counter()
            sup.send("xai", to_dict(XaiRequest(req_id, sample)))
            while time.perf_counter() - t0 < timeout:
                for m in sup.results("xai"):
                    if m.get("request_id") == req_id:
                        m["wall_ms"] = (time.perf_counter() - t0) * 1000
                        return m
                time.sleep(0.002)
            raise TimeoutError(req_id)

        roundtrip(10**6, int(samples[0]))  # the child's first answer includes its imports
        for i, s in enumerate(samples[1:], 1):
            m = roundtrip(i + 10**5, int(s))
            wall.append(m["wall_ms"])
            worker_ms.append(m["ms"])
            time.sleep(0.05)
    finally:
        sup.stop()
    write_result(
        "xai",
        {
            "what": "XAI worker: ms per saliency request (gradcam + smoothgrad x16 + consensus + PNG), "
            "in-process and through the niced child process",
            "command": f"python benchmarks/bench_xai.py --requests {args.requests}",
            "trained_checkpoint": trained,
            "backend": cfg.backend,
            "requests": len(inproc),
            "engine_ms_p50": round(statistics.median(inproc), 2),
            "engine_ms_p95": round(pct(inproc, 95), 2),
            "cached_ms_p50": round(statistics.median(cached), 3),
            "process_worker_ms_p50": round(statistics.median(worker_ms), 2),
            "process_worker_ms_p95": round(pct(worker_ms, 95), 2),
            "request_to_result_ms_p50": round(statistics.median(wall), 2),
            "request_to_result_ms_p95": round(pct(wall, 95), 2),
        },
    )


if __name__ == "__main__":
    main()
