"""Background threads that leave the training thread its core."""

from __future__ import annotations

import contextlib
import os
import threading


def lower_this_thread(extra: int) -> None:
    """Raise the calling thread's niceness by ``extra`` (Linux niceness is per thread, so the rest
    of the process keeps its priority); nothing where the OS does not allow it."""
    if extra <= 0:
        return
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0) + extra)
