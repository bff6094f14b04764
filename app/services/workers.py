"""The dashboard's side of the child workers (docs/architecture.md sections 2 and 6).

:class:`WorkerHub` owns a :class:`~workers.supervisor.WorkerSupervisor` with the XAI worker and
the forecast worker, and one pump thread that drains both output queues, so results arrive whether
or not a browser tab is polling:

- XAI: :meth:`WorkerHub.request_xai` sends an :class:`~workers.messages.XaiRequest` and
  :meth:`WorkerHub.wait_xai` waits (briefly) for its result. Requests carry increasing ids; a
  result for an older id than the newest request of the same tab is stale and dropped.
- forecast: :meth:`WorkerHub.submit_forecast` writes one refresh's arrays (``.npz``) and sends a
  :class:`~workers.forecast.ForecastInput`; every result is handed to ``on_forecast`` (the app feeds
  the candidate queue with it) and kept as :attr:`WorkerHub.forecast`.

The training thread never talks to a worker; a worker that dies is restarted by the supervisor with
backoff, and the hub keeps answering (an XAI request to a dead worker fails at once, it does not hang).
"""

from __future__ import annotations

import collections
import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workers import forecast as fc
from workers.child import BLAS_THREAD_VARS
from workers.messages import WorkerError, WorkerStatus, XaiRequest, XaiResult, from_dict, to_dict
from workers.supervisor import WorkerSupervisor
from workers.xai import xai_main

XAI = "xai"
FORECAST = "forecast"


@dataclass
class XaiAnswer:
    """What the sample panel shows: a result, or why there is none (yet)."""

    state: str  # "ready" | "pending" | "superseded" (a newer request of the tab is under way) | "error"
    result: XaiResult | None = None
    message: str = ""


