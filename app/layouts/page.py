"""The page: pure functions from a context dict (AppState.page_context) to components."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures
from app.layouts.views import checkpoint_options, training_buttons_disabled
from app.services.embeddings import COLOUR_MODE_NAMES, COLOUR_MODES

SHORTCUTS = [
    ("0 - 9", "label the selected sample with that class"),
    ("n  /  →  /  ↓", "next candidate in the queue"),
    ("p  /  ←  /  ↑", "previous candidate"),
    ("Backspace  /  Ctrl+Z", "undo the last label"),
    ("Esc", "clear the selection"),
    ("?", "show or hide this help"),
]

GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}


def navbar(ctx: dict[str, Any]) -> Any:
    trained = ctx["trained"]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("LatentLoop", className="fw-bold me-3"),
                html.Span(
                    f"{ctx['dataset']} · {ctx['n_points']:,} points · {ctx['backend']}",
                    className="text-light small me-3",
                ),
                dbc.Badge(
                    "trained" if trained else "untrained",
                    id="model-badge",
                    color="success" if trained else "warning",
                    className="me-2",
                ),
                html.Span(
                    f"map v{ctx['version']} · step {ctx['step']}", id="version-text", className="text-light small me-3"
                ),
                html.Span("", id="notice", className="ll-notice small me-auto", role="status"),
                html.Span("", id="worker-status", className="small me-2 ll-workers"),
                dbc.Button(
                    "?",
                    id="help-button",
                    color="light",
                    size="sm",
                    outline=True,
                    title="keyboard shortcuts (?)",
                    className="ll-help-btn",
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="py-1 ll-navbar",
    )


def untrained_alert(ctx: dict[str, Any]) -> Any:
    return dbc.Alert(
        [
            html.Strong("Untrained model. "),
            f"No checkpoint {ctx['checkpoint']!r} was found, so the map shows the latent space of a freshly "
            "initialised encoder. Label a few samples and press Start to train.",
        ],
        id="untrained-alert",
        color="warning",
        is_open=not ctx["trained"],
        dismissable=True,
        className="py-1 px-2 mb-2 small",
    )


def map_card(ctx: dict[str, Any]) -> Any:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span("Latent map", className="fw-semibold me-3"),
                        dbc.RadioItems(
                            id="colour-mode",
                            value="label",
                            inline=True,
                            className="ll-colour-mode",
                            options=[{"label": COLOUR_MODE_NAMES[m], "value": m} for m in COLOUR_MODES],
                            inputClassName="btn-check",
                            labelClassName="btn btn-outline-secondary btn-sm",
                            labelCheckedClassName="active",
                        ),
                    ],
                    className="d-flex align-items-center flex-wrap",
                )
            ),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            dcc.Graph(
                                id="latent-map",
                                figure=figures.empty_map("loading the map…"),
                                config=GRAPH_CONFIG,
                                className="ll-map",
                                clear_on_unhover=True,
                            ),
                            # labelled points and the selection ring, drawn over the big map (see app/figures.py)
                            dcc.Graph(
                                id="latent-overlay",
                                figure=figures.empty_map(transparent=True),
                                className="ll-overlay",
                                config={"displayModeBar": False, "scrollZoom": False, "doubleClick": False},
                            ),
                        ],
                        className="ll-map-wrap",
                    ),
                    html.Div(
                        [
                            html.Span("outlined: your labels", className="me-3"),
                            html.Span("pink ring: selected", className="me-3"),
                            html.Span("scroll to zoom, drag to pan, double-click to reset", className="text-muted"),
                        ],
                        className="small ll-legend",
                    ),
                ],
                className="p-1",
            ),
        ],
        className="h-100",
    )


def xai_targets(num_classes: int) -> list[dict[str, Any]]:
    return [{"label": "predicted class", "value": "pred"}, {"label": "true label", "value": "true"}] + [
        {"label": f"class {c}", "value": str(c)} for c in range(num_classes)
    ]


def explain_section(ctx: dict[str, Any]) -> Any:
    """Saliency of the selected sample (XAI worker) and the feedback box editor."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Why", className="fw-semibold me-2"),
                    dcc.Dropdown(
                        id="xai-target",
                        options=xai_targets(ctx["num_classes"]),
                        value="pred",
                        clearable=False,
                        searchable=False,
                        className="ll-xai-target",
                    ),
                    html.Span("", id="xai-status", className="small text-muted ms-2"),
                ],
                className="d-flex align-items-center mt-2 mb-1",
            ),
            html.Div(id="xai-panel", className="ll-xai"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span("Where should it look?", className="fw-semibold me-2"),
                            html.Span("drag a box on the image, or type where", className="small text-muted"),
                        ],
                        className="mt-2",
                    ),
                    html.Div(
                        [
                            dcc.Graph(
                                id="fb-graph",
                                figure=figures.feedback_figure(None),
                                config=figures.FEEDBACK_CONFIG,
                                className="ll-fb-graph",
                            ),
                            html.Div(
                                [
                                    dbc.Input(
                                        id="fb-text",
                                        size="sm",
                                        placeholder="e.g. focus center · ignore the borders · top-left · strength 0.3",
                                        debounce=False,
                                        className="mb-1",
                                    ),
                                    html.Div(id="fb-parsed", className="small mb-1 ll-fb-parsed"),
                                    dbc.Button(
                                        "Apply",
                                        id="fb-apply",
                                        size="sm",
                                        color="primary",
                                        className="me-1",
                                        disabled=True,
                                    ),
                                    dbc.Button(
                                        "Remove box", id="fb-remove", size="sm", color="secondary", outline=True
                                    ),
                                    html.Div(id="fb-message", className="small mt-1", role="status"),
                                ],
                                className="ll-fb-controls",
                            ),
                        ],
                        className="ll-fb-row",
                    ),
                ],
                id="fb-section",
                style={"display": "none"},
            ),
            html.Details(
                [html.Summary("all feedback boxes", className="small"), html.Div(id="fb-list")],
                className="mt-1",
                id="fb-details",
            ),
        ]
    )


