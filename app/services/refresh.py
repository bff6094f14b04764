"""The refresh pump: new embeddings become a map version on a server thread of their own.

The training thread's trainer listener hands each refresh (embeddings, a copy of the weights, the
tau route's prediction) to :meth:`RefreshPump.offer`, which only stores it; the pump thread runs the
handler (projection, EmbeddingCache update, overlay rebuild, forecast input) for the newest one,
dropping refreshes it could not keep up with. The page's poll then picks up the newest version, so
no HTTP request handler ever runs a projection.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any


class RefreshPump:
    """``handler(emb, weights, trained, tau_pred)`` runs on the pump thread, one refresh at a time."""

    def __init__(self, handler: Callable[..., None]) -> None:
        self.handler = handler
        self.error = ""
        self._cond = threading.Condition()
        self._pending: tuple[Any, ...] | None = None
        self._offered = 0  # refreshes offered so far
        self._done = 0  # the offer number of the newest refresh handled (or dropped for a newer one)
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> RefreshPump:
        self._thread = threading.Thread(target=self._run, name="refresh-pump", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    def offer(self, emb: Any, weights: Any, trained: bool, tau_pred: Any = None) -> int:
        """Queue a refresh (cheap: any thread, usually the training thread); returns its number."""
        with self._cond:
            self._offered += 1
            self._pending = (self._offered, emb, weights, trained, tau_pred)
            self._cond.notify_all()
            return self._offered

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until every refresh offered so far is on the map (False: timed out)."""
        with self._cond:
            target = self._offered
            return self._cond.wait_for(lambda: self._done >= target or self._stop, timeout)

    def _run(self) -> None:
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