class WorkerHub:
    """Starts, feeds and reads the two workers for one dashboard process. Thread-safe."""

    def __init__(
        self,
        home: Path,
        dataset: str,
        data_root: str,
        snapshot_root: Path,
        forecast_path: Path,
        on_forecast: Callable[[fc.ForecastResult], None] | None = None,
        xai_budget_ms_per_min: float = 20000.0,
        nice: int = 10,
        poll_s: float = 0.5,
        class_names: Sequence[str] = (),
    ) -> None:
        self.snapshot_root = Path(snapshot_root)
        self.forecast_path = Path(forecast_path)
        self.on_forecast = on_forecast
        self.supervisor = WorkerSupervisor()
        # Both children compute on the CPU whatever --device says (docs/backends.md, "The app on a GPU").
        self.supervisor.add(
            XAI,
            xai_main,
            extra={"device": "cpu"},
            home=str(home),
            dataset=dataset,
            data_root=data_root,
            snapshot_root=str(snapshot_root),
            nice=nice,
            budget_ms_per_min=xai_budget_ms_per_min,
        )
        # numpy in the child runs single-threaded, so the worker never competes with the training
        # thread for the cores: BLAS reads these once, when numpy loads, so they are set first.
        single = dict.fromkeys(BLAS_THREAD_VARS, "1")
        self.supervisor.add(
            FORECAST,
            "workers.forecast.process:forecast_main",
            extra={"device": "cpu"},
            env=single,
            nice=nice,
            names=list(class_names),
        )
        self._ids = itertools.count(1)
        self._cond = threading.Condition()
        self._xai: dict[int, XaiResult | WorkerError] = {}  # request id -> answer (newest few)
        self._newest: dict[str, int] = {}  # tab -> its newest request id
        self.forecast: fc.ForecastResult | None = None
        self.forecast_error = ""
        self.forecast_sent = 0
        self.xai_ms: collections.deque[float] = collections.deque(maxlen=500)  # worker ms, computed results
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> WorkerHub:
        self.supervisor.start()
        self._thread = threading.Thread(target=self._pump, name="worker-pump", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.supervisor.stop()
        if self._thread is not None:
            self._thread.join(2.0)

    def _pump(self) -> None:
        # asleep until a worker writes (or poll_s passes): a thread that woke every few ms to look
        # would take the interpreter lock from the training thread each time
        while not self._stop.is_set():
            self.supervisor.wait_results(self._poll_s)
            if self._stop.is_set():
                break
            try:
                self.pump()
            except Exception as err:  # never let the pump die: the page would stop getting results
                self.forecast_error = f"{type(err).__name__}: {err}"

    def pump(self) -> None:
        """Move whatever the workers produced into the hub (the pump thread calls this)."""
        got = False
        for raw in self.supervisor.results(XAI):
            try:
                msg = from_dict(raw)
            except ValueError:
                continue
            if isinstance(msg, (XaiResult, WorkerError)) and msg.request_id is not None:
                if isinstance(msg, XaiResult) and not msg.cached:
                    self.xai_ms.append(msg.ms)
                with self._cond:
                    self._xai[int(msg.request_id)] = msg
                    while len(self._xai) > 64:
                        self._xai.pop(min(self._xai))
                got = True
        if got:
            with self._cond:
                self._cond.notify_all()
        for raw in self.supervisor.results(FORECAST):
            try:
                msg = fc.from_dict(raw)
            except ValueError:
                continue
            if isinstance(msg, fc.ForecastError):
                self.forecast_error = msg.message
            elif isinstance(msg, fc.ForecastResult):
                if self.forecast is not None and msg.version < self.forecast.version:
                    continue
                self.forecast, self.forecast_error = msg, ""
                if self.on_forecast is not None:
                    self.on_forecast(msg)

    # -- XAI ----------------------------------------------------------------------------------------
    def request_xai(self, client: str, serial: int, target: str | int = "pred") -> int | None:
        """Ask for the saliency of ``serial``; returns the request id (None: the worker is down)."""
        rid = next(self._ids)
        with self._cond:
            self._newest[client] = rid
        req = XaiRequest(rid, int(serial), target)
        return rid if self.supervisor.send(XAI, to_dict(req)) else None

    def wait_xai(self, client: str, rid: int, timeout: float) -> XaiAnswer:
        """The answer to request ``rid`` if it arrives within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._newest.get(client, rid) > rid:
                    return XaiAnswer("superseded", message="superseded by a newer request")
                msg = self._xai.get(rid)
                if isinstance(msg, XaiResult):
                    return XaiAnswer("ready", msg)
                if isinstance(msg, WorkerError):
                    return XaiAnswer("error", message=msg.message)
                left = deadline - time.monotonic()
                if left <= 0:
                    return XaiAnswer("pending", message="computing saliency…")
                self._cond.wait(left)

    # -- forecast -------------------------------------------------------------------------------------
    def submit_forecast(
        self,
        version: int,
        step: int,
        probs: np.ndarray,
        labels: np.ndarray,
        tau_pred: np.ndarray | None,
        mu: np.ndarray | None,
        test_acc: float | None,
        steps_total: int | None,
        acc_split: str = "test",
    ) -> bool:
        """Hand one embedding refresh to the forecast worker (False if it is down or busy, or the
        arrays could not be written: then :attr:`forecast_error` says why)."""
        try:
            fc.write_forecast_arrays(self.forecast_path, probs, labels, tau_pred, mu, version=version)
            n_labels = int((np.asarray(labels) >= 0).sum())
            acc = None if test_acc is None or not np.isfinite(test_acc) else float(test_acc)
            msg = fc.ForecastInput(
                int(version), int(step), str(self.forecast_path), n_labels, acc, steps_total, acc_split
            )
            ok = self.supervisor.send(FORECAST, fc.to_dict(msg))
        except OSError as err:  # a full disk must not break the map refresh
            self.forecast_error = f"could not write the forecast input: {err}"
            return False
        if ok:
            self.forecast_sent += 1
        return ok

    # -- status ----------------------------------------------------------------------------------------
    def status(self) -> list[WorkerStatus]:
        return self.supervisor.status()

    def pid(self, name: str) -> int | None:
        return self.supervisor.pid(name)


def worker_status(hub: WorkerHub | None) -> dict[str, Any]:
    """The child processes' states and the forecast's review window, for the status line (no hub:
    the app runs without workers)."""
    if hub is None:
        return {"workers": [], "forecast": None, "forecast_error": ""}
    return {"workers": hub.status(), "forecast": hub.forecast, "forecast_error": hub.forecast_error}
