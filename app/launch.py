"""Serving the dashboard: build the state, serve until interrupted, stop the workers.

Used by ``latentloop app`` (latentloop/commands/app.py) and ``python -m app``; Dash and the model are
imported only when :func:`run_app` runs."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from app.settings import AppSettings


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
