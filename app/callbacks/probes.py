"""The Probes panel's callbacks: the form (add or change a probe), the remove buttons, and the part of
the sync (app/callbacks/sync.py) that redraws the panel and sends the "Probe" colour mode's marker.

The panel's data changes in the background (a probe run after each map refresh), so it rides on the
sync's poll with a key per tab (``ClientView.probes_key``, ``probe_colour_key``) instead of a timer.
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from app.callbacks.wiring import connect, on_click
from app.layouts import probes as layout
from app.state import AppState
from app.viewmodels import ClientView

SYNC_OUTPUTS = {
    "probes_table": Output("probes-table", "children"),
    "probe_status": Output("probe-status", "children"),
    "probe_options": Output("probe-colour", "options"),
    "probe_colours": Output("probe-store", "data"),
}
SYNC_INPUTS = {
    "probe_want": Input("probe-want", "data"),  # set by map.js on a switch to the Probe mode
    "probe_choice": Input("probe-colour", "value"),
}
FORM = {
    "name": State("probe-name", "value"),
    "kind": State("probe-kind", "value"),
    "target": State("probe-target", "value"),
    "input": State("probe-input", "value"),
    "head": State("probe-head", "value"),
}


def sync_part(state: AppState, new: ClientView, mode: str | None, choice: Any) -> dict[str, Any]:
    """The sync's probe outputs for a tab that holds ``new`` (updated here): the table, the status
    and the colour menu when the service's key moved; the colour marker in the Probe mode when the
    map version, the probe results or the choice moved. Other outputs are absent (no_update)."""
    out: dict[str, Any] = {}
    probes = state.probes
    key = str(probes.key())
    if key != new.probes_key:
        view = probes.view()
        out.update(
            probes_table=layout.probes_table(view),
            probe_status=layout.probes_status(view),
            probe_options=probes.colour_options(),
        )
        new.probes_key = key
    v = state.cache.current
    if mode == "probe" and v is not None:
        choice = choice if isinstance(choice, str) else ""
        colour_key = f"{v.version}:{probes.colour_key()}:{choice}"
        if colour_key != new.probe_colour_key:
            out["probe_colours"] = {
                "version": v.version,
                "choice": choice,
                "marker": probes.colours(choice, state.num_classes),
            }
            new.probe_colour_key = colour_key
    return out


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
