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
from latentloop.commands._common import Parser

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
    parser = Parser(
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
    """Run one command; returns the exit status: 2 for errors a user can cause (a wrong input or
    environment: a message, never a traceback), 130 after Ctrl+C, 141 when stdout's reader went
    away (``| head``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        os.environ["LATENTLOOP_HOME"] = args.home
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader gone (``| head``) shows here, not in the flush at exit
        return code
    except LatentLoopError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout is gone (``| head``): quietly stop, as a Unix tool killed by SIGPIPE
        # would. stdout goes to devnull so the flush at exit cannot fail again. (SIGPIPE is not set
        # to SIG_DFL process-wide: ``latentloop app`` serves sockets.)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + 13
    except OSError as err:
        if err.filename is None:
            raise
        print(f"error: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
