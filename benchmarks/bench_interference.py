"""What other work on the *other* core costs training: the bare engine loop pinned to one core,
a synthetic load pinned to the other, rounds rotated in one run.

This machine's two cores share more than the scheduler shows (caches, memory bandwidth, and on a
virtual machine possibly one physical core's two hyperthreads), so a page that uses a tenth of the
second core can slow training by more than it takes from it (docs/dashboard.md *Measurements*:
the training thread ran 0.96 of a core yet trained at 0.94x the bare loop). Pinning training to
core 0 and the load to core 1 removes preemption and leaves only that sharing:

- ``none``: nothing on core 1;
- ``spin10`` / ``spin100``: a Python arithmetic loop (registers and L1: the execution units a
  hyperthread sibling shares) 10% / 100% of the time, in bursts of 10 ms every 100 ms;
- ``mem10``: the same bursts streaming through 1 GiB with numpy (caches and memory bandwidth).

The 10% arms are about what the dashboard's page, server and workers use (0.11 of a core).
Rate: training steps per second over each round (``--steps`` steps, the first ``--skip`` left out).
Ratio: each loaded round over the ``none`` round of the same block; mean, standard error, median.

    .venv/bin/python benchmarks/bench_interference.py [--rounds 6 --steps 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import mnist_trainer, write_result  # noqa: E402

ARMS = ("none", "spin10", "spin100", "mem10")

# The load: bursts of BURST_MS every PERIOD_MS (duty = burst / period), pinned to core 1.
LOAD = r"""
import os, sys, time
import numpy as np
os.sched_setaffinity(0, {1})
kind, duty = sys.argv[1], float(sys.argv[2])
PERIOD = 0.1
buf = np.ones(1 << 27) if kind == "mem" else None  # 1 GiB of float64: far beyond any cache
chunk, at = 1 << 20, 0
x = 1.0
while True:
    t0 = time.perf_counter()
    end = t0 + duty * PERIOD
    while time.perf_counter() < end:
        if buf is None:
            for _ in range(2000):
                x = x * 1.0000001 + 1e-9
        else:
            buf[at : at + chunk] += 1.0
            at = (at + chunk) % buf.size
    rest = PERIOD - (time.perf_counter() - t0)
    if rest > 0:
        time.sleep(rest)
"""

LOADS = {"spin10": ("spin", 0.1), "spin100": ("spin", 1.0), "mem10": ("mem", 0.1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=6, help="blocks; each runs every arm once, in rotated order")
    ap.add_argument("--steps", type=int, default=200, help="training steps per round")
    ap.add_argument("--skip", type=int, default=20, help="steps at the start of a round left out of the rate")
    ap.add_argument("--name", default="interference")
    args = ap.parse_args()
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two cores")
    os.sched_setaffinity(0, {0})  # before any framework thread exists: every thread inherits core 0

    tr = mnist_trainer("ll-interference-", {"train.eval_every": 10**9, "threads": 1})
    cfg = tr.cfg
    # past the warm-up phase, the consistency term's start and the mean teacher's (step 230): every
    # round then runs the same kind of step
    tr.run(steps=cfg.curriculum.warmup_steps + cfg.curriculum.anneal_steps, evaluate_at_end=False)

    loads = {
        arm: subprocess.Popen([sys.executable, "-c", LOAD, kind, str(duty)], start_new_session=True)
        for arm, (kind, duty) in LOADS.items()
    }
    time.sleep(2.0)  # the memory arm's buffer is allocated and touched
    for p in loads.values():
        p.send_signal(signal.SIGSTOP)

    rates: dict[str, list[float]] = {a: [] for a in ARMS}
    ratios: dict[str, list[float]] = {a: [] for a in ARMS if a != "none"}
    order: list[str] = []

    def round_rate(arm: str) -> float:
        if arm in loads:
            loads[arm].send_signal(signal.SIGCONT)
        try:
            tr.run(steps=tr.step + args.skip, evaluate_at_end=False)
            t0, s0 = time.perf_counter(), tr.step
            tr.run(steps=tr.step + args.steps - args.skip, evaluate_at_end=False)
            return (tr.step - s0) / (time.perf_counter() - t0)
        finally:
            if arm in loads:
                loads[arm].send_signal(signal.SIGSTOP)

    try:
        for r in range(args.rounds):
            block = ARMS[r % len(ARMS) :] + ARMS[: r % len(ARMS)]
            got = {}
            for arm in block:
                got[arm] = round_rate(arm)
                rates[arm].append(round(got[arm], 3))
                order.append(arm)
                print(f"block {r} {arm}: {got[arm]:.2f} steps/s", flush=True)
            for arm in ratios:
                ratios[arm].append(got[arm] / got["none"])
    finally:
        for p in loads.values():
            p.send_signal(signal.SIGCONT)
            p.kill()

    def summary(xs: list[float]) -> dict[str, float]:
        a = np.asarray(xs)
        se = float(a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")
        return {
            "mean": round(float(a.mean()), 4),
            "se": round(se, 4),
            "median": round(float(np.median(a)), 4),
            "min": round(float(a.min()), 4),
        }

    write_result(
        args.name,
        {
            "command": "benchmarks/bench_interference.py " + " ".join(sys.argv[1:]),
            "config": "configs/default.yaml",
            "threads": 1,
            "steps_per_round": args.steps,
            "order": order,
            "steps_per_s": rates,
            "ratio_to_none": {arm: summary(v) for arm, v in ratios.items()},
            "ratio_to_none_per_block": {arm: [round(x, 4) for x in v] for arm, v in ratios.items()},
            "note": "training pinned to core 0, the load to core 1; the load runs in bursts of duty x 100 ms "
            "every 100 ms: spin = a Python arithmetic loop, mem = numpy streaming through 1 GiB",
        },
    )


if __name__ == "__main__":
    main()
