"""The forecast child process: reads refresh messages, keeps only the newest, answers with results."""

from __future__ import annotations

import contextlib
import os
import queue
from typing import Any

from engine.events import to_dict
from workers.child import limit_child
from workers.forecast.arrays import load_forecast_arrays
from workers.forecast.messages import ForecastError, _as_input
from workers.forecast.model import Forecaster, GateConfig


def _put(out_q: Any, msg: Any) -> None:
    with contextlib.suppress(queue.Full):  # nobody is reading: dropping a result beats blocking forever
        out_q.put(msg if isinstance(msg, dict) else to_dict(msg), timeout=1.0)


def forecast_main(
    in_q: Any,
    out_q: Any,
    stop_event: Any,
    nice: int = 10,
    history: int = 5,
    k: int = 10,
    gates: dict[str, Any] | None = None,
    poll_s: float = 0.2,
) -> None:
    """Entry point of the forecast child process (``multiprocessing.get_context("spawn")``).

    Reads ``forecast_input`` dicts (or :class:`ForecastInput`) from ``in_q``; when several are
    waiting only the newest is handled (stale refreshes are dropped). Puts ``to_dict(ForecastResult)``
    on ``out_q``, or a ``forecast_error`` dict for input it cannot handle, and carries on. Ends when
    ``stop_event`` is set or ``None`` arrives. ``gates``: GateConfig fields to override.
    """
    limit_child(nice)
    fc = Forecaster(history=history, k=k, gates=GateConfig(**(gates or {})))
    _put(out_q, {"type": "worker_ready", "worker": "forecast", "pid": os.getpid()})
    while not stop_event.is_set():
        try:
            item = in_q.get(timeout=poll_s)
        except queue.Empty:
            continue
        except Exception as err:  # an item that cannot be unpickled
            _put(out_q, ForecastError(f"unreadable message: {type(err).__name__}: {err}"))
            continue
        stop = item is None
        while not stop:  # keep only the newest input; a None anywhere still stops the worker
            try:
                item = in_q.get_nowait()
            except queue.Empty:
                break
            except Exception as err:
                _put(out_q, ForecastError(f"unreadable message: {type(err).__name__}: {err}"))
                continue
            stop = item is None
        if stop:
            break
        version = item.get("version") if isinstance(item, dict) else getattr(item, "version", None)
        try:
            inp = _as_input(item)
            a = load_forecast_arrays(inp.probs_path)
            if a["version"] >= 0 and a["version"] != inp.version:
                if a["version"] > inp.version:
                    continue  # the file was already overwritten by a newer refresh; its message follows
                raise ValueError(f"{inp.probs_path} holds version {a['version']}, the message says {inp.version}")
            res = fc.update(
                a["probs"],
                a["labels"],
                a["tau_pred"],
                a["mu"],
                version=inp.version,
                step=inp.step,
                test_acc=inp.test_acc,
                steps_total=inp.steps_total,
            )
            _put(out_q, res)
        except Exception as err:
            _put(
                out_q,
                ForecastError(f"{type(err).__name__}: {err}", version=version if isinstance(version, int) else None),
            )
