"""Messages of the forecast worker: the input naming one refresh's arrays, the result, the error."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from engine.events import Message, decode, type_registry


class ForecastInput(Message, tag="forecast_input"):
    """One embedding refresh, for the worker. The arrays travel in the ``.npz`` at ``probs_path``
    (written by :func:`write_forecast_arrays`); the message itself stays a few hundred bytes.

    ``test_acc``: the newest accuracy (None/NaN if none yet), on the split ``acc_split`` names: "test",
    "validation", or "held-out" (the user's held-out labels of a dataset without test truth,
    engine/stores/holdout.py). ``steps_total``: the step the
    current training run ends at, if known; once ``step >= steps_total`` the weights no longer
    change, which counts as a plateau.
    """

    version: int
    step: int
    probs_path: str
    n_labels: int = 0
    test_acc: float | None = None
    steps_total: int | None = None
    acc_split: str = "test"


class ForecastResult(Message, tag="forecast_result"):
    """``gates``: ``{name: {"passed": bool, "value": float | None, "threshold": float, ...}}`` in
    evaluation order. ``candidates``: best first, each ``{"sample_idx", "risk", "predicted",
    "certainty", "why"}`` (risk = calibrated probability that the prediction is wrong at the next
    refresh; certainty = the predicted class's probability now; why = one sentence). They are
    computed even while the window is closed (the UI may show them greyed)."""

    version: int
    step: int
    window_open: bool
    reason: str
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    candidates: tuple[dict[str, Any], ...] = ()


class ForecastError(Message, tag="forecast_error"):
    """The worker could not handle an input; it keeps running."""

    message: str
    version: int | None = None


_TYPES = type_registry(ForecastInput, ForecastResult, ForecastError)


def from_dict(d: dict[str, Any]) -> Any:
    """Inverse of engine.events.to_dict for forecast messages; ValueError on bad input."""
    if not isinstance(d, dict):
        raise ValueError(f"expected a message dict, got {type(d).__name__}")
    return decode(d, _TYPES)


def _as_input(msg: Any) -> ForecastInput:
    inp = msg if isinstance(msg, ForecastInput) else from_dict(msg)
    if not isinstance(inp, ForecastInput):
        raise ValueError(f"expected a forecast_input message, got {inp.type!r}")
    if not isinstance(inp.version, int) or not isinstance(inp.step, int) or inp.step < 0:
        raise ValueError(
            f"forecast_input: version and step must be integers (step >= 0), got {inp.version!r}, {inp.step!r}"
        )
    if not isinstance(inp.probs_path, str) or not inp.probs_path:
        raise ValueError("forecast_input: probs_path must be a non-empty string")
    return inp
