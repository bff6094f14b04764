"""The stats panel's held-out fraction (a dataset without test truth): typed, written, answered."""

from __future__ import annotations

from functools import partial
from typing import Any

from dash import Input, Output, html

from app.callbacks.wiring import connect
from app.state import AppState

OUTPUTS = {"message": Output("holdout-message", "children")}
INPUTS = {"value": Input("holdout-fraction", "value")}


def holdout_outputs(state: AppState, fired: Any, value: Any) -> dict[str, Any]:
    """Write the typed fraction (app/services/holdout.py); the message says what happened. The
    panel's counts follow at the next sync (its key includes the file's version)."""
    ok, msg = state.holdout.set(value)
    return {"message": html.Span(msg, className="text-success" if ok else "text-danger", id="holdout-result")}


def register(app: Any, state: AppState) -> None:
    if state.holdout.active:  # the input exists only on a dataset scored on held-out labels
        connect(app, OUTPUTS, INPUTS, {}, partial(holdout_outputs, state), prevent_initial_call=True)
