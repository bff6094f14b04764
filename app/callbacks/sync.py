"""The map/labels sync callback: browser events in, small updates out.

One callback on purpose: Dash drops the response of an older request of the *same* callback when
a newer one is under way, and every answer here is computed relative to the state the tab echoes
back (``map-sync``), so a dropped response is simply superseded. Two callbacks writing the overlay
could interleave; one cannot.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, Patch, State, no_update

from app import figures
from app.callbacks import explain, probes
from app.callbacks.wiring import connect
from app.layouts import views
from app.services.projection import PROJECTIONS
from app.services.sync import as_int
from app.state import AppState
from app.viewmodels import UNCHANGED, ClientView, SyncResult

OUTPUTS = {
    "map": Output("latent-map", "figure"),
    "overlay": Output("latent-overlay", "figure"),
    "colours": Output("colour-store", "data"),
    "view": Output("map-sync", "data"),
    "ack": Output("ll-ack", "data"),
    "sample": Output("sample-panel", "children"),
    "queue_list": Output("queue-list", "children"),
    "queue_source": Output("queue-source", "children"),
    "queue_store": Output("queue-store", "data"),
    "stats_bar": Output("stats-bar", "children"),
    "stats_text": Output("stats-text", "children"),
    "notice": Output("notice", "children"),
    "badge": Output("model-badge", "children"),
    "badge_colour": Output("model-badge", "color"),
    "version_text": Output("version-text", "children"),
    "untrained_open": Output("untrained-alert", "is_open"),
    "xai_want": Output("xai-want", "data"),
    "workers": Output("worker-status", "children"),
    "fb_list": Output("fb-list", "children"),
    "quality": Output("quality-store", "data"),
    "model_version": Output("model-version", "data"),
    "projection": Output("projection-status", "children"),
    **probes.SYNC_OUTPUTS,
    **explain.SELECTION_OUTPUTS,  # a new selection's saliency and feedback view, in the same answer
}
INPUTS = {
    "events": Input("ll-events", "data"),
    "poll": Input("label-poll", "data"),  # bumped by poll.js when the server's sync key moved
    "version": Input("map-version", "data"),
    "strategy": Input("queue-strategy", "value"),
    "quality_want": Input("quality-want", "data"),  # set by map.js on a switch to "label quality"
    "highlight": Input("model-highlight", "data"),  # the component chosen on the Model page
    **probes.SYNC_INPUTS,
}
STATE = {
    "view": State("map-sync", "data"),
    "start": State("page-start", "data"),
    "mode": State("colour-mode", "value"),
    "xai_target": State("xai-target", "value"),  # a new selection's saliency is asked for at once
    **explain.SELECTION_STATE,
}


BROWSER_COLOURS = ("quality", "probe")  # modes whose colours map.js builds from data that comes later


def map_update(res: SyncResult, had_figure: bool, mode: str | None = None) -> Any:
    """The big graph: the whole figure the first time; for a later embedding version only its data
    and meta (dcc.Graph keeps the user's zoom in ``figure.layout``; a new figure would reset it).
    The points come in the tab's colour ``mode``, so map.js has nothing to restyle afterwards (one
    redraw per version, not two)."""
    if res.figure is UNCHANGED:
        return no_update
    fig = res.figure
    # (the density map of a very large dataset has no per-point modes: app/density_figures.py)
    if res.colours is not UNCHANGED and mode not in BROWSER_COLOURS and "modes" in res.colours:
        modes = res.colours["modes"]
        marker = dict(modes.get(mode or "label") or modes["label"])
        fig = {**fig, "data": [{**fig["data"][0], "marker": marker}, *fig["data"][1:]]}  # the cached figure stays
    if not had_figure:
        return fig
    p = Patch()
    p["data"] = fig["data"]
    p["layout"]["meta"] = fig["layout"]["meta"]
    for key in ("images", "annotations"):  # the density map's raster and hint (app/density_figures.py)
        if key in fig["layout"]:
            p["layout"][key] = fig["layout"][key]
    return p


def overlay_update(res: SyncResult, had_figure: bool) -> Any:
    """The small graph: a Patch of the changed overlay slots and the selection ring (a few hundred
    bytes per keypress); its traces for a new version; nothing when nothing changed."""
    if res.overlay_figure is not UNCHANGED:
        fig = res.overlay_figure
        if res.highlight is not UNCHANGED:
            fig["data"][figures.HIGHLIGHT] = res.highlight
        if not had_figure:
            return fig
        p = Patch()
        p["data"] = fig["data"]  # the layout holds the ranges copied from the big graph
        p["layout"]["meta"] = fig["layout"]["meta"]
        return p
    if res.overlay_full is UNCHANGED and not res.overlay_slots and res.highlight is UNCHANGED:
        return no_update
    p = Patch()
    if res.overlay_full is not UNCHANGED:
        p["data"][figures.OVERLAY] = res.overlay_full
    for slot, val in res.overlay_slots:
        tr = p["data"][figures.OVERLAY]
        tr["x"][slot] = val["x"]
        tr["y"][slot] = val["y"]
        tr["marker"]["color"][slot] = val["color"]
        tr["customdata"][slot] = val["customdata"]
    if res.highlight is not UNCHANGED:
        p["data"][figures.HIGHLIGHT] = res.highlight
    return p


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
    xai_target: Any = "pred",
    fb_text: Any = None,
    fb_shown: Any = None,
    fb_box: Any = None,
) -> dict[str, Any]:
    """The callback's body as a plain function (tested without a browser): output name -> value.
    ``probe_choice``: the map's probe colour menu ("<task>|pred" or "<task>|target");
    ``xai_target``: the saliency target menu and ``fb_*`` the feedback editor's state: a new
    selection's saliency and feedback view come in this answer (app/callbacks/explain.py)."""
    events = events if isinstance(events, dict) else {}
    client = str(events.get("client") or "")
    evs = events.get("events") if isinstance(events.get("events"), list) else []
    start_id = as_int((start or {}).get("log_id") if isinstance(start, dict) else None) or 0
    cv = ClientView.from_dict(view)
    res = state.sync(client, evs, cv, strategy or "entropy", start_id, mode or "", as_int(highlight))
    had = cv.version is not None
    out: dict[str, Any] = dict.fromkeys(OUTPUTS, no_update)
    if not res.more:  # a lean answer (a label) leaves the rest to the next sync
        out.update(probes.sync_part(state, res.client, mode, probe_choice))  # before the view is written
    out.update(
        map=map_update(res, had, mode),
        overlay=overlay_update(res, had),
        # read by the ll-ack clientside callback: "more", keyboard.js asks for the panels at once;
        # "ring", where keyboard.js places the selection ring when the map has no point arrays
        view=res.client.to_dict() | {"more": res.more, "ring": res.ring},
        ack=res.ack,
    )
    if res.colours is not UNCHANGED:
        out["colours"] = res.colours
    if res.quality is not UNCHANGED:
        out["quality"] = res.quality
    if res.projection is not UNCHANGED:
        out["projection"] = res.projection
    if res.sample is not UNCHANGED:
        out["sample"] = views.sample_panel(res.sample)
    if res.xai_want is not UNCHANGED:
        # what the saliency and feedback callbacks work on: the selection, per map version
        out["xai_want"] = res.xai_want
        wait_s = state.settings.xai_sync_wait_ms / 1000.0
        out.update(
            explain.selection_outputs(state, client, res.xai_want, xai_target, fb_text, fb_shown, fb_box, wait_s)
        )
    if res.queue is not UNCHANGED:
        out.update(
            queue_list=views.queue_list(res.queue, state.selected_of(client)),
            queue_source=res.queue.source,
            queue_store=[c.serial for c in res.queue.items],
        )
    if res.stats is not UNCHANGED:
        out.update(stats_bar=views.class_bars(res.stats.per_class), stats_text=views.stats_text(res.stats))
    if res.notices:
        out["notice"] = " · ".join(res.notices)
    elif evs and triggered == "ll-events":
        out["notice"] = ""
    v = state.cache.current
    if res.figure is not UNCHANGED and v is not None:
        out.update(
            model_version=v.version,
            badge="trained" if v.trained else "untrained",
            badge_colour="success" if v.trained else "warning",
            version_text=f"map v{v.version} · step {v.step}",
            untrained_open=not v.trained,
        )
    if res.workers is not UNCHANGED:
        out["workers"] = views.worker_status(res.workers)
    if res.feedback is not UNCHANGED:
        out["fb_list"] = views.feedback_list(*res.feedback)
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
        xai_target: Any,
        fb_text: Any,
        fb_shown: Any,
        fb_box: Any,
    ) -> dict[str, Any]:
        # the rest only fire it
        return sync_outputs(
            state,
            events,
            view,
            strategy,
            start,
            fired,
            mode,
            highlight,
            probe_choice,
            xai_target,
            fb_text,
            fb_shown,
            fb_box,
        )

    connect(app, OUTPUTS, INPUTS, STATE, sync)
