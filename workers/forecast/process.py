"""The forecast child process: reads refresh messages, keeps only the newest, answers with results."""

from __future__ import annotations

from typing import Any

from engine.events import to_dict
from workers.child import ChildIO, limit_child
from workers.forecast.arrays import load_forecast_arrays
from workers.forecast.messages import ForecastError, _as_input
from workers.forecast.model import Forecaster, GateConfig


def forecast_main(
    io: ChildIO,
    nice: int = 10,
    history: int = 5,
    k: int = 10,
    gates: dict[str, Any] | None = None,
    poll_s: float = 0.2,
    names: list[str] | None = None,
) -> None:
    """Entry point of the forecast child process (``multiprocessing.get_context("spawn")``).

    Reads ``forecast_input`` dicts (or :class:`ForecastInput`) from ``io.in_q``; when several are
    waiting only the newest is handled (stale refreshes are dropped). Sends ``to_dict(ForecastResult)``,
    or a ``forecast_error`` dict for input it cannot handle, and carries on. Ends when the stop event
    is set or ``None`` arrives. ``gates``: GateConfig fields to override; ``names``: the class names
    the reasons use.
    """
    limit_child(nice)
    fc = Forecaster(history=history, k=k, gates=GateConfig(**(gates or {})), names=names)
    io.ready("forecast")

    def report(message: str, version: int | None = None) -> None:
        io.put(to_dict(ForecastError(message, version=version)))

    for item in io.requests(poll_s, report):
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
                acc_split=inp.acc_split,
                steps_total=inp.steps_total,
            )
            io.put(to_dict(res))
        except Exception as err:
            report(f"{type(err).__name__}: {err}", version if isinstance(version, int) else None)