def sample_card(ctx: dict[str, Any]) -> Any:
    return dbc.Card(
        [
            dbc.CardHeader(html.Span("Sample", className="fw-semibold")),
            dbc.CardBody([html.Div(id="sample-panel"), explain_section(ctx)], className="p-2"),
        ],
        className="mb-2",
    )


def queue_card(ctx: dict[str, Any]) -> Any:
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span("Candidates", className="fw-semibold me-2"),
                        dcc.Dropdown(
                            id="queue-strategy",
                            options=ctx["strategies"],
                            value="entropy",
                            clearable=False,
                            searchable=False,
                            className="ll-strategy",
                        ),
                    ],
                    className="d-flex align-items-center",
                )
            ),
            dbc.CardBody(
                [
                    html.Div(id="queue-source", className="text-muted small mb-1"),
                    html.Div(id="queue-list", className="ll-queue-box"),
                ],
                className="p-2",
            ),
        ]
    )


def _num(id_: str, label: str, value: Any, step: Any = "any", width: int = 4) -> Any:
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            dbc.Input(id=id_, type="number", value=value, step=step, size="sm", debounce=True),
        ],
        width=width,
        className="mb-1",
    )


def training_card(ctx: dict[str, Any]) -> Any:
    s = ctx["settings"]
    st = ctx["status"]
    hist = ctx["history"]
    off = training_buttons_disabled(st["state"])
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Span("Training", className="fw-semibold me-2"),
                        dbc.Badge(st["state"], id="train-state", color="secondary", className="me-2"),
                        html.Span(f"phase {st['phase']}", id="train-phase", className="small me-2"),
                        html.Span(f"step {st['step']}", id="train-step", className="small me-2"),
                        html.Span("", id="train-sps", className="small text-muted"),
                    ],
                    className="d-flex align-items-center flex-wrap",
                )
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            _num("train-steps", "steps", s["steps"], 1),
                            _num("train-lr", "learning rate", s["lr"]),
                            _num("train-refresh", "refresh map every", s["refresh_every"], 1),
                            _num("train-alpha", "α labels", s["alpha"]),
                            _num("train-beta", "β KL(z)", s["beta"]),
                            _num("train-gamma", "γ KL(c)", s["gamma"]),
                            _num("train-cons", "consistency", s["consistency"], width=4),
                            dbc.Col(
                                dbc.Checkbox(
                                    id="train-save",
                                    label="save checkpoint when the run ends",
                                    value=True,
                                    className="small mt-3",
                                ),
                                width=8,
                            ),
                        ],
                        className="g-1",
                    ),
                    html.Div(id="train-feedback"),
                    html.Div(
                        [
                            dbc.Button(
                                "Start",
                                id="btn-start",
                                color="primary",
                                size="sm",
                                className="me-1",
                                disabled=off["btn-start"],
                            ),
                            dbc.Button(
                                "Pause",
                                id="btn-pause",
                                color="secondary",
                                size="sm",
                                className="me-1",
                                disabled=off["btn-pause"],
                            ),
                            dbc.Button(
                                "Resume",
                                id="btn-resume",
                                color="secondary",
                                size="sm",
                                className="me-1",
                                disabled=off["btn-resume"],
                            ),
                            dbc.Button(
                                "Stop", id="btn-stop", color="danger", size="sm", outline=True, disabled=off["btn-stop"]
                            ),
                        ],
                        className="my-1",
                    ),
                    dbc.Progress(id="train-progress", value=0, label="", className="my-1 ll-progress"),
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
                        figure=figures.curve_figure(figures.ACC_SERIES, hist, yrange=[0, 1], title="accuracy"),
                    ),
                ],
                className="p-2",
            ),
        ],
        className="h-100",
    )


