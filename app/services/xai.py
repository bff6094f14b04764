"""Saliency requests of the browser tabs: one pending request and the newest answer per tab.

The XAI worker (through :class:`~app.services.workers.WorkerHub`) computes; this keeps the
bookkeeping of the page's saliency requests (``/_ll/saliency``, app/presenter/saliency.py): a
selection's request (:meth:`SaliencyRequests.ask`, which does not send the same request twice, see
:meth:`SaliencyRequests.send`), and the page's polls (:meth:`SaliencyRequests.poll`) while an
answer takes longer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from app.services.workers import WorkerHub, XaiAnswer

RESEND_AFTER_S = 3.0  # a request older than this is sent again: the worker may have been restarted


class SaliencyRequests:
    """``hub()`` gives the current hub (None: workers off or closed); ``n_points`` bounds serials."""

    def __init__(self, hub: Callable[[], WorkerHub | None], n_points: int, wait_ms: float) -> None:
        self.hub = hub
        self.n_points = n_points
        self.wait_ms = wait_ms
        self._pending: dict[str, tuple[int, int, str | int, float]] = {}  # tab -> (id, serial, target, sent)
        self._asked: dict[str, tuple[int, str | int, float]] = {}  # tab -> its newest request (serial, target, sent)
        self._last: dict[str, XaiAnswer] = {}  # tab -> its newest answer
        self._lock = threading.Lock()

    def send(self, client: str, serial: int, target: str | int = "pred") -> XaiAnswer | None:
        """Send the request for ``serial`` without waiting; nothing when the tab's newest request,
        sent less than ``RESEND_AFTER_S`` ago, is the same and is pending or was answered (not with
        an error). None, or the answer that explains why no request went out."""
        hub = self.hub()
        if hub is None:
            return XaiAnswer("error", message="saliency is off (the app was started with --no-workers)")
        if not 0 <= int(serial) < self.n_points:
            return XaiAnswer("error", message=f"no sample #{serial}")
        with self._lock:  # the pending entry is always the tab's newest request
            asked = self._asked.get(client)
            now = time.monotonic()
            last = self._last.get(client)
            open_or_done = client in self._pending or (last is not None and last.state == "ready")
            same = asked is not None and asked[:2] == (int(serial), target) and now - asked[2] <= RESEND_AFTER_S
            if same and open_or_done:
                return None
            rid = hub.request_xai(client, int(serial), target)
            if rid is None:
                return XaiAnswer("error", message="the XAI worker is (re)starting: saliency follows in a moment")
            self._pending[client] = (rid, int(serial), target, now)
            self._asked[client] = (int(serial), target, now)
        return None

    def ask(self, client: str, serial: int, target: str | int = "pred", wait_s: float | None = None) -> XaiAnswer:
        """Ask the XAI worker about ``serial`` for this tab (unless that is what it was just
        asked, by :meth:`send`) and wait up to ``wait_s`` (default ``wait_ms``); a "pending" answer
        is picked up later with :meth:`poll`."""
        failed = self.send(client, serial, target)
        if failed is not None:
            return failed
        return self.poll(client, wait_s) or XaiAnswer("error", message="request lost")

    def poll(self, client: str, wait_s: float | None = None) -> XaiAnswer | None:
        """The answer to the tab's pending request, waiting up to ``wait_s``; the tab's newest
        answer when nothing is pending."""
        wait = self.wait_ms / 1000.0 if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                pending = self._pending.get(client)
            hub = self.hub()
            if pending is None or hub is None:
                # Answered already (maybe to a concurrent poll whose response the page dropped).
                return self._last.get(client)
            rid, serial, target, sent = pending
            ans = hub.wait_xai(client, rid, max(0.0, deadline - time.monotonic()))
            if ans.state == "superseded":
                continue  # Dash runs callbacks concurrently: another request of this tab replaced ours
            if ans.state == "pending":
                if time.monotonic() - sent > RESEND_AFTER_S:
                    with self._lock:
                        self._asked.pop(client, None)  # the worker may have lost it: send it again
                    return self.ask(client, serial, target, 0.0)
                return ans
            with self._lock:
                if self._pending.get(client, (None,))[0] == rid:
                    self._pending.pop(client, None)
                    self._last[client] = ans
            return ans


def parse_target(value: Any) -> str | int:
    """The saliency target of the page's menu: "pred", "true" or a class number."""
    if value in ("pred", "true"):
        return str(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return "pred"
