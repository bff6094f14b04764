"""What a thread running Python beside the training thread costs it, at the interpreter's default
switch interval (5 ms) and at the one a dashboard run uses (app/services/training.py,
``RUN_SWITCH_INTERVAL_S``, 0.5 ms), side by side in one run.

The real Trainer (MNIST, the default config, 100 labels, one torch thread) trains in this process;
a second thread runs pure-Python work (JSON round trips, as a request handler would) in bursts of
``--burst-ms`` every ``--period-ms``. The training thread releases the interpreter lock inside every
torch op and must take it back after each one: while the other thread holds it, training waits
until that thread blocks, or until the switch interval forces it to let go. Arms, rotated in
``--blocks`` blocks after a warm-up past the curriculum's first phase: no other thread; the bursts
at 5 ms; the bursts at 0.5 ms. The ratio is each arm's steps per second over the no-burst rounds.

    .venv/bin/python benchmarks/bench_switch_interval.py [--blocks 4 --steps 150]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import mnist_trainer, write_result  # noqa: E402

ARMS = {"no other thread": None, "bursts, 5 ms interval": 0.005, "bursts, 0.5 ms interval": 0.0005}


def _bursts(stop: threading.Event, busy_s: float, period_s: float) -> None:
    payload = {"points": list(range(2000)), "rows": [{"serial": i, "label": str(i)} for i in range(300)]}
    while not stop.is_set():
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < busy_s:
            json.loads(json.dumps(payload))
        stop.wait(max(0.0, period_s - (time.perf_counter() - t0)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=4, help="rounds of each arm, rotated")
    ap.add_argument("--steps", type=int, default=150, help="training steps per round")
    ap.add_argument("--burst-ms", type=float, default=5.0)
    ap.add_argument("--period-ms", type=float, default=50.0)
    args = ap.parse_args()

    tr = mnist_trainer("ll-switch-", {"train.eval_every": 10**9})
    tr.run(steps=900, evaluate_at_end=False)  # past the warm-up phase, whose steps are cheaper
    default = sys.getswitchinterval()
    rates: dict[str, list[float]] = {a: [] for a in ARMS}
    names = list(ARMS)
    for block in range(args.blocks):
        for arm in names[block % 3 :] + names[: block % 3]:
            stop = threading.Event()
            interval = ARMS[arm]
            if interval is not None:
                sys.setswitchinterval(interval)
                threading.Thread(
                    target=_bursts, args=(stop, args.burst_ms / 1000, args.period_ms / 1000), daemon=True
                ).start()
            s0, t0 = tr.step, time.perf_counter()
            tr.run(steps=tr.step + args.steps, evaluate_at_end=False)
            rates[arm].append((tr.step - s0) / (time.perf_counter() - t0))
            stop.set()
            sys.setswitchinterval(default)
            time.sleep(0.2)
            print(f"{arm}: {rates[arm][-1]:.2f} steps/s", flush=True)
    base = np.array(rates["no other thread"])
    ratios = {}
    for arm in names[1:]:
        r = np.array(rates[arm]) / base  # paired by block
        ratios[arm] = {
            "mean": round(float(r.mean()), 4),
            "standard_error": round(float(r.std(ddof=1) / np.sqrt(len(r))), 4),
            "per_block": [round(float(x), 3) for x in r],
        }
    write_result(
        "switch-interval",
        {
            "command": "benchmarks/bench_switch_interval.py " + " ".join(sys.argv[1:]),
            "dataset": "mnist",
            "config": "configs/default.yaml",
            "steps_per_round": args.steps,
            "blocks": args.blocks,
            "burst_ms": args.burst_ms,
            "period_ms": args.period_ms,
            "steps_per_s": {a: [round(x, 3) for x in v] for a, v in rates.items()},
            "vs_no_other_thread": ratios,
            "note": "one torch thread; the other thread's bursts are pure Python (JSON round trips), "
            f"{args.burst_ms} ms every {args.period_ms} ms; ratios paired within a block",
        },
    )


if __name__ == "__main__":
    main()
