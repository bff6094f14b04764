"""Saliency and feedback boxes for the selected sample.

The sync callback publishes the selection in ``xai-want`` (and, on its poll, the worker status line
and the list of feedback boxes). Every callback round trip costs the browser tens of milliseconds of
CPU, which in this single-machine tool comes out of training's share, so a new selection costs one
callback, the sync, which brings everything it changes (:func:`selection_outputs`):

- saliency: the sync sends the request to the XAI worker and waits up to
  ``settings.xai_sync_wait_ms`` for the answer, so that it is drawn with the sample panel; a slower
  one shows "computing" and ``xai-interval`` polls until it arrives. A change of the saliency target
  asks again (waiting up to ``settings.xai_wait_ms``).
- feedback view: the enlarged image (``fb-graph``, draw-rectangle mode) for a new selection; its own
  callback follows the box the user draws on it (``fb-box``) and the typed instruction, parsed on
  every change, with its meaning shown before Apply; Apply / Remove / the list's buttons store or
  delete boxes in ``feedback.jsonl`` and hand them to the trainer.

The bodies are plain functions of AppState (tested without a browser).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from dash import ALL, Input, Output, State, ctx, html, no_update

from app import feedback_figures
from app.callbacks.wiring import connect, on_click
from app.layouts import explain as card
from app.services.images import png_data_uri
from app.services.xai import parse_target
from app.state import AppState
from engine.errors import LatentLoopError

HIDDEN = {"display": "none"}


def _client(events: Any) -> str:
    return str((events or {}).get("client") or "") if isinstance(events, dict) else ""


def xai_outputs(
    state: AppState, want: Any, target: Any, client: str, triggered: str | None, wait_s: float | None = None
) -> tuple[Any, Any, bool]:
    """(panel, status text, interval disabled). ``triggered`` is "xai-interval" for a poll;
    ``wait_s``: how long a new request waits for its answer (default ``settings.xai_wait_ms``)."""
    if not isinstance(want, dict) or want.get("serial") is None:
        return card.xai_panel(None), "", True
    serial = int(want["serial"])
    if triggered == "xai-interval":
        ans = state.xai.poll(client, 0.05)
        if ans is not None and (ans.result is None or ans.result.sample_idx == serial):
            if ans.state == "pending":
                return no_update, ans.message, False
            return _xai_done(state, ans)
        # The answer is about an older selection (the request for this one was replaced or never
        # sent, e.g. Dash folded the selection into a poll): ask for the shown one.
    ans = state.xai.ask(client, serial, parse_target(target), wait_s)
    if ans.state == "pending":
        return card.xai_panel(ans), ans.message, False
    return _xai_done(state, ans)


def _xai_done(state: AppState, ans: Any) -> tuple[Any, Any, bool]:
    image = state.dataset.images[ans.result.sample_idx] if ans.result is not None else None
    return card.xai_panel(ans, image, state.class_names), "", True


def _figure(state: AppState, serial: int) -> dict[str, Any]:
    item = state.boxes.of(serial)
    h, w, _ = state.dataset.image_shape
    return feedback_figures.feedback_figure(
        png_data_uri(state.dataset.images[serial]), item.box if item else None, aspect=h / w
    )


# The sync owns the feedback view's outputs for a new selection (card.SELECTION_OUTPUTS); the
# callbacks here (a drawn box, the text, the target menu, the poll) write them as duplicates.
VIEW_OUTPUTS = card.view_outputs(True)
SELECTION_STATE = {
    "fb_text": State("fb-text", "value"),
    "fb_shown": State("fb-serial", "data"),
    "fb_box": State("fb-box", "data"),
}
VIEW_INPUTS = {"relayout": Input("fb-graph", "relayoutData"), "text": Input("fb-text", "value")}
VIEW_STATE = {"want": State("xai-want", "data"), "shown": State("fb-serial", "data"), "box": State("fb-box", "data")}
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
    """The feedback editor (``VIEW_OUTPUTS``) for a new selection, a drawn or edited box, or a
    change of the instruction."""
    out: dict[str, Any] = dict.fromkeys(VIEW_OUTPUTS, no_update)
    if triggered == "xai-want":
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


def selection_outputs(
    state: AppState, client: str, want: Any, target: Any, text: Any, shown: Any, box: Any, wait_s: float
) -> dict[str, Any]:
    """A new selection (the sync's ``xai-want``) in the sync's own answer (``card.SELECTION_OUTPUTS``):
    its saliency when the worker answers within ``wait_s`` ("computing" and the poll otherwise)
    and the feedback editor."""
    panel, status, poll_off = xai_outputs(state, want, target, client, "xai-want", wait_s)
    view = feedback_view_outputs(state, "xai-want", want, None, text, shown, box)
    return {"xai_panel": panel, "xai_status": status, "xai_poll_off": poll_off} | {
        f"fb_{k}": v for k, v in view.items()
    }


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
    @app.callback(
        Output("xai-panel", "children", allow_duplicate=True),
        Output("xai-status", "children", allow_duplicate=True),
        Output("xai-interval", "disabled", allow_duplicate=True),
        Input("xai-target", "value"),
        Input("xai-interval", "n_intervals"),
        State("xai-want", "data"),
        State("ll-events", "data"),
        prevent_initial_call=True,
    )
    def saliency(target, _n, want, events):
        # A poll only when the interval alone fired: a target change folded into the same round counts.
        polled = {t["prop_id"].rsplit(".", 1)[0] for t in ctx.triggered} == {"xai-interval"}
        return xai_outputs(state, want, target, _client(events), "xai-interval" if polled else "xai-want")

    connect(
        app, VIEW_OUTPUTS, VIEW_INPUTS, VIEW_STATE, partial(feedback_view_outputs, state), prevent_initial_call=True
    )

    def feedback_action(pressed: Any, serial: Any, box: Any, text: Any) -> dict[str, Any]:
        value = ctx.triggered[0]["value"] if ctx.triggered else None
        return feedback_action_outputs(state, pressed, value, serial, box, text)

    on_click(app, ACTION_OUTPUTS, ACTION_BUTTONS, ACTION_STATE, feedback_action)
