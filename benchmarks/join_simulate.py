"""Join the run directories of ``latentloop simulate`` processes that ran side by side (one per
seed or per group of strategies, on a machine with a core each) into one result: the rows of every
``curve.csv``, the summary ``simulate`` prints (labels needed to stay above each threshold, per seed
and as mean +- sd; final accuracy), the mean and sd at every label count, and the curve plot.

    .venv/bin/python benchmarks/join_simulate.py --name coldstart-zero-test \\
        --what "..." --command "latentloop simulate ..." RUN_DIR [RUN_DIR ...]

Writes docs/benchmarks/<name>.json and docs/benchmarks/<name>.png. Every run directory must hold a
``curve.csv``; a seed and strategy present in two directories is refused (the same run twice would
count twice in the mean).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import OUT, run_main, write_result
from engine.errors import LatentLoopError
from engine.reports.curves import mean_sd, plot_learning_curves
from latentloop.commands.simulate import THRESHOLDS, summarise

INTS, FLOATS = ("seed", "round", "labels", "step"), ("test_acc", "tau_acc", "seconds")


def read_rows(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Every row of the directories' ``curve.csv``, typed, in directory order; a (seed, strategy)
    found in two directories, or a directory without ``curve.csv``, is a LatentLoopError."""
    rows: list[dict[str, Any]] = []
    owner: dict[tuple[int, str], Path] = {}
    for d in run_dirs:
        path = d / "curve.csv"
        if not path.is_file():
            raise LatentLoopError(f"{d} holds no curve.csv: not a simulate run directory, or the run has not begun")
        with path.open(newline="") as f:
            mine = [
                {k: int(v) if k in INTS else float(v) if k in FLOATS else v for k, v in r.items()}
                for r in csv.DictReader(f)
            ]
        for key in dict.fromkeys((r["seed"], r["strategy"]) for r in mine):
            if key in owner:
                raise LatentLoopError(f"seed {key[0]} {key[1]} is in both {owner[key]} and {d}")
            owner[key] = d
        rows += mine
    return rows


def by_labels(rows: list[dict[str, Any]], strategies: list[str]) -> dict[str, dict[str, Any]]:
    """Per strategy and label count: mean and sd of the test accuracy over the seeds."""
    out: dict[str, dict[str, Any]] = {}
    for s in strategies:
        counts = sorted({r["labels"] for r in rows if r["strategy"] == s})
        out[s] = {
            str(n): {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in mean_sd([r["test_acc"] for r in rows if r["strategy"] == s and r["labels"] == n]).items()
            }
            for n in counts
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True, help="the result's name: docs/benchmarks/<name>.json")
    ap.add_argument("--what", required=True, help="what was measured, in a sentence")
    ap.add_argument("--command", required=True, help="the simulate command(s) that made the directories")
    ap.add_argument("--title", default="test accuracy vs labels")
    ap.add_argument("run_dirs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    rows = read_rows(args.run_dirs)
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    last = {(r["seed"], r["strategy"]): r for r in rows}  # each run's last round
    write_result(
        args.name,
        {
            "what": args.what,
            "command": args.command,
            "seeds": seeds,
            "thresholds": list(THRESHOLDS),
            "summary": summarise(rows, strategies),
            "mean_sd_by_labels": by_labels(rows, strategies),
            "steps_per_run": max(r["step"] for r in rows),
            "seconds_per_run": mean_sd([r["seconds"] for r in last.values()]),
            "rows": rows,
        },
    )
    plot_learning_curves(OUT / f"{args.name}.png", rows, args.title, THRESHOLDS)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
