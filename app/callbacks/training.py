"""Training panel callbacks: Start/Pause/Resume/Stop, and draining the trainer's events.

The drain is fired by app/assets/poll.js (``train-interval``) only when the run's state, phase,
saves or messages changed; the step, the speed, the progress bar and the curves' new points are
written by poll.js itself from the live endpoint (LabelPage.live, app/presenter/label_page.py)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, no_update

from app.callbacks.wiring import connect, on_click
from app.layouts import checkpoints, training
from app.layouts.training import TRAIN_FIELDS
from app.state import AppState

STATE_COLOURS = {
    "running": "success",
    "starting": "info",
    "paused": "warning",
    "stopping": "warning",
    "error": "danger",
    "finished": "primary",
    "stopped": "secondary",
    "idle": "secondary",
}
BUTTONS = training.TRAIN_BUTTONS


def _key(button: str) -> str:
    return "dis_" + button.removeprefix("btn-")


def button_outputs(state: AppState) -> dict[str, bool]:
    """The training buttons' ``disabled`` flags for the session's state (output names ``dis_start``, ...)."""
    return {_key(b): off for b, off in training.training_buttons_disabled(state.session.status()["state"]).items()}


def command_outputs(state: AppState, button: str | None, values: dict[str, Any]) -> dict[str, Any]:
    """The panel after a button press: ``feedback`` (errors) and the buttons (the rest follows with
    the drain that poll.js fires when the run's state changed)."""
    if button == "btn-start":
        out = {"feedback": training.field_errors(state.session.start_from_panel(values))}
    elif button in ("btn-pause", "btn-resume", "btn-stop"):
        err = state.session.command(button.removeprefix("btn-"))
        out = {"feedback": training.field_errors({"_": err}) if err else None}
    else:
        return {"feedback": no_update} | {_key(b): no_update for b in BUTTONS}
    return out | button_outputs(state)


def checkpoint_menu(state: AppState, selected: Any) -> dict[str, Any]:
    """The checkpoint dropdown after a save: every checkpoint, the saved one chosen if none was."""
    st = state.session.status()
    return {
        "ckpt_options": checkpoints.checkpoint_options(state.ckpt.list()),
        "ckpt_value": selected or st["saved_name"] or no_update,
    }


def drain_outputs(state: AppState, cursor: Any, ckpt_selected: Any = None) -> dict[str, Any]:
    """Fold the trainer's events into the panel: the state, the phase, messages, the buttons and,
    after a save, the checkpoint menu (plain function, tested without a browser). The curves are
    not drawn here: poll.js extends them from the live endpoint (LabelPage.curve_update)."""
    state.session.drain()
    st = state.session.status()
    cur = cursor if isinstance(cursor, dict) else {}
    saved = cur.get("c") != st["saves"]  # a checkpoint was saved since this tab last looked
    menu = checkpoint_menu(state, ckpt_selected) if saved else {"ckpt_options": no_update, "ckpt_value": no_update}
    return (
        {
            "cursor": {"c": st["saves"]},
            "state": st["state"],
            "state_colour": STATE_COLOURS.get(st["state"], "secondary"),
            "phase": f"phase {st['phase']}",
            "error": st["error"],
            "error_open": bool(st["error"]) and st["state"] == "error",
            "message": st["message"],
        }
        | menu
        | button_outputs(state)
    )


def register(app: Any, state: AppState) -> None:
    buttons = {_key(b): Output(b, "disabled", allow_duplicate=True) for b in BUTTONS}
    command_state = {
        "values": [State(id_, "value") for id_, *_ in TRAIN_FIELDS],
        "save": State("train-save", "value"),
        # the Model page's curriculum card: phase lengths and per-phase weights for the next run
        "warmup": State("cur-warmup", "value"),
        "anneal": State("cur-anneal", "value"),
        "weights": State({"type": "phase-weight", "phase": ALL, "key": ALL}, "value"),
        "weight_ids": State({"type": "phase-weight", "phase": ALL, "key": ALL}, "id"),
    }

    def command(
        pressed: Any, values: list[Any], save: Any, warmup: Any, anneal: Any, weights: Any, weight_ids: Any
    ) -> dict[str, Any]:
        vals: dict[str, Any] = {key: v for (_, _, key, _), v in zip(TRAIN_FIELDS, values, strict=True)}
        vals["save_at_end"] = bool(save)
        vals["warmup_steps"], vals["anneal_steps"] = warmup, anneal
        per_phase: dict[str, dict[str, Any]] = {}
        for wid, w in zip(weight_ids or [], weights or [], strict=True):
            per_phase.setdefault(wid["phase"], {})[wid["key"]] = w
        vals["phase_weights"] = per_phase
        return command_outputs(state, pressed, vals)

    on_click(app, {"feedback": Output("train-feedback", "children")} | buttons, BUTTONS, command_state, command)

    def drain(fired: Any, n: Any, cursor: Any, selected: Any) -> dict[str, Any]:
        return drain_outputs(state, cursor, selected)

    connect(
        app,
        {
            "cursor": Output("train-cursor", "data"),
            "state": Output("train-state", "children"),
            "state_colour": Output("train-state", "color"),
            "phase": Output("train-phase", "children"),
            "error": Output("train-error", "children"),
            "error_open": Output("train-error", "is_open"),
            "message": Output("train-message", "children"),
            "ckpt_options": Output("ckpt-select", "options", allow_duplicate=True),
            "ckpt_value": Output("ckpt-select", "value", allow_duplicate=True),
        }
        | {k: Output(b, "disabled") for k, b in zip(buttons, BUTTONS, strict=True)},
        {"n": Input("train-interval", "data")},
        {"cursor": State("train-cursor", "data"), "selected": State("ckpt-select", "value")},
        drain,
        prevent_initial_call=True,
    )
