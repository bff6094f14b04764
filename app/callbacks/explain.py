"""Saliency, feedback boxes and the worker status line.

The sync callback publishes the selection in ``xai-want``; everything here works from it:

- saliency: a selection (or another target) sends a request to the XAI worker and waits up to
  ``settings.xai_wait_ms`` for it; when it takes longer, ``xai-interval`` polls until it arrives.
- feedback: the enlarged image (``fb-graph``, draw-rectangle mode) gives ``fb-box``; the typed
  instruction is parsed on every keystroke and its meaning shown before Apply stores it in
  ``feedback.jsonl`` and hands it to the trainer.
- status: every ``status-interval`` the navbar shows the child processes and the review window,
  and the list of boxes is re-read when ``feedback.jsonl`` changed (the CLI writes it too).

The bodies are plain functions of AppState (tested without a browser).
"""
from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from app import figures
from app.layouts import views
from app.services.images import png_data_uri
from app.state import AppState
from engine.errors import LatentLoopError

HIDDEN = {"display": "none"}


def _client(events: Any) -> str:
    return str((events or {}).get("client") or "") if isinstance(events, dict) else ""


def _target(value: Any) -> str | int:
    if value in ("pred", "true"):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return "pred"


def xai_outputs(state: AppState, want: Any, target: Any, client: str, triggered: str | None) -> tuple[Any, Any, bool]:
    """(panel, status text, interval disabled)."""
    if not isinstance(want, dict) or want.get("serial") is None:
        return views.xai_panel(None), "", True
    serial = int(want["serial"])
    if triggered == "xai-interval":
        ans = state.poll_saliency(client, 0.05)
        if ans is None or (ans.result is not None and ans.result.sample_idx != serial):
            return no_update, "", True
        if ans.state == "pending":
            return no_update, ans.message, False
    else:
        ans = state.saliency(client, serial, _target(target))
        if ans.state == "pending":
            return views.xai_panel(ans), ans.message, False
    image = state.dataset.images[ans.result.sample_idx] if ans.result is not None else None
    return views.xai_panel(ans, image), "", True


def feedback_figure_outputs(state: AppState, want: Any, shown: Any) -> tuple[Any, Any, Any]:
    """(figure, section style, fb-serial) for a new selection; nothing when the sample is the same."""
    if not isinstance(want, dict) or want.get("serial") is None or not want.get("train"):
        return (figures.feedback_figure(None), HIDDEN, None) if shown is not None else (no_update, HIDDEN, None)
    serial = int(want["serial"])
    if serial == shown:
        return no_update, no_update, no_update
    return _figure(state, serial), {}, serial


def _figure(state: AppState, serial: int) -> dict[str, Any]:
    item = state.feedback_for(serial)
    return figures.feedback_figure(png_data_uri(state.dataset.images[serial]), item.box if item else None)


def parse_outputs(state: AppState, serial: Any, text: Any, box: Any) -> tuple[Any, bool]:
    """(what the instruction will do, Apply disabled)."""
    if serial is None:
        return "", True
    if not (text or "").strip() and box is None:
        item = state.feedback_for(int(serial))
        hint = (f"stored: x {item.x0:.2f}-{item.x1:.2f}, y {item.y0:.2f}-{item.y1:.2f}, strength {item.strength:.2f}"
                if item else "no box for this sample")
        return html.Span(hint, className="text-muted"), True
    try:
        parsed = state.parse_feedback(int(serial), str(text or ""), box)
    except LatentLoopError as err:
        return html.Span(str(err), className="text-danger", id="fb-parse-error"), True
    return html.Span(["will ", html.Strong(parsed.describe())], id="fb-meaning"), False


def feedback_action_outputs(state: AppState, triggered: Any, value: Any, serial: Any, box: Any, text: Any,
                            seen_version: Any) -> tuple[Any, Any, Any, Any, Any]:
    """(message, list, fb-version, figure, text) after Apply / Remove / a list button / a poll."""
    version = list(state.feedback.version())
    msg: Any = no_update
    figure: Any = no_update
    text_out: Any = no_update
    if triggered in ("fb-apply", "fb-remove") or isinstance(triggered, dict):
        if not value:  # a button (re)appeared: not a click
            return no_update, no_update, no_update, no_update, no_update
        try:
            if triggered == "fb-apply":
                msg = state.apply_feedback(None if serial is None else int(serial), str(text or ""), box)
                text_out = ""
            elif triggered == "fb-remove":
                if serial is None:
                    raise LatentLoopError("select a training sample first")
                msg = state.remove_feedback(int(serial))
            else:
                msg = state.remove_feedback(int(triggered["serial"]))
        except LatentLoopError as err:
            return html.Span(str(err), className="text-danger"), no_update, no_update, no_update, no_update
        if serial is not None:
            figure = _figure(state, int(serial))
        version = list(state.feedback.version())
    elif version == seen_version:
        return no_update, no_update, no_update, no_update, no_update
    items, error = state.feedback_items()
    return msg, views.feedback_list(items, error), version, figure, text_out


def register(app: Any, state: AppState) -> None:
    @app.callback(
        Output("xai-panel", "children"), Output("xai-status", "children"), Output("xai-interval", "disabled"),
        Input("xai-want", "data"), Input("xai-target", "value"), Input("xai-interval", "n_intervals"),
        State("ll-events", "data"),
    )
    def saliency(want, target, _n, events):
        return xai_outputs(state, want, target, _client(events), ctx.triggered_id)

    @app.callback(
        Output("fb-graph", "figure"), Output("fb-section", "style"), Output("fb-serial", "data"),
        Input("xai-want", "data"), State("fb-serial", "data"),
    )
    def feedback_figure(want, shown):
        return feedback_figure_outputs(state, want, shown)

    @app.callback(
        Output("fb-box", "data"),
        Input("fb-graph", "relayoutData"), Input("fb-serial", "data"), State("fb-box", "data"),
    )
    def drawn(relayout, _serial, box):
        if ctx.triggered_id == "fb-serial":
            return None  # a new sample: the old drawing does not apply
        return figures.drawn_box(relayout, box)

    @app.callback(
        Output("fb-parsed", "children"), Output("fb-apply", "disabled"),
        Input("fb-serial", "data"), Input("fb-text", "value"), Input("fb-box", "data"),
    )
    def parse(serial, text, box):
        return parse_outputs(state, serial, text, box)

    @app.callback(
        Output("fb-message", "children"), Output("fb-list", "children"), Output("fb-version", "data"),
        Output("fb-graph", "figure", allow_duplicate=True), Output("fb-text", "value"),
        Input("fb-apply", "n_clicks"), Input("fb-remove", "n_clicks"), Input({"type": "fb-rm", "serial": ALL}, "n_clicks"),
        Input("status-interval", "n_intervals"),
        State("fb-serial", "data"), State("fb-box", "data"), State("fb-text", "value"), State("fb-version", "data"),
        prevent_initial_call="initial_duplicate",
    )
    def feedback_action(_apply, _remove, _rm, _tick, serial, box, text, seen):
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        return feedback_action_outputs(state, ctx.triggered_id, value, serial, box, text, seen)

    @app.callback(Output("worker-status", "children"), Input("status-interval", "n_intervals"))
    def workers(_n):
        return views.worker_status(state.worker_status())
