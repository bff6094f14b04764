"""Spawns, watches and restarts the child workers (docs/architecture.md section 2).

Each worker is a ``multiprocessing`` process (spawn context) running ``target(io, **kwargs)``
with a :class:`workers.child.ChildIO` over its queues and stop event. If it dies, a watcher
thread restarts it with exponential backoff and fresh queues (a process killed inside
``Queue.put`` can leave the old queue's lock held). The training thread never talks to a worker
directly, so a dead worker costs it nothing.

A worker exits by itself when the process that started it dies, however it died (SIGKILL
included): a daemon thread in the child polls its parent pid (:func:`child_main`), so a crashed
or killed dashboard never leaves workers (and, through them, multiprocessing's resource tracker,
which exits once every holder of its pipe is gone) running.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from workers.child import ChildIO
from workers.messages import WorkerState, WorkerStatus

_CTX = mp.get_context("spawn")
PARENT_POLL_S = 0.5  # how often a worker checks that the process that started it is still alive


def _exit_with_parent(parent_pid: int, poll_s: float) -> None:
    while os.getppid() == parent_pid:  # an orphan is re-parented (to init or a subreaper)
        time.sleep(poll_s)
    # No cleanup: nobody is left to read results, and a busy target may not return for minutes.
    os._exit(1)


def child_main(
    parent_pid: int, target: Callable[..., None] | str, *args: Any, env: Mapping[str, str] | None = None, **kwargs: Any
) -> None:
    """A child process's entry point: run ``target`` while ``parent_pid`` is our parent (the
    workers here, the dashboard's UMAP jobs in app/services/projection.py).

    ``env`` is set before ``target`` is imported; give ``target`` as ``"module:function"`` for
    variables its imports read (a callable is imported while the child unpickles its arguments,
    before this runs): the forecast worker's BLAS thread count, read once when numpy loads."""
    os.environ.update(env or {})
    if isinstance(target, str):
        module, _, func = target.partition(":")
        run: Callable[..., None] = getattr(importlib.import_module(module), func)
    else:
        run = target
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid, PARENT_POLL_S), name="parent-watch", daemon=True
    ).start()
    run(*args, **kwargs)


@dataclass
class _Worker:
    name: str
    target: Callable[..., None] | str
    kwargs: dict[str, Any]
    process: Any = None
    in_q: Any = None
    out_q: Any = None
    stop_event: Any = None
    state: WorkerState = "stopped"
    restarts: int = 0
    last_error: str = ""
    since: float = 0.0
    next_start: float = 0.0
    backoff: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


class WorkerSupervisor:
    """Owns the child processes; thread-safe."""

    def __init__(self, poll_s: float = 0.5, max_backoff_s: float = 30.0, max_queue: int = 64) -> None:
        self._workers: dict[str, _Worker] = {}
        self._lock = threading.RLock()
        self._poll_s = poll_s
        self._max_backoff = max_backoff_s
        self._max_queue = max_queue
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self, name: str, target: Callable[..., None] | str, extra: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        """Register a worker; ``target`` must be importable (spawn pickles it by name), or a
        ``"module:function"`` imported in the child after ``env`` (a keyword) is set there.
        ``extra``: what its status carries besides its state (``device``: where it computes)."""
        with self._lock:
            self._workers[name] = _Worker(name, target, kwargs, extra=dict(extra or {}))

    def _spawn(self, w: _Worker) -> None:
        w.in_q = _CTX.Queue(self._max_queue)
        w.out_q = _CTX.Queue(self._max_queue)
        w.stop_event = _CTX.Event()
        w.process = _CTX.Process(
            target=child_main,
            args=(os.getpid(), w.target, ChildIO(w.in_q, w.out_q, w.stop_event)),
            kwargs=w.kwargs,
            name=f"latentloop-{w.name}",
            daemon=True,
        )
        w.process.start()
        w.state = "starting" if w.restarts == 0 else "running"
        w.since = time.time()

    def start(self) -> None:
        with self._lock:
            for w in self._workers.values():
                if w.process is None or not w.process.is_alive():
                    self._spawn(w)
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.check()

    def check(self) -> None:
        """Restart dead workers whose backoff has elapsed (the watcher calls this)."""
        now = time.time()
        with self._lock:
            for w in self._workers.values():
                if w.process is None or self._stop.is_set():
                    continue
                if w.process.is_alive():
                    if w.state == "restarting":
                        w.state = "running"
                    if now - w.since > 60:
                        w.backoff = 1.0  # stable for a minute: forget earlier crashes
                    continue
                if w.state != "restarting":
                    w.last_error = f"exited with code {w.process.exitcode}"
                    w.state = "restarting"
                    w.next_start = now + w.backoff
                    w.backoff = min(w.backoff * 2, self._max_backoff)
                elif now >= w.next_start:
                    w.restarts += 1
                    self._spawn(w)

    def mark_ready(self, name: str) -> None:
        with self._lock:
            w = self._workers[name]
            if w.state == "starting":
                w.state = "running"

    def send(self, name: str, msg: dict[str, Any]) -> bool:
        """Queue a message for a worker without blocking; False if it is down or full."""
        with self._lock:
            w = self._workers.get(name)
            if w is None or w.process is None or not w.process.is_alive():
                return False
            try:
                w.in_q.put_nowait(msg)
                return True
            except queue.Full:
                return False

    def wait_results(self, timeout: float) -> None:
        """Return once any worker's result queue has something to read, or after ``timeout``
        seconds (a worker restarted meanwhile: its new queue is waited on from the next call)."""
        with self._lock:
            # each multiprocessing.Queue's read end (a private attribute, there since Python 3.0):
            # a Connection, which multiprocessing.connection.wait takes
            readers = [w.out_q._reader for w in self._workers.values() if w.out_q is not None]
        if not readers:
            self._stop.wait(timeout)
            return
        try:
            mp_connection.wait(readers, timeout)
        except (OSError, ValueError):  # a queue closed by a restart or the stop
            self._stop.wait(min(timeout, 0.05))

    def results(self, name: str, limit: int = 100) -> list[dict[str, Any]]:
        """Drain up to ``limit`` messages the worker produced."""
        out: list[dict[str, Any]] = []
        with self._lock:
            w = self._workers.get(name)
            q = w.out_q if w else None
        while q is not None and len(out) < limit:
            try:
                msg = q.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                break
            if isinstance(msg, dict) and msg.get("type") == "worker_ready":
                self.mark_ready(name)
                continue
            out.append(msg)
        return out

    def status(self) -> list[WorkerStatus]:
        with self._lock:
            return [
                WorkerStatus(
                    w.name,
                    w.state,
                    w.process.pid if w.process else None,
                    w.restarts,
                    w.last_error,
                    w.since,
                    dict(w.extra),
                )
                for w in self._workers.values()
            ]

    def pid(self, name: str) -> int | None:
        with self._lock:
            w = self._workers.get(name)
            return w.process.pid if w and w.process and w.process.is_alive() else None

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            workers = list(self._workers.values())
        for w in workers:
            if w.stop_event is not None:
                w.stop_event.set()
        for w in workers:
            if w.process is not None:
                w.process.join(timeout)
                if w.process.is_alive():
                    w.process.kill()
                    w.process.join(1)
            w.state = "stopped"
        if self._thread is not None:
            self._thread.join(timeout)
