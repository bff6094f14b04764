"""`python -m app`: serve the dashboard (same options as `latentloop app`)."""
from __future__ import annotations

import argparse
import os
import sys

from app.settings import AppSettings, settings_from_args


def run_app(settings: AppSettings) -> int:
    from app.server import create_app, serve
    from app.state import AppState

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2))))
    print("LatentLoop: loading the dataset and the model, computing the map "
          "(tens of seconds for 70,000 images on a CPU)...", flush=True)
    state = AppState.create(settings)
    v = state.cache.current
    print(f"map v{v.version}: {v.n_points:,} points from a {'trained' if v.trained else 'UNTRAINED'} model "
          f"(step {v.step}) in {state.startup_seconds:.1f} s", flush=True)
    app = create_app(state)
    host = "localhost" if settings.host in ("127.0.0.1", "::1") else settings.host
    print(f"serving on http://{host}:{settings.port}/  (Ctrl+C to quit)", flush=True)
    try:
        serve(app, settings.host, settings.port, debug=settings.debug)
    finally:
        state.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    from engine.commands.app import add_arguments
    from engine.errors import LatentLoopError

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
