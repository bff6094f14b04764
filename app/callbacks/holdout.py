"""The stats panel's held-out fraction (a dataset without test truth): typed, written, answered."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from dash import Input, Output, html

from app.callbacks.wiring import connect
from app.services.training import SessionError
from app.state import AppState

OUTPUTS = {"message": Output("holdout-message", "children")}
INPUTS = {"value": Input("holdout-fraction", "value")}


def holdout_outputs(state: AppState, fired: Any, value: Any) -> dict[str, Any]:
    """Write the typed fraction (app/services/holdout.py); the message says what happened. The
    panel's counts follow at the next sync (its key includes the file's version)."""
    ok, msg = state.holdout.set(value)
    if ok and not state.session.active:
        # an idle trainer polls its labels only while it runs: read the new split now, so the first
        # steps of the next run never train on a label that is now held out
        with contextlib.suppress(SessionError):  # a run started meanwhile: its poll reads it
            state.session.exclusive(lambda tr: tr.reload_labels())
    return {"message": html.Span(msg, className="text-success" if ok else "text-danger", id="holdout-result")}


def register(app: Any, state: AppState) -> None:
    if state.holdout.active:  # the input exists only on a dataset scored on held-out labels
        connect(app, OUTPUTS, INPUTS, {}, partial(holdout_outputs, state), prevent_initial_call=True)
