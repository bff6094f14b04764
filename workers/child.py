"""What the child worker processes share: their queues and stop event (:class:`ChildIO`), and a
start-up with a lower CPU priority and a capped BLAS/OpenMP thread count, so that the dashboard
and the training thread keep the cores. A leaf module (no numpy): the supervisor's ``child_main``
sets the forecast worker's variables in the child before numpy loads."""

from __future__ import annotations

import contextlib
import os
import queue
from collections.abc import Callable, Iterator
from typing import Any

BLAS_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def limit_child(nice: int, threads: int = 1) -> None:
    """Lower this process's priority by ``nice`` and cap its BLAS/OpenMP pools at ``threads``: the
    variables for libraries that load later, threadpoolctl (if installed) for those already loaded."""
    for var in BLAS_THREAD_VARS:
        os.environ[var] = str(threads)
    with contextlib.suppress(OSError, AttributeError):  # AttributeError: no os.nice on Windows
        os.nice(nice)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception:
        pass


class ChildIO:
    """The handles the supervisor gives a worker process: its request and result queues and the
    stop event. Both workers read the same way: wait for a request, keep only the newest of those
    waiting (the user or the trainer has moved on), stop on the event or a ``None`` request."""

    def __init__(self, in_q: Any, out_q: Any, stop_event: Any) -> None:
        self.in_q, self.out_q, self.stop_event = in_q, out_q, stop_event
        self._stop_seen = False

    def put(self, msg: dict[str, Any]) -> None:
        """Send a result; dropped if nobody has read the queue for a second (never block forever)."""
        with contextlib.suppress(queue.Full):
            self.out_q.put(msg, timeout=1.0)

    def ready(self, worker: str) -> None:
        """Tell the supervisor this worker is up (what the page shows as "running")."""
        self.put({"type": "worker_ready", "worker": worker, "pid": os.getpid()})

    def _get(self, timeout: float | None, on_unreadable: Callable[[str], None]) -> Any:
        """One item, or _EMPTY. A ``None`` item marks the stop; an unpickleable one is reported."""
        try:
            item = self.in_q.get(timeout=timeout) if timeout is not None else self.in_q.get_nowait()
        except queue.Empty:
            return _EMPTY
        except Exception as err:  # an item that cannot be unpickled: say so and read on
            on_unreadable(f"unreadable message: {type(err).__name__}: {err}")
            return _EMPTY
        if item is None:
            self._stop_seen = True
            return _EMPTY
        return item

    def newer(self, item: Any, on_unreadable: Callable[[str], None]) -> Any:
        """``item``, or the newest request that arrived since (superseding it)."""
        while (nxt := self._get(None, on_unreadable)) is not _EMPTY:
            item = nxt
        return item

    def requests(self, poll_s: float, on_unreadable: Callable[[str], None]) -> Iterator[Any]:
        """The newest waiting request each time there is one, until the stop."""
        while not (self.stop_event.is_set() or self._stop_seen):
            item = self._get(poll_s, on_unreadable)
            if item is _EMPTY:
                continue
            item = self.newer(item, on_unreadable)
            if self._stop_seen:
                return
            yield item


_EMPTY = object()
