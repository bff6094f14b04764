"""The map/labels sync callback: browser events in, small updates out.

One callback on purpose: Dash drops the response of an older request of the *same* callback when
a newer one is under way, and every answer here is computed relative to the state the tab echoes
back (``map-sync``), so a dropped response is simply superseded. Two callbacks writing the overlay
could interleave; one cannot. What the answer holds is the presenter's (app/presenter/label_page.py):
this module turns the Dash inputs into its call and its answer into the outputs.
"""

from __future__ import annotations

import time
from typing import Any

from dash import Input, Output, State, no_update

from app.callbacks import probes
from app.callbacks.wiring import connect
from app.presenter.label_page import OUTPUTS, LabelPage
from app.presenter.panel import Render
from app.services.projection import PROJECTIONS
from app.services.sync import as_int
from app.state import AppState
from app.viewmodels import ClientView

INPUTS = {
    "events": Input("ll-events", "data"),
    "poll": Input("label-poll", "data"),  # bumped by poll.js when the server's sync key moved
    "version": Input("map-version", "data"),
    "strategy": Input("queue-strategy", "value"),
    "quality_want": Input("quality-want", "data"),  # set by clientside.js on a switch to "label quality"
    "highlight": Input("model-highlight", "data"),  # the component chosen on the Model page
    **probes.SYNC_INPUTS,
}
STATE = {"view": State("map-sync", "data"), "start": State("page-start", "data"), "mode": State("colour-mode", "value")}


def sync_outputs(
    state: AppState,
    events: Any,
    view: Any,
    strategy: str | None,
    start: Any,
    triggered: str | None = None,
    mode: str | None = None,
    highlight: Any = None,
    probe_choice: Any = None,
) -> dict[str, Any]:
    """The callback's body as a plain function (tested without a browser): output name -> value
    (:data:`~app.presenter.label_page.OUTPUTS`, built from the panels' declarations).
    ``probe_choice``: the map's probe colour menu ("<task>|pred" or "<task>|target"). A selection
    is none of its business: the page draws the sample and its saliency from plain endpoints
    (app/server.py), and sends the selection with its next label."""
    events = events if isinstance(events, dict) else {}
    client = str(events.get("client") or "")
    evs = events.get("events") if isinstance(events.get("events"), list) else []
    start_id = as_int((start or {}).get("log_id") if isinstance(start, dict) else None) or 0
    cv = ClientView.from_dict(view)
    page = LabelPage(state)
    choice = probe_choice if isinstance(probe_choice, str) else ""
    res = page.sync(client, evs, cv, strategy or "entropy", start_id, mode or "", as_int(highlight), choice)
    out: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    out.update(page.render(res, cv.version is not None, mode, Render(state.clients.selected_of(client))))
    if res.notices:
        out["notice"] = " · ".join(res.notices)
    elif evs and triggered == "ll-events":
        out["notice"] = ""
    return out


def projection_outputs(state: AppState, value: Any) -> dict[str, Any]:
    """The PCA/UMAP switch: saved, shown at once where it can be (a new map version the sync picks
    up through ``map-version``), the notice."""
    if value not in PROJECTIONS:
        return {"status": no_update, "version": no_update}
    msg = state.refresher.set_projection(value)
    return {"status": msg, "version": {"version": state.cache.version}}


def register(app: Any, state: AppState) -> None:
    def projection(fired: Any, value: Any) -> dict[str, Any]:
        return projection_outputs(state, value)

    connect(
        app,
        {
            "status": Output("projection-status", "children", allow_duplicate=True),
            "version": Output("map-version", "data", allow_duplicate=True),
        },
        {"value": Input("projection", "value")},
        {},
        projection,
        prevent_initial_call=True,
    )

    def sync(
        fired: Any,
        events: Any,
        poll: Any,
        version: Any,
        strategy: Any,
        quality_want: Any,
        highlight: Any,
        probe_want: Any,
        probe_choice: Any,
        view: Any,
        start: Any,
        mode: Any,
    ) -> dict[str, Any]:
        # the rest only fire it
        if state.settings.sync_delay_ms > 0:  # a test's slow server (tests/browser/test_browser_sample.py)
            time.sleep(state.settings.sync_delay_ms / 1000)
        return sync_outputs(state, events, view, strategy, start, fired, mode, highlight, probe_choice)

    connect(app, OUTPUTS, INPUTS, STATE, sync)
