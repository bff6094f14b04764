"""`latentloop` command line. Each sub-command lives in engine/commands/<name>.py and exposes
``register(subparsers)``; heavy imports (frameworks) happen inside the command's run function,
so ``latentloop --help`` stays fast and imports no framework."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import LatentLoopError

COMMANDS = ("data", "label", "feedback", "ckpt", "train", "infer", "suggest", "simulate", "experiment", "app")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentloop",
        description="Human-in-the-loop training of a semi-supervised VAE (CLI and dashboard share "
        "data/<dataset>/labels.csv and artifacts/checkpoints/).",
    )
    parser.add_argument("--home", help="project directory holding data/ and artifacts/ "
                        "(default: $LATENTLOOP_HOME or the current directory)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"engine.commands.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"engine.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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