def stats_card() -> Any:
    return dbc.Card(
        [
            dbc.CardHeader(html.Span("Labels", className="fw-semibold")),
            dbc.CardBody([html.Div(id="stats-bar"), html.Div(id="stats-text")], className="p-2"),
        ],
        className="h-100",
    )


def checkpoints_card(ctx: dict[str, Any]) -> Any:
    return dbc.Card(
        [
            dbc.CardHeader(html.Span("Checkpoints", className="fw-semibold")),
            dbc.CardBody(
                [
                    dbc.Label("checkpoint", html_for="ckpt-select", className="small mb-0"),
                    dcc.Dropdown(
                        id="ckpt-select",
                        options=checkpoint_options(ctx["checkpoints"]),
                        value=ctx["checkpoint"] if ctx["has_checkpoint"] else None,
                        clearable=False,
                        placeholder="no checkpoints yet",
                        className="mb-1 small",
                    ),
                    dbc.Label("name (save as / fork to)", html_for="ckpt-name", className="small mb-0"),
                    dbc.Input(id="ckpt-name", value=ctx["checkpoint"], size="sm", className="mb-1"),
                    html.Div(
                        [
                            dbc.Button(
                                "Save",
                                id="btn-ckpt-save",
                                size="sm",
                                color="primary",
                                className="me-1",
                                title="save the current model under the name",
                            ),
                            dbc.Button(
                                "Load",
                                id="btn-ckpt-load",
                                size="sm",
                                color="secondary",
                                className="me-1",
                                title="load the selected checkpoint (training must be stopped)",
                            ),
                            dbc.Button(
                                "Fork",
                                id="btn-ckpt-fork",
                                size="sm",
                                color="secondary",
                                title="copy the selected checkpoint to the name",
                            ),
                        ]
                    ),
                    html.Div(id="ckpt-message", className="small mt-1"),
                ],
                className="p-2",
            ),
        ],
        className="h-100",
    )


def help_overlay() -> Any:
    return html.Div(
        html.Div(
            [
                html.H5("Keyboard shortcuts", className="mb-2"),
                html.Table(
                    html.Tbody([html.Tr([html.Td(html.Kbd(k), className="pe-3"), html.Td(d)]) for k, d in SHORTCUTS]),
                    className="mb-2",
                ),
                html.P(
                    "Keys are ignored while you type in a field. Labels are written to labels.csv at once.",
                    className="small text-muted mb-2",
                ),
                dbc.Button("Close", id="help-close", size="sm", color="secondary"),
            ],
            className="ll-help-box",
        ),
        id="help-overlay",
        className="ll-help",
    )  # shown by keyboard.js


def stores(ctx: dict[str, Any]) -> list[Any]:
    return [
        dcc.Store(id="ll-events", data={"client": "", "events": []}),  # written by keyboard.js
        dcc.Store(id="ll-ack", data=0),
        dcc.Store(id="map-sync", data={}),
        dcc.Store(id="colour-store", data=None),
        dcc.Store(id="queue-store", data=[]),
        dcc.Store(id="page-start", data={"log_id": ctx["log_id"]}),
        dcc.Store(id="map-version", data={"version": ctx["version"]}),
        dcc.Store(
            id="train-cursor",
            data={
                "m": len(ctx["history"].get("loss", ([], []))[0]),
                "e": len(ctx["history"].get("test_acc", ([], []))[0]),
                "c": ctx["status"]["saves"],
            },
        ),  # checkpoint saves seen
        dcc.Interval(id="label-poll", interval=ctx["label_poll_ms"]),
        dcc.Interval(id="train-interval", interval=ctx["train_poll_ms"], disabled=not ctx["status"]["busy"]),
        dcc.Store(id="xai-want", data=None),  # the selection the saliency/feedback parts work on
        dcc.Interval(id="xai-interval", interval=100, disabled=True),  # while a saliency is pending
        dcc.Store(id="fb-box", data=None),  # the drawn box, normalised [x0, y0, x1, y1]
        dcc.Store(id="fb-serial", data=None),  # the sample the feedback figure shows
    ]


def build_layout(ctx: dict[str, Any]) -> Any:
    """The whole page for one tab."""
    return html.Div(
        [
            navbar(ctx),
            dbc.Container(
                [
                    untrained_alert(ctx),
                    dbc.Row(
                        [
                            dbc.Col(map_card(ctx), lg=8, className="mb-2"),
                            dbc.Col([sample_card(ctx), queue_card(ctx)], lg=4, className="mb-2"),
                        ],
                        className="g-2",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(training_card(ctx), lg=6, className="mb-2"),
                            dbc.Col(stats_card(), lg=3, className="mb-2"),
                            dbc.Col(checkpoints_card(ctx), lg=3, className="mb-2"),
                        ],
                        className="g-2",
                    ),
                ],
                fluid=True,
                className="pt-2",
            ),
            help_overlay(),
            *stores(ctx),
        ]
    )
