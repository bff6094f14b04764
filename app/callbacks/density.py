"""The density map's view callback: a pan, zoom, colour mode or new map version in, the raster
or the points of the tab's view out (app/services/density.py; below the raster threshold the
callback does nothing and the map works as before).

The tab's view is remembered per tab (``ll-events``' client id, which bigmap.js makes sure is
set) because ``relayoutData`` only carries the last change: a colour switch or a new map version
must be drawn for the window the tab shows, not for the last event.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, Patch, State, no_update

from app import density_figures
from app.callbacks.wiring import connect
from app.services.density import window_from_relayout
from app.state import AppState

OUTPUTS = {"map": Output("latent-map", "figure", allow_duplicate=True)}
INPUTS = {
    "relayout": Input("latent-map", "relayoutData"),
    "mode": Input("colour-mode", "value"),
    "version": Input("model-version", "data"),  # the sync sent a new map version
}
STATE = {"events": State("ll-events", "data")}


def density_outputs(state: AppState, fired: str | None, relayout: Any, mode: Any, events: Any) -> dict[str, Any]:
    """The callback's body (tested without a browser): ``{"map": Patch | no_update}``."""
    v = state.cache.current
    if v is None or not state.density.active(v):
        return {"map": no_update}
    client = str(events.get("client") or "") if isinstance(events, dict) else ""
    mode = mode if isinstance(mode, str) and mode else "label"
    full = state.density.extent(v)
    window = state.density.recall(client) if client else None
    if fired == "latent-map":
        window = window_from_relayout(relayout, window, full)
        if window is None:  # a resize or a drag-mode change: the view did not move
            return {"map": no_update}
        if client:
            state.density.remember(client, window)
    elif fired == "model-version" and window is None and mode == "label":
        return {"map": no_update}  # the new version's figure already holds this raster (the whole map)
    view = state.density.view(v, mode, window or full)
    p = Patch()
    p["data"][density_figures.POINTS] = density_figures.points_trace(v, view.serials, mode)
    for key, value in density_figures.view_layout(v, view).items():
        p["layout"][key] = value
    p["layout"]["meta"]["view"] = density_figures.view_meta(view)
    return {"map": p}


def register(app: Any, state: AppState) -> None:
    """Only for a map above the threshold: below it a pan, a zoom or a colour switch must cost the
    page no server round trip (the colour switch is drawn in the browser alone)."""
    if state.n_points <= state.density.raster_above:
        return

    def density(fired: Any, relayout: Any, mode: Any, version: Any, events: Any) -> dict[str, Any]:
        return density_outputs(state, fired, relayout, mode, events)

    connect(app, OUTPUTS, INPUTS, STATE, density, prevent_initial_call=True)
