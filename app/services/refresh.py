"""The refresh pump: new embeddings become a map version on a server thread of their own.

The training thread's trainer listener hands each refresh (embeddings, a copy of the weights, the
tau route's prediction) to :meth:`RefreshPump.offer`, which only stores it; the pump thread runs the
handler (projection, EmbeddingCache update, overlay rebuild, forecast input) for the newest one,
dropping refreshes it could not keep up with. The page's poll then picks up the newest version, so
no HTTP request handler ever runs a projection.

The same newest-wins thread serves the probe runs (app/services/probes.py): any handler, any
arguments, optionally at a lower priority.
"""

from __future__ import annotations

import contextlib
import os
import threading
import traceback
from collections.abc import Callable
from typing import Any


class RefreshPump:
    """``handler(*args)`` of the newest :meth:`offer` runs on the pump thread, one at a time (the app:
    ``handler(emb, weights, trained, tau_pred)``). ``nice``: the thread's extra niceness (Linux
    niceness is per thread), so a background job leaves the training its cores."""

    def __init__(self, handler: Callable[..., None], name: str = "refresh-pump", nice: int = 0) -> None:
        self.handler = handler
        self.name, self.nice = name, nice
        self.error = ""
        self._cond = threading.Condition()
        self._pending: tuple[Any, ...] | None = None
        self._offered = 0  # refreshes offered so far
        self._done = 0  # the offer number of the newest refresh handled (or dropped for a newer one)
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> RefreshPump:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    def offer(self, *args: Any) -> int:
        """Queue the handler's arguments, replacing any still waiting (cheap: any thread, usually the
        training thread); returns the offer's number."""
        with self._cond:
            self._offered += 1
            self._pending = (self._offered, *args)
            self._cond.notify_all()
            return self._offered

    @property
    def pending(self) -> bool:
        """An offer waits for the thread (not yet being handled)."""
        with self._cond:
            return self._pending is not None

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until every offer so far is handled (or dropped for a newer one); False: timed out."""
        with self._cond:
            target = self._offered
            return self._cond.wait_for(lambda: self._done >= target or self._stop, timeout)

    def _run(self) -> None:
        if self.nice:
            with contextlib.suppress(AttributeError, OSError):  # where the OS lets a thread lower its priority
                os.setpriority(
                    os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + self.nice
                )
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                assert self._pending is not None
                number, *args = self._pending
                self._pending = None
            try:
                self.handler(*args)
                self.error = ""
            except Exception as err:
                self.error = f"{type(err).__name__}: {err}"
                traceback.print_exc()
            with self._cond:
                self._done = number
                self._cond.notify_all()
