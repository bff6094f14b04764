"""`latentloop report`: rebuild an experiment's REPORT.md and figures from its run directory.

Read the files `latentloop experiment` saved in RUN_DIR (run.json, config.yaml, metrics.json,
history.csv, report.npz) and write REPORT.md and its PNGs there again; neither the dataset nor a
framework is needed. A run directory lacking one of those files is an error naming it.
"""

from __future__ import annotations

import argparse

from latentloop.commands._common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    p.add_argument("run_dir", metavar="RUN_DIR", help="an experiment's run directory (artifacts/experiments/NAME-TIME)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from engine.reports.experiment import FIGURES, write_report

    path = write_report(Path(args.run_dir))
    print(f"wrote {path} and {len(FIGURES)} figures")
    return 0
