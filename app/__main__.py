"""`python -m app`: serve the dashboard (same options as `latentloop app`)."""

from __future__ import annotations

import argparse
import os
import sys

from app.launch import run_app
from app.settings import add_arguments, settings_from_args
from engine.errors import LatentLoopError


def main(argv: list[str] | None = None) -> int:
    """Parse the ``app`` options (plus ``--home``) and serve; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m app", description="Serve the LatentLoop dashboard.")
    p.add_argument("--home", help="project directory holding data/ and artifacts/ (default: $LATENTLOOP_HOME or .)")
    add_arguments(p)
    args = p.parse_args(argv)
    if args.home:
        os.environ["LATENTLOOP_HOME"] = args.home
    try:
        return run_app(settings_from_args(args))
    except LatentLoopError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
