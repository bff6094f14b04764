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
from app.layouts import views
from app.state import UNCHANGED, AppState, ClientView, SyncResult

NAMES = ["map", "overlay", "colours", "view", "ack", "sample", "queue_list", "queue_source", "queue_store",
         "stats_bar", "stats_text", "notice", "train_interval_disabled", "badge", "badge_colour", "version_text",
         "untrained_open", "xai_want", "workers", "fb_list"]

OUTPUTS = [
    Output("latent-map", "figure"),
    Output("latent-overlay", "figure"),
    Output("colour-store", "data"),
    Output("map-sync", "data"),
    Output("ll-ack", "data"),
    Output("sample-panel", "children"),
    Output("queue-list", "children"),
    Output("queue-source", "children"),
    Output("queue-store", "data"),
    Output("stats-bar", "children"),
    Output("stats-text", "children"),
    Output("notice", "children"),
    Output("train-interval", "disabled"),
    Output("model-badge", "children"),
    Output("model-badge", "color"),
    Output("version-text", "children"),
    Output("untrained-alert", "is_open"),
    Output("xai-want", "data"),
    Output("worker-status", "children"),
    Output("fb-list", "children"),
]


def map_update(res: SyncResult, had_figure: bool) -> Any:
    """The big graph: the whole figure the first time; for a later embedding version only its data
    and meta (dcc.Graph keeps the user's zoom in ``figure.layout``; a new figure would reset it)."""
    if res.figure is UNCHANGED:
        return no_update
    if not had_figure:
        return res.figure
    p = Patch()
    p["data"] = res.figure["data"]
    p["layout"]["meta"] = res.figure["layout"]["meta"]
    return p


def overlay_update(res: SyncResult, had_figure: bool) -> Any:
    """The small graph: a Patch of the changed overlay slots and the selection ring (a few hundred
    bytes per keypress); its traces for a new version; nothing when nothing changed."""
    if res.overlay_figure is not UNCHANGED:
        if not had_figure:
            return res.overlay_figure
        p = Patch()
        p["data"] = res.overlay_figure["data"]  # the layout holds the ranges copied from the big graph
        p["layout"]["meta"] = res.overlay_figure["layout"]["meta"]
        return p
    if res.overlay_full is UNCHANGED and not res.overlay_slots and res.selected_xy is UNCHANGED:
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
    if res.selected_xy is not UNCHANGED:
        xy = res.selected_xy
        p["data"][figures.SELECTED]["x"] = [xy[0]] if xy else []
        p["data"][figures.SELECTED]["y"] = [xy[1]] if xy else []
    return p


def sync_outputs(state: AppState, events: Any, view: Any, strategy: str | None, start: Any,
                 triggered: str | None = None) -> tuple[Any, ...]:
    """The callback's body as a plain function (tested without a browser)."""
    events = events if isinstance(events, dict) else {}
    client = str(events.get("client") or "")
    evs = events.get("events") if isinstance(events.get("events"), list) else []
    start_id = int((start or {}).get("log_id", 0) or 0)
    cv = ClientView.from_dict(view)
    res = state.sync(client, evs, cv, strategy or "entropy", start_id)
    sample = no_update if res.sample is UNCHANGED else views.sample_panel(res.sample)
    # what the saliency and feedback callbacks work on: the selection, per map version
    want = no_update if res.sample is UNCHANGED else (
        None if res.sample is None else {"serial": res.sample.serial, "train": res.sample.split == "train",
                                         "v": res.client.version, "label": res.sample.label})
    if res.queue is UNCHANGED:
        q_list = q_src = q_store = no_update
    else:
        sel = state.selected_of(client)
        q_list, q_src, q_store = views.queue_list(res.queue, sel), res.queue.source, [c.serial for c in res.queue.items]
    if res.stats is UNCHANGED:
        bar = text = no_update
    else:
        bar, text = views.class_bars(res.stats.per_class), views.stats_text(res.stats)
    if res.notices:
        notice = " · ".join(res.notices)
    elif evs and triggered == "ll-events":
        notice = ""
    else:
        notice = no_update
    status = state.session.status()
    if res.figure is not UNCHANGED:
        v = state.cache.current
        badge = ("trained", "success") if v.trained else ("untrained", "warning")
        version_text = f"map v{v.version} · step {v.step}"
        alert_open = not v.trained
    else:
        badge = (no_update, no_update)
        version_text = alert_open = no_update
    had = cv.version is not None
    return (map_update(res, had), overlay_update(res, had), no_update if res.colours is UNCHANGED else res.colours, res.client.to_dict(),
            res.ack, sample, q_list, q_src, q_store, bar, text, notice, not status["busy"],
            badge[0], badge[1], version_text, alert_open, want,
            no_update if res.workers is UNCHANGED else views.worker_status(res.workers),
            no_update if res.feedback is UNCHANGED else views.feedback_list(*res.feedback))


def register(app: Any, state: AppState) -> None:
    from dash import ctx

    @app.callback(
        *OUTPUTS,
        Input("ll-events", "data"),
        Input("label-poll", "n_intervals"),
        Input("map-version", "data"),
        Input("queue-strategy", "value"),
        State("map-sync", "data"),
        State("page-start", "data"),
    )
    def sync(events, _poll, _version, strategy, view, start):
        return sync_outputs(state, events, view, strategy, start, ctx.triggered_id)
