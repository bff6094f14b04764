"""Run every benchmark one after another (never in parallel: they share 2 cores), then render
docs/benchmarks.md from the JSON results.

    .venv/bin/python benchmarks/run_all.py [--only NAME ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "bench_core",
    "bench_accuracy",
    "bench_train_throughput",
    "bench_backends",
    "bench_dashboard",
    "bench_forecast",
    "bench_xai",
    "bench_overhead",
    "bench_switch_interval",
    "bench_selection_cpu",
    "bench_feedback",
    "bench_projection",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="benchmark script names (without .py)")
    args = ap.parse_args()
    failed = []
    for name in args.only or ORDER:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"skip {name}: no such script")
            continue
        print(f"== {name}", flush=True)
        if subprocess.call([sys.executable, str(script)], cwd=HERE.parent) != 0:
            failed.append(name)
    subprocess.call([sys.executable, str(HERE / "report.py")], cwd=HERE.parent)
    if failed:
        print(f"failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
