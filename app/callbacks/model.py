"""The Model page's callbacks: tau heatmap, component samples, lenses, microscope, metrics, curriculum.

Everything is computed when the page is shown (``url`` is "/model") and at each map version while it
is; a hidden Model page costs nothing. The map highlight of a tau click rides on the sync callback
(``model-highlight`` is one of its inputs), which owns the map overlay.
"""

from __future__ import annotations

from typing import Any

from dash import Input, Output, Patch, State, no_update

from app import mixture_figures
from app.callbacks.wiring import connect
from app.layouts import model as layout
from app.services.images import png_data_uri
from app.services.sync import as_int
from app.state import AppState

PATH = "/model"


def _shown(path: Any) -> bool:
    return path == PATH


def refresh_outputs(state: AppState, path: Any, tau_fig: Any) -> dict[str, Any]:
    """The tau heatmap (a Patch of its values once it exists), its caption, the lenses and the
    metrics over time, for the current map version."""
    out = dict.fromkeys(("tau", "info", "lenses", "metrics"), no_update)
    v, ms = state.cache.current, state.mixture.state
    if not _shown(path) or v is None or ms is None:
        return out
    has = isinstance(tau_fig, dict) and (tau_fig.get("data") or [{}])[0].get("type") == "heatmap"
    if has and len(tau_fig["data"][0].get("z") or []) == ms.tau.shape[0]:
        p = Patch()
        for key, val in mixture_figures.tau_values(ms.tau, ms.stats).items():
            p["data"][0][key] = val
        out["tau"] = p
    else:
        out["tau"] = mixture_figures.tau_figure(ms.tau, ms.stats)
    dead = sum(s.dead for s in ms.stats)
    redundant = sum(s.redundant for s in ms.stats)
    out["info"] = f"map v{ms.version} · step {ms.step} · {dead} dead · {redundant} redundant"
    out["lenses"] = layout.lenses_panel(state.mixture.lenses(v))
    h = state.session.history
    out["metrics"] = mixture_figures.metrics_figure(list(state.mixture.history), list(h.metrics), list(h.phases))
    return out


def members_outputs(state: AppState, fired: Any, path: Any, click: Any, current: Any) -> dict[str, Any]:
    """A tau cell click chooses the component (highlighted on the map); the gallery shows its samples."""
    if fired == "model-clear":
        return {"highlight": None, "members": layout.members_panel(None, [], [], [], 0)}
    component = as_int(current)
    if fired == "model-tau":
        try:
            component = as_int(click["points"][0]["customdata"][0])
        except (KeyError, IndexError, TypeError):
            return {"highlight": no_update, "members": no_update}
    if not _shown(path) and fired != "model-tau":
        return {"highlight": no_update, "members": no_update}
    v = state.cache.current
    if component is None or v is None or not 0 <= component < v.components:
        return {
            "highlight": None if fired == "model-tau" else no_update,
            "members": layout.members_panel(None, [], [], [], 0),
        }
    serials, ok = state.mixture.members(v, component)
    images = [png_data_uri(state.dataset.images[s]) for s in serials]
    panel = layout.members_panel(
        component, serials.tolist(), ok.tolist(), images, state.mixture.member_count(v, component)
    )
    return {"highlight": component, "members": panel}


def microscope_outputs(state: AppState, fired: Any, path: Any, want: Any, pinned: Any) -> dict[str, Any]:
    """The latent microscope of the selected sample (the sync's ``xai-want``); "Pin as A" keeps the
    selection as the start of the interpolation."""
    serial = as_int(want.get("serial")) if isinstance(want, dict) else None
    pin = as_int(pinned)
    if fired == "model-pin":
        pin = serial
    if not _shown(path):
        return {"micro": no_update, "pin": pin if fired == "model-pin" else no_update}
    m = state.mixture.microscope(serial, pin) if serial is not None else None
    return {"micro": layout.microscope_panel(m, pin), "pin": pin if fired == "model-pin" else no_update}


def phase_outputs(state: AppState, fired: Any, path: Any) -> dict[str, Any]:
    """The current phase and its weights; Advance goes through the trainer's command queue."""
    msg: Any = no_update
    if fired == "model-advance":
        msg = state.session.advance_phase()
    if not _shown(path) and fired != "model-advance":
        return {"phase": no_update, "disabled": no_update, "msg": msg}
    st = state.session.status()
    running = st["state"] in ("running", "starting", "paused")
    return {"phase": layout.phase_text(st, state.session.curriculum_info()), "disabled": not running, "msg": msg}


def register(app: Any, state: AppState) -> None:
    def refresh(fired: Any, version: Any, path: Any, tau_fig: Any) -> dict[str, Any]:
        return refresh_outputs(state, path, tau_fig)

    connect(
        app,
        {
            "tau": Output("model-tau", "figure"),
            "info": Output("model-tau-info", "children"),
            "lenses": Output("model-lenses", "children"),
            "metrics": Output("model-metrics", "figure"),
        },
        {"version": Input("model-version", "data"), "path": Input("url", "pathname")},
        {"tau_fig": State("model-tau", "figure")},
        refresh,
    )

    def members(fired: Any, click: Any, clear: Any, version: Any, path: Any, current: Any) -> dict[str, Any]:
        return members_outputs(state, fired, path, click, current)

    connect(
        app,
        {"highlight": Output("model-highlight", "data"), "members": Output("model-members", "children")},
        {
            "click": Input("model-tau", "clickData"),
            "clear": Input("model-clear", "n_clicks"),
            "version": Input("model-version", "data"),
            "path": Input("url", "pathname"),
        },
        {"current": State("model-highlight", "data")},
        members,
        prevent_initial_call=True,
    )

    def micro(fired: Any, want: Any, pin_clicks: Any, path: Any, version: Any, pinned: Any) -> dict[str, Any]:
        return microscope_outputs(state, fired, path, want, pinned)

    connect(
        app,
        {"micro": Output("model-microscope", "children"), "pin": Output("model-pinned", "data")},
        {
            "want": Input("xai-want", "data"),
            "pin_clicks": Input("model-pin", "n_clicks"),
            "path": Input("url", "pathname"),
            "version": Input("model-version", "data"),
        },
        {"pinned": State("model-pinned", "data")},
        micro,
    )

    def phase(fired: Any, n: Any, path: Any, clicks: Any) -> dict[str, Any]:
        return phase_outputs(state, fired, path)

    connect(
        app,
        {
            "phase": Output("model-phase", "children"),
            "disabled": Output("model-advance", "disabled"),
            "msg": Output("model-advance-msg", "children"),
        },
        {
            "n": Input("train-interval", "n_intervals"),
            "path": Input("url", "pathname"),
            "clicks": Input("model-advance", "n_clicks"),
        },
        {},
        phase,
    )
