"""The training card: the form, the buttons, the curves and the progress bar, and the parts the
training callbacks redraw."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures
from app.layouts.parts import card_header, small_button
from app.viewmodels import PageContext

# The training form in page order: input id, label, settings key, step. The training callback reads
# the fields through the same table, so ids and settings keys cannot drift apart.
TRAIN_FIELDS: tuple[tuple[str, str, str, int | str], ...] = (
    ("train-steps", "steps", "steps", 1),
    ("train-lr", "learning rate", "lr", "any"),
    ("train-refresh", "refresh map every", "refresh_every", 1),
    ("train-alpha", "α labels", "alpha", "any"),
    ("train-beta", "β KL(z)", "beta", "any"),
    ("train-gamma", "γ KL(c)", "gamma", "any"),
    ("train-cons", "consistency", "consistency", "any"),
)


# per button id (TRAIN_BUTTONS): label, colour, outlined
TRAIN_BUTTON_LOOKS = {
    "btn-start": ("Start", "primary", False),
    "btn-pause": ("Pause", "secondary", False),
    "btn-resume": ("Resume", "secondary", False),
    "btn-stop": ("Stop", "danger", True),
}


TRAIN_BUTTONS = ("btn-start", "btn-pause", "btn-resume", "btn-stop")


def _number_field(id_: str, label: str, value: Any, step: int | str) -> Any:
    # the input inside its label, which is the grid column: one component fewer than a Col around both
    return dbc.Label(
        [label, dbc.Input(id=id_, type="number", value=value, step=step, size="sm", debounce=True)],
        width=4,
        className="small mb-1 py-0",  # py-0: no col-form-label padding, as a plain label above its input
    )


def progress_bar(train: dict[str, Any]) -> Any:
    """The run's progress as Bootstrap markup; app/assets/poll.js moves it (no Dash callback)."""
    return html.Div(
        html.Div(
            train["label"],
            id="train-progress",
            className="progress-bar",
            role="progressbar",
            style={"width": f"{train['progress']}%"},
            **{"aria-valuenow": train["progress"], "aria-valuemin": 0, "aria-valuemax": 100},
        ),
        className="progress my-1 ll-progress",
    )


def training_card(ctx: PageContext) -> Any:
    """The training panel: state, the settings form, Start/Pause/Resume/Stop, progress and the curves."""
    s = ctx.settings
    st = ctx.status
    hist = ctx.history
    off = training_buttons_disabled(st["state"])
    return dbc.Card(
        [
            card_header(
                "Training",
                dbc.Badge(st["state"], id="train-state", color="secondary", className="me-2"),
                html.Span(f"phase {st['phase']}", id="train-phase", className="small me-2"),
                html.Span(f"step {st['step']}", id="train-step", className="small me-2"),
                html.Span(ctx.live["train"]["sps"], id="train-sps", className="small text-muted"),
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [_number_field(id_, label, s[key], step) for id_, label, key, step in TRAIN_FIELDS]
                        + [
                            dbc.Col(
                                dbc.Checkbox(
                                    id="train-save",
                                    label="save checkpoint when the run ends",
                                    value=True,
                                    className="small mt-3",
                                ),
                                width=8,
                            )
                        ],
                        className="g-1",
                    ),
                    html.Div(id="train-feedback"),
                    html.Div(
                        [
                            small_button(label, b, colour, outline=outline, disabled=off[b])
                            for b, (label, colour, outline) in TRAIN_BUTTON_LOOKS.items()
                        ],
                        className="my-1",
                    ),
                    progress_bar(ctx.live["train"]),
                    dbc.Alert(
                        st.get("error") or "",
                        id="train-error",
                        color="danger",
                        is_open=bool(st.get("error")),
                        className="small p-1 mb-1",
                    ),
                    html.Div(st.get("message") or "", id="train-message", className="small text-muted"),
                    dcc.Graph(
                        id="loss-curve",
                        config={"displayModeBar": False},
                        figure=figures.curve_figure(figures.LOSS_SERIES, hist, title="loss"),
                    ),
                    dcc.Graph(
                        id="acc-curve",
                        config={"displayModeBar": False},
                        figure=figures.curve_figure(
                            figures.ACC_SERIES, hist, [0, 1], "accuracy", figures.acc_names(ctx.acc_split)
                        ),
                    ),
                ],
                className="p-2",
            ),
        ],
        className="h-100",
    )


def field_errors(errors: dict[str, str]) -> Any:
    if not errors:
        return None
    return dbc.Alert([html.Div(msg) for msg in errors.values()], color="danger", className="small p-2 mb-1")


def training_buttons_disabled(state: str) -> dict[str, bool]:
    """Which training buttons are disabled in a session state: Start while a run is alive, Pause
    unless running, Resume unless paused, Stop unless running or paused."""
    alive = state in ("starting", "running", "paused", "stopping")
    enabled = {
        "btn-start": not alive,
        "btn-pause": state in ("starting", "running"),
        "btn-resume": state == "paused",
        "btn-stop": state in ("starting", "running", "paused"),
    }
    return {b: not enabled[b] for b in TRAIN_BUTTONS}
