"""Background threads that leave the training thread its core, and the interpreter lock."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator


def lower_this_thread(extra: int) -> None:
    """Raise the calling thread's niceness by ``extra`` (Linux niceness is per thread, so the rest
    of the process keeps its priority); nothing where the OS does not allow it."""
    if extra <= 0:
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + extra)


@contextlib.contextmanager
def switch_interval(seconds: float) -> Iterator[None]:
    """Run the block with the interpreter's thread switch interval at ``seconds`` (restored after).

    The training thread takes the interpreter lock back after every framework op; a thread running
    Python meanwhile (a request of the dashboard) keeps it until it blocks or the interval ends, so
    a short interval bounds how long training waits (benchmarks/bench_switch_interval.py)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
