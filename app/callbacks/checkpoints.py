"""Checkpoint panel: save, load and fork through the same store as the CLI."""

from __future__ import annotations

from functools import partial
from typing import Any

from dash import Output, State, html, no_update

from app.callbacks.wiring import on_click
from app.layouts import checkpoints as card
from app.layouts.checkpoints import CKPT_BUTTONS
from app.layouts.training import TRAIN_FIELDS
from app.services.training import SessionError
from app.state import AppState
from engine.errors import LatentLoopError

OUTPUTS = {
    "message": Output("ckpt-message", "children"),
    "options": Output("ckpt-select", "options"),
    "value": Output("ckpt-select", "value"),
    "tree": Output("ckpt-tree", "children"),
    "version": Output("map-version", "data", allow_duplicate=True),
    # a loaded branch brings its own loss weights and settings: the training form shows them
    **{key: Output(id_, "value", allow_duplicate=True) for id_, _, key, _ in TRAIN_FIELDS if key != "steps"},
}
STATE = {
    "selected": State("ckpt-select", "value"),
    "name": State("ckpt-name", "value"),
    "changes": State("ckpt-changes", "value"),
}


def checkpoint_outputs(
    state: AppState, button: str | None, selected: str | None, name: str | None, changes: str | None = None
) -> dict[str, Any]:
    """The panel after a checkpoint button: message, dropdown options and value, branch tree, map
    version, and after a load or fork the training form's values of the loaded config."""
    name = (name or "").strip()
    out: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    try:
        if button == "btn-ckpt-save":
            if not name:
                raise ValueError("enter a name to save under")
            msg = state.ckpt.save(name)
            out["value"] = name
        elif button == "btn-ckpt-load":
            if not selected:
                raise ValueError("choose a checkpoint to load")
            msg = state.ckpt.load(selected)
            out["version"] = {"version": state.cache.version}
            out.update(_form_values(state))
        elif button == "btn-ckpt-fork":
            if not selected or not name:
                raise ValueError("choose a checkpoint and enter the new name")
            msg = state.ckpt.fork(selected, name, changes or "")
            out["value"] = name
            out["version"] = {"version": state.cache.version}
            out.update(_form_values(state))
        else:
            return out
        ok = True
    except (LatentLoopError, SessionError, ValueError) as err:
        msg, ok = str(err), False
    out["message"] = html.Span(msg, className="text-success" if ok else "text-danger")
    rows = state.ckpt.list()
    out["options"] = card.checkpoint_options(rows)
    out["tree"] = card.branch_tree(rows)
    return out


def _form_values(state: AppState) -> dict[str, Any]:
    values = state.session.panel_defaults()
    return {key: values[key] for _, _, key, _ in TRAIN_FIELDS if key != "steps"}


def register(app: Any, state: AppState) -> None:
    on_click(app, OUTPUTS, list(CKPT_BUTTONS), STATE, partial(checkpoint_outputs, state))
