"""Training panel callbacks: Start/Pause/Resume/Stop, and draining the trainer's events."""
from __future__ import annotations

from typing import Any

from dash import Input, Output, Patch, State, ctx, no_update

from app import figures
from app.layouts import views
from app.state import AppState

STATE_COLOURS = {"running": "success", "starting": "info", "paused": "warning", "stopping": "warning",
                 "error": "danger", "finished": "primary", "stopped": "secondary", "idle": "secondary"}
FIELDS = ("steps", "lr", "alpha", "beta", "gamma", "consistency", "refresh_every")
FIELD_IDS = ("train-steps", "train-lr", "train-alpha", "train-beta", "train-gamma", "train-cons", "train-refresh")


def command_outputs(state: AppState, button: str | None, values: dict[str, Any]) -> tuple[Any, Any]:
    """(feedback component, interval disabled) for a button press."""
    if button == "btn-start":
        errors = state.start_training(values)
        if errors:
            return views.field_errors(errors), no_update
        return None, False
    if button in ("btn-pause", "btn-resume", "btn-stop"):
        err = state.training_command(button.removeprefix("btn-"))
        return (views.field_errors({"_": err}) if err else None), False
    return no_update, no_update


def curve_patch(series: tuple[str, ...], pts: dict[str, tuple[list[int], list[float]]]) -> Any:
    """Append new points to each line of a curve figure (nothing when there are none)."""
    if not any(pts.get(name, ([], []))[0] for name in series):
        return no_update
    p = Patch()
    for i, name in enumerate(series):
        xs, ys = pts.get(name, ([], []))
        if xs:
            p["data"][i]["x"].extend(list(xs))
            p["data"][i]["y"].extend([figures._clean(y) for y in ys])
    return p


def drain_outputs(state: AppState, cursor: Any) -> tuple[Any, ...]:
    """Fold the trainer's events into the panel (plain function, tested without a browser)."""
    info = state.session.drain()
    st = state.session.status()
    cur = cursor if isinstance(cursor, dict) else {}
    m0, e0 = int(cur.get("m", 0) or 0), int(cur.get("e", 0) or 0)
    h = state.session.history
    if m0 > len(h.metrics) or e0 > len(h.evals):  # the tab is ahead of this process (restart)
        m0 = e0 = 0
        pts, m1, e1 = state.curve_points(0, 0)
        loss = figures.curve_figure(figures.LOSS_SERIES, pts, title="loss")
        acc = figures.curve_figure(figures.ACC_SERIES, pts, yrange=[0, 1], title="accuracy")
    else:
        pts, m1, e1 = state.curve_points(m0, e0)
        loss = curve_patch(figures.LOSS_SERIES, pts)
        acc = curve_patch(figures.ACC_SERIES, pts)
    span = st["target"] - st["run_start"]
    progress = 0 if span <= 0 else max(0, min(100, round(100 * (st["step"] - st["run_start"]) / span)))
    sps = f"{st['samples_per_s']:.0f} samples/s" if st["state"] in ("running", "starting") and st["samples_per_s"] else ""
    version = {"version": state.cache.version} if info["refreshed"] else no_update
    return (loss, acc, {"m": m1, "e": e1}, st["state"], STATE_COLOURS.get(st["state"], "secondary"),
            f"phase {st['phase']}", f"step {st['step']}", sps, progress, f"{st['step']} / {st['target']}",
            st["error"], bool(st["error"]) and st["state"] == "error", st["message"], not st["busy"], version)


def register(app: Any, state: AppState) -> None:
    @app.callback(
        Output("train-feedback", "children"),
        Output("train-interval", "disabled", allow_duplicate=True),
        Input("btn-start", "n_clicks"), Input("btn-pause", "n_clicks"),
        Input("btn-resume", "n_clicks"), Input("btn-stop", "n_clicks"),
        *[State(i, "value") for i in FIELD_IDS], State("train-save", "value"),
        prevent_initial_call=True,
    )
    def command(_s, _p, _r, _t, *values):
        vals = dict(zip(FIELDS, values[:-1]))
        vals["save_at_end"] = bool(values[-1])
        return command_outputs(state, ctx.triggered_id, vals)

    @app.callback(
        Output("loss-curve", "figure"), Output("acc-curve", "figure"), Output("train-cursor", "data"),
        Output("train-state", "children"), Output("train-state", "color"), Output("train-phase", "children"),
        Output("train-step", "children"), Output("train-sps", "children"), Output("train-progress", "value"),
        Output("train-progress", "label"), Output("train-error", "children"), Output("train-error", "is_open"),
        Output("train-message", "children"), Output("train-interval", "disabled", allow_duplicate=True),
        Output("map-version", "data"),
        Input("train-interval", "n_intervals"),
        State("train-cursor", "data"),
        prevent_initial_call=True,
    )
    def drain(_n, cursor):
        return drain_outputs(state, cursor)
