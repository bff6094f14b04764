"""`latentloop report`: rebuild an experiment's REPORT.md and figures from its run directory.

Read the files `latentloop experiment` saved in RUN_DIR (run.json, config.yaml, metrics.json,
history.csv, report.npz) and write REPORT.md and its PNGs there again; neither the dataset nor a
framework is needed. A run directory lacking one of those files is an error naming it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from latentloop.commands._common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    p.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="an experiment's run directory: a path, relative to the project (--home) or to the working "
        "directory, or NAME-TIME under artifacts/experiments/",
    )
    p.set_defaults(func=run)


def _run_dir(text: str) -> Path:
    """RUN_DIR as given (relative to the working directory), else relative to the project (``--home``)
    or its artifacts/experiments/."""
    from engine.paths import artifacts_dir, project_root

    path = Path(text)
    candidates = [path] if path.is_absolute() else [path, project_root() / path, artifacts_dir() / "experiments" / path]
    return next((p for p in candidates if p.is_dir()), candidates[0])


def run(args: argparse.Namespace) -> int:
    from engine.reports.experiment import FIGURES, write_report

    path = write_report(_run_dir(args.run_dir))
    print(f"wrote {path} and {len(FIGURES)} figures")
    return 0
