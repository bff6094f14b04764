"""`latentloop` command line. Each sub-command module in latentloop/commands/<name>.py exposes
``register(subparsers)``; the dashboard's (``app``) calls into app/. Heavy imports
(frameworks, Dash) happen inside the command's run function, so ``latentloop --help`` stays fast
and imports no framework."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import LatentLoopError

COMMAND_MODULES = tuple(
    f"latentloop.commands.{name}"
    for name in (
        "data",
        "label",
        "feedback",
        "ckpt",
        "train",
        "infer",
        "probe",
        "suggest",
        "simulate",
        "experiment",
        "report",
        "app",
    )
)


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="latentloop",
        description="Human-in-the-loop training of a semi-supervised VAE (CLI and dashboard share "
        "data/<dataset>/labels.csv and artifacts/checkpoints/).",
    )
    parser.add_argument(
        "--home",
        help="project directory holding data/ and artifacts/ (default: $LATENTLOOP_HOME or the current directory)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (2 for errors a user can cause)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["LATENTLOOP_HOME"] = args.home
    try:
        return int(args.func(args) or 0)
    except LatentLoopError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
