"""Checkpoint panel: save, load and fork through the same store as the CLI."""
from __future__ import annotations

from typing import Any

from dash import Input, Output, State, ctx, html, no_update

from app.layouts import views
from app.services.training import SessionError
from app.state import AppState
from engine.errors import LatentLoopError


def checkpoint_outputs(state: AppState, button: str | None, selected: str | None, name: str | None) -> tuple[Any, ...]:
    """(message, dropdown options, dropdown value, map-version) for a checkpoint button."""
    name = (name or "").strip()
    version: Any = no_update
    value: Any = no_update
    try:
        if button == "btn-ckpt-save":
            if not name:
                raise ValueError("enter a name to save under")
            msg, ok = state.save_checkpoint(name), True
            value = name
        elif button == "btn-ckpt-load":
            if not selected:
                raise ValueError("choose a checkpoint to load")
            msg, ok = state.load_checkpoint(selected), True
            version = {"version": state.cache.version}
        elif button == "btn-ckpt-fork":
            if not selected or not name:
                raise ValueError("choose a checkpoint and enter the new name")
            msg, ok = state.fork_checkpoint(selected, name), True
            value = name
        else:
            return no_update, no_update, no_update, no_update
    except (LatentLoopError, SessionError, ValueError) as err:
        msg, ok = str(err), False
    text = html.Span(msg, className="text-success" if ok else "text-danger")
    return text, views.checkpoint_options(state.list_checkpoints()), value, version


def register(app: Any, state: AppState) -> None:
    @app.callback(
        Output("ckpt-message", "children"), Output("ckpt-select", "options"), Output("ckpt-select", "value"),
        Output("map-version", "data", allow_duplicate=True),
        Input("btn-ckpt-save", "n_clicks"), Input("btn-ckpt-load", "n_clicks"), Input("btn-ckpt-fork", "n_clicks"),
        State("ckpt-select", "value"), State("ckpt-name", "value"),
        prevent_initial_call=True,
    )
    def checkpoint(_s, _l, _f, selected, name):
        return checkpoint_outputs(state, ctx.triggered_id, selected, name)
