"""`latentloop app`: serve the dashboard on http://127.0.0.1:8050.

Serve the LatentLoop dashboard: latent map, keyboard labelling, training, checkpoints, saliency,
feedback boxes and the forecast queue. Loads the checkpoint if it exists; shares labels.csv and
checkpoints with the other commands.

Registered by :mod:`latentloop.cli` (also run by `python -m app`); Dash and the model are imported
only when the command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from app.settings import AppSettings, settings_from_args
from engine.backends.base import available_backends
from engine.commands._common import add_command


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``latentloop app`` and ``python -m app``."""
    p.add_argument("--config", "-c", help="YAML config (default: the checkpoint's config, else built-in defaults)")
    p.add_argument("--dataset", help="dataset name under data/ (default: mnist)")
    p.add_argument("--checkpoint", help="checkpoint to load at startup and save to (default: ssvae)")
    p.add_argument("--backend", choices=available_backends(), help="training backend (default: torch)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument(
        "--map-points",
        choices=["train", "all"],
        default="train",
        help="draw the training images only (default) or the held-out test images too",
    )
    p.add_argument(
        "--map-raster-above",
        type=int,
        default=200_000,
        metavar="N",
        help="above N map points, draw a density raster far out and the points only when zoomed in (default 200000)",
    )
    p.add_argument(
        "--map-points-max",
        type=int,
        default=50_000,
        metavar="N",
        help="on the density map, draw the view's points once it holds at most N (default 50000)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests for this Host name (only loopback names are accepted by default)",
    )
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="do not start the XAI and forecast child processes (no saliency, no forecast queue)",
    )
    p.add_argument("--debug", action="store_true", help="Dash debug mode (dev tools)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``app`` sub-command to the ``latentloop`` parser."""
    p = add_command(sub, __doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``app`` sub-command's entry point."""
    return run_app(settings_from_args(args))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, the clean shutdown Ctrl+C gets: the
    server returns, the workers are stopped, and interpreter exit stops anything left. Their
    default action kills the process on the spot and leaves the workers running."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers (and only it receives signals)
        return
    signums = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, _interrupt) for s in signums}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_app(settings: AppSettings) -> int:
    """Build the app state, serve until interrupted (Ctrl+C, SIGTERM, SIGHUP), then stop the workers."""
    with stop_signals_interrupt():
        return _serve(settings)


def _serve(settings: AppSettings) -> int:
    from app.server import create_app, serve  # Dash and the model are imported only now
    from app.state import AppState

    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2))))
    print(
        "LatentLoop: loading the dataset and the model, computing the map "
        "(tens of seconds for 70,000 images on a CPU)...",
        flush=True,
    )
    state = AppState.create(settings)
    v = state.cache.current
    assert v is not None  # create() computed the first map
    print(
        f"map v{v.version}: {v.n_points:,} points from a {'trained' if v.trained else 'UNTRAINED'} model "
        f"(step {v.step}) in {state.startup_seconds:.1f} s",
        flush=True,
    )
    app = create_app(state)
    host = "localhost" if settings.host in ("127.0.0.1", "::1") else settings.host
    print(f"serving on http://{host}:{settings.port}/  (Ctrl+C to quit)", flush=True)
    try:
        serve(app, settings.host, settings.port, debug=settings.debug)
    finally:
        state.close()
    return 0
