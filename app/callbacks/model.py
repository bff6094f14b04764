"""The Model page's callbacks: tau heatmap, component samples, lenses, microscope, metrics, curriculum.

Everything is computed when the page is shown (``url`` is "/model") and at each map version while it
is; a hidden Model page costs nothing. A tau cell click sets ``model-highlight`` in the browser (input.js); the
sync callback (which owns the map overlay) rings the component's samples on the map, and the gallery
here shows them.
"""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, Patch, State, no_update

from app import mixture_figures
from app.callbacks.wiring import connect, on_click
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
        for key, val in mixture_figures.tau_values(ms.tau, ms.stats, state.class_names).items():
            p["data"][0][key] = val
        out["tau"] = p
    else:
        out["tau"] = mixture_figures.tau_figure(ms.tau, ms.stats, state.class_names)
    dead = sum(s.dead for s in ms.stats)
    redundant = sum(s.redundant for s in ms.stats)
    out["info"] = f"map v{ms.version} · step {ms.step} · {dead} dead · {redundant} redundant"
    out["lenses"] = layout.lenses_panel(state.mixture.lenses(v), state.class_names)
    h = state.session.history
    out["metrics"] = mixture_figures.metrics_figure(list(state.mixture.history), list(h.metrics), list(h.phases))
    return out


def members_outputs(state: AppState, path: Any, component: Any) -> Any:
    """The gallery of the component a tau cell click chose (input.js sets ``model-highlight``;
    the sync rings the same samples on the map)."""
    c = as_int(component)
    v = state.cache.current
    if not _shown(path) or v is None:
        return no_update
    if c is None or not 0 <= c < v.components:
        return layout.members_panel(None, [], [], [], 0)
    serials, ok = state.mixture.members(v, c, state.label_reader.read())
    images = [png_data_uri(state.dataset.images[s]) for s in serials]
    return layout.members_panel(
        c, serials.tolist(), ok.tolist(), images, state.mixture.member_count(v, c), state.mixture.against
    )


def microscope_outputs(state: AppState, fired: Any, path: Any, want: Any, pinned: Any) -> dict[str, Any]:
    """The latent microscope of the selected sample (``model-want``, app/assets/input.js); "Pin as A" keeps the
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
    # A selection or a map version while another page is shown must not cost round trips: the
    # browser passes them on only while this page is shown (the map version: poll.js "shown"; the
    # selection: input.js writes model-want itself); the switch to the page (``url``) fires the
    # callbacks, which read the server's current map and the selection.
    app.clientside_callback(
        ClientsideFunction(namespace="llpoll", function_name="shown"),
        Output("model-shown-version", "data"),
        Input("model-version", "data"),
        State("url", "pathname"),
        prevent_initial_call=True,
    )

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
        {"version": Input("model-shown-version", "data"), "path": Input("url", "pathname")},
        {"tau_fig": State("model-tau", "figure")},
        refresh,
    )

    def members(fired: Any, component: Any, version: Any, path: Any) -> dict[str, Any]:
        return {"members": members_outputs(state, path, component)}

    connect(
        app,
        {"members": Output("model-members", "children")},
        {
            "component": Input("model-highlight", "data"),
            "version": Input("model-shown-version", "data"),
            "path": Input("url", "pathname"),
        },
        {},
        members,
    )

    def micro(fired: Any, want: Any, pin_clicks: Any, path: Any, version: Any, pinned: Any) -> dict[str, Any]:
        return microscope_outputs(state, fired, path, want, pinned)

    connect(
        app,
        {"micro": Output("model-microscope", "children"), "pin": Output("model-pinned", "data")},
        {
            "want": Input("model-want", "data"),
            "pin_clicks": Input("model-pin", "n_clicks"),
            "path": Input("url", "pathname"),
            "version": Input("model-shown-version", "data"),
        },
        {"pinned": State("model-pinned", "data")},
        micro,
    )

    def phase(fired: Any, tick: Any, path: Any) -> dict[str, Any]:
        return {k: v for k, v in phase_outputs(state, fired, path).items() if k != "msg"}

    connect(
        app,
        {"phase": Output("model-phase", "children"), "disabled": Output("model-advance", "disabled")},
        # poll.js ticks it only while this page is shown and a run is alive (or has just changed)
        {"tick": Input("model-tick", "data"), "path": Input("url", "pathname")},
        {},
        phase,
    )
    # The button has a callback of its own: a status tick dispatched before its answer came back
    # would otherwise supersede the request, and Dash would drop the message of the click.
    on_click(
        app,
        {
            "phase": Output("model-phase", "children", allow_duplicate=True),
            "disabled": Output("model-advance", "disabled", allow_duplicate=True),
            "msg": Output("model-advance-msg", "children"),
        },
        ["model-advance"],
        {"path": State("url", "pathname")},
        lambda pressed, path: phase_outputs(state, pressed, path),
    )
