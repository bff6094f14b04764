"""The Probes panel's callbacks: the form (add or change a probe) and the remove buttons.

The panel's data changes in the background (a probe run after each map refresh), so it rides on the
sync's poll (the "probes" and "probe_colour" panels of app/presenter/panels.py, keyed per tab by
``ClientView.keys``) instead of a timer; the sync's inputs for it are here.
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from app.callbacks.wiring import connect, on_click
from app.state import AppState

SYNC_INPUTS = {
    "probe_want": Input("probe-want", "data"),  # set by clientside.js on a switch to the Probe mode
    "probe_choice": Input("probe-colour", "value"),
}
FORM = {
    "name": State("probe-name", "value"),
    "kind": State("probe-kind", "value"),
    "target": State("probe-target", "value"),
    "input": State("probe-input", "value"),
    "head": State("probe-head", "value"),
}


def apply_outputs(state: AppState, **form: Any) -> dict[str, Any]:
    """Add or change the probe of the form: the message (an error names what is wrong)."""
    raw = {k: (v.strip() if isinstance(v, str) else v) for k, v in form.items()}
    try:
        msg = state.probes.set_probe(raw)
    except ValueError as err:
        return {"message": html_message(str(err), error=True)}
    return {"message": html_message(msg)}


def remove_outputs(state: AppState, name: str) -> dict[str, Any]:
    try:
        msg = state.probes.remove_probe(name)
    except ValueError as err:
        return {"message": html_message(str(err), error=True)}
    return {"message": html_message(msg)}


def html_message(text: str, error: bool = False) -> Any:
    return html.Span(text, className="text-danger" if error else "text-success", **{"data-error": str(error).lower()})


def register(app: Any, state: AppState) -> None:
    def apply(pressed: Any, **form: Any) -> dict[str, Any]:
        return apply_outputs(state, **form)

    on_click(app, {"message": Output("probe-message", "children")}, ["probe-apply"], FORM, apply)

    def remove(fired: Any, clicks: Any) -> dict[str, Any]:
        # New rows' buttons (n_clicks None) fire this too when the table is redrawn: only a click counts.
        if not isinstance(fired, dict) or not any(t.get("value") for t in ctx.triggered):
            return {"message": no_update}
        return remove_outputs(state, str(fired.get("name", "")))

    connect(
        app,
        {"message": Output("probe-message", "children", allow_duplicate=True)},
        {"clicks": Input({"type": "probe-remove", "name": ALL}, "n_clicks")},
        {},
        remove,
        prevent_initial_call=True,
    )
