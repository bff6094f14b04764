"""The feedback box editor of the selected sample, and the list of feedback boxes.

A selection costs no Dash callback (app/assets/input.js): the sample panel and its saliency come
from plain endpoints (app/server.py ``/_ll/sample`` and ``/_ll/saliency``, drawn by sample.js and
xai.js). The editor follows the selection only while it is open: the page then writes the
selection into ``fb-want``, and :func:`feedback_view_outputs` draws the enlarged image
(``fb-graph``, draw-rectangle mode); its callback also follows the box the user draws on it
(``fb-box``) and the typed instruction, parsed on every change, with its meaning shown before
Apply; Apply / Remove / the list's buttons store or delete boxes in ``feedback.jsonl`` and hand
them to the trainer.

The bodies are plain functions of AppState (tested without a browser).
"""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from app import feedback_figures
from app.callbacks.wiring import connect, on_click
from app.layouts import explain as card
from app.services.images import png_data_uri
from app.state import AppState
from engine.errors import LatentLoopError

HIDDEN = {"display": "none"}


def _figure(state: AppState, serial: int) -> dict[str, Any]:
    item = state.boxes.of(serial)
    h, w, _ = state.dataset.image_shape
    return feedback_figures.feedback_figure(
        png_data_uri(state.dataset.images[serial]), item.box if item else None, aspect=h / w
    )


VIEW_OUTPUTS = {
    "figure": Output("fb-graph", "figure"),
    "style": Output("fb-section", "style"),
    "serial": Output("fb-serial", "data"),
    "box": Output("fb-box", "data"),
    "parsed": Output("fb-parsed", "children"),
    "apply_disabled": Output("fb-apply", "disabled"),
}
VIEW_INPUTS = {
    "want": Input("fb-want", "data"),  # the selection, written by input.js while the editor is open
    "relayout": Input("fb-graph", "relayoutData"),
    "text": Input("fb-text", "value"),
}
VIEW_STATE = {"shown": State("fb-serial", "data"), "box": State("fb-box", "data")}
ACTION_OUTPUTS = {
    "message": Output("fb-message", "children"),
    "list": Output("fb-list", "children", allow_duplicate=True),
    "figure": Output("fb-graph", "figure", allow_duplicate=True),
    "text": Output("fb-text", "value"),
}
ACTION_BUTTONS = ("fb-apply", "fb-remove", {"type": "fb-rm", "serial": ALL})
ACTION_STATE = {"serial": State("fb-serial", "data"), "box": State("fb-box", "data"), "text": State("fb-text", "value")}


def feedback_view_outputs(
    state: AppState, triggered: Any, want: Any, relayout: Any, text: Any, shown: Any, box: Any
) -> dict[str, Any]:
    """The feedback editor (``VIEW_OUTPUTS``) for a new selection (``want``: ``{"serial", "train"}``
    or None), a drawn or edited box, or a change of the instruction."""
    out: dict[str, Any] = dict.fromkeys(VIEW_OUTPUTS, no_update)
    if triggered == "fb-want":
        if not isinstance(want, dict) or want.get("serial") is None or not want.get("train"):
            return {
                "figure": feedback_figures.feedback_figure(None) if shown is not None else no_update,
                "style": HIDDEN,
                "serial": None,
                "box": None,
                "parsed": "",
                "apply_disabled": True,
            }
        serial = int(want["serial"])
        if serial != shown:  # a new sample: the old drawing does not apply
            out.update(figure=_figure(state, serial), style={}, serial=serial, box=None)
            return out | parse_outputs(state, serial, text, None)
        return out | parse_outputs(state, serial, text, box)
    if triggered == "fb-graph":
        out["box"] = feedback_figures.drawn_box(relayout, box)
        return out | parse_outputs(state, shown, text, out["box"])
    return out | parse_outputs(state, shown, text, box)


def parse_outputs(state: AppState, serial: Any, text: Any, box: Any) -> dict[str, Any]:
    """``parsed`` (what the instruction will do) and ``apply_disabled``."""
    if serial is None:
        return {"parsed": "", "apply_disabled": True}
    if not (text or "").strip() and box is None:
        item = state.boxes.of(int(serial))
        hint = (
            f"stored: x {item.x0:.2f}-{item.x1:.2f}, y {item.y0:.2f}-{item.y1:.2f}, strength {item.strength:.2f}"
            if item
            else "no box for this sample"
        )
        return {"parsed": html.Span(hint, className="text-muted"), "apply_disabled": True}
    try:
        parsed = state.boxes.parse(int(serial), str(text or ""), box)
    except LatentLoopError as err:
        return {"parsed": html.Span(str(err), className="text-danger", id="fb-parse-error"), "apply_disabled": True}
    return {"parsed": html.Span(["will ", html.Strong(parsed.describe())], id="fb-meaning"), "apply_disabled": False}


def feedback_action_outputs(
    state: AppState, triggered: Any, value: Any, serial: Any, box: Any, text: Any
) -> dict[str, Any]:
    """The editor after Apply, Remove or a list's remove button (``ACTION_OUTPUTS``)."""
    out: dict[str, Any] = dict.fromkeys(ACTION_OUTPUTS, no_update)
    if not value:  # a button (re)appeared: not a click
        return out
    try:
        if triggered == "fb-apply":
            msg = state.boxes.apply(None if serial is None else int(serial), str(text or ""), box)
            out["text"] = ""
        elif triggered == "fb-remove":
            if serial is None:
                raise LatentLoopError("select a training sample first")
            msg = state.boxes.remove(int(serial))
        elif isinstance(triggered, dict):
            msg = state.boxes.remove(int(triggered["serial"]))
        else:
            return out
    except LatentLoopError as err:
        return out | {"message": html.Span(str(err), className="text-danger"), "text": no_update}
    items, error = state.boxes.items()
    out.update(message=msg, list=card.feedback_list(items, error))
    if serial is not None:
        out["figure"] = _figure(state, int(serial))
    return out


def register(app: Any, state: AppState) -> None:
    def view(fired: Any, want: Any, relayout: Any, text: Any, shown: Any, box: Any) -> dict[str, Any]:
        return feedback_view_outputs(state, fired, want, relayout, text, shown, box)

    connect(app, VIEW_OUTPUTS, VIEW_INPUTS, VIEW_STATE, view, prevent_initial_call=True)

    def feedback_action(pressed: Any, serial: Any, box: Any, text: Any) -> dict[str, Any]:
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        return feedback_action_outputs(state, pressed, value, serial, box, text)

    on_click(app, ACTION_OUTPUTS, ACTION_BUTTONS, ACTION_STATE, feedback_action)
