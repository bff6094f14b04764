"""Checkpoint panel: save, load and fork through the same store as the CLI."""

from __future__ import annotations

from functools import partial
from typing import Any

from dash import Output, State, html, no_update

from app.callbacks.wiring import on_click
from app.layouts import views
from app.layouts.panels import CKPT_BUTTONS
from app.services.training import SessionError
from app.state import AppState
from engine.errors import LatentLoopError

OUTPUTS = {
    "message": Output("ckpt-message", "children"),
    "options": Output("ckpt-select", "options"),
    "value": Output("ckpt-select", "value"),
    "version": Output("map-version", "data", allow_duplicate=True),
}
STATE = {"selected": State("ckpt-select", "value"), "name": State("ckpt-name", "value")}


def checkpoint_outputs(state: AppState, button: str | None, selected: str | None, name: str | None) -> dict[str, Any]:
    """The panel after a checkpoint button: message, dropdown options and value, map version."""
    name = (name or "").strip()
    out: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    try:
        if button == "btn-ckpt-save":
            if not name:
                raise ValueError("enter a name to save under")
            msg = state.save_checkpoint(name)
            out["value"] = name
        elif button == "btn-ckpt-load":
            if not selected:
                raise ValueError("choose a checkpoint to load")
            msg = state.load_checkpoint(selected)
            out["version"] = {"version": state.cache.version}
        elif button == "btn-ckpt-fork":
            if not selected or not name:
                raise ValueError("choose a checkpoint and enter the new name")
            msg = state.fork_checkpoint(selected, name)
            out["value"] = name
        else:
            return out
        ok = True
    except (LatentLoopError, SessionError, ValueError) as err:
        msg, ok = str(err), False
    out["message"] = html.Span(msg, className="text-success" if ok else "text-danger")
    out["options"] = views.checkpoint_options(state.list_checkpoints())
    return out


def register(app: Any, state: AppState) -> None:
    on_click(app, OUTPUTS, list(CKPT_BUTTONS), STATE, partial(checkpoint_outputs, state))
