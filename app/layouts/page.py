"""The page skeleton: navbar, help overlay, stores and the grid the cards sit in (one module per card).

Like every layout module: pure functions from the page context (``app.viewmodels.PageContext``, built by
``app.server.layout_context``) to components.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import density_figures, figures
from app.classnames import DIGIT_KEYS, FEW_BUTTONS, PICKER_KEY
from app.colours import palette
from app.layouts.checkpoints import checkpoints_card
from app.layouts.latent_map import map_card
from app.layouts.model import model_page
from app.layouts.parts import raw_html
from app.layouts.probes import probes_card
from app.layouts.queue import queue_card
from app.layouts.runs import runs_page
from app.layouts.sample import sample_card
from app.layouts.stats import stats_card
from app.layouts.training import training_card
from app.layouts.workers import worker_line
from app.viewmodels import PageContext
from engine.images import SMOOTH_ABOVE

# (name, title, path) of every page of the app; all of them stay in the document and the URL
# only shows one (app/assets/clientside.js "page"), so the map, the selection and the sync survive a switch
PAGES = (("label", "Label", "/"), ("model", "Model", "/model"), ("runs", "Runs", "/runs"))

SHORTCUTS = [
    ("0 - 9", "label the selected sample with that class (the first ten classes)"),
    (PICKER_KEY, "find a class by name: type a few letters, ↑ ↓ to choose, Enter to label, Esc to close"),
    ("n  /  →  /  ↓", "next candidate in the queue"),
    ("p  /  ←  /  ↑", "previous candidate"),
    ("a", "accept the selected sample's label as right (suspicious labels)"),
    ("Backspace  /  Ctrl+Z", "undo the last label or acceptance"),
    ("Esc", "clear the selection"),
    ("?", "show or hide this help"),
]


def navbar(ctx: PageContext) -> Any:
    """The top bar: data set, model state, map version, notices, worker states and the help button."""
    trained = ctx.trained
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("LatentLoop", className="fw-bold me-3"),
                html.Nav(
                    [
                        dcc.Link(title, href=href, className="ll-nav-link", id=f"nav-{name}")
                        for name, title, href in PAGES
                    ],
                    className="ll-nav me-3",
                ),
                html.Span(
                    f"{ctx.dataset} · {ctx.n_points:,} points · {ctx.backend}", className="text-light small me-3"
                ),
                dbc.Badge(
                    "trained" if trained else "untrained",
                    id="model-badge",
                    color="success" if trained else "warning",
                    className="me-2",
                ),
                html.Span(
                    f"map v{ctx.version} · step {ctx.step}", id="version-text", className="text-light small me-3"
                ),
                html.Span("", id="notice", className="ll-notice small me-auto", role="status"),
                worker_line(),
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


def untrained_alert(ctx: PageContext) -> Any:
    """The warning shown while the map comes from an untrained encoder."""
    return dbc.Alert(
        [
            html.Strong("Untrained model. "),
            f"No checkpoint {ctx.checkpoint!r} was found, so the map shows the latent space of a freshly "
            "initialised encoder. Label a few samples and press Start to train.",
        ],
        id="untrained-alert",
        color="warning",
        is_open=not ctx.trained,
        dismissable=True,
        className="py-1 px-2 mb-2 small",
    )


def help_overlay() -> Any:
    """The keyboard shortcut help (shown and hidden by input.js, which also handles its Close
    button): read-only, so markup in one component rather than forty (``parts.raw_html``)."""
    rows = "".join(f'<tr><td class="pe-3"><kbd>{escape(k)}</kbd></td><td>{escape(d)}</td></tr>' for k, d in SHORTCUTS)
    return html.Div(
        raw_html(
            '<h5 class="mb-2">Keyboard shortcuts</h5>'
            f'<table class="mb-2"><tbody>{rows}</tbody></table>'
            '<p class="small text-muted mb-2">Keys are ignored while you type in a field. '
            "Labels are written to labels.csv at once.</p>"
            '<button id="help-close" type="button" class="btn btn-secondary btn-sm">Close</button>',
            class_name="ll-help-box",
        ),
        id="help-overlay",
        className="ll-help",
    )


def live_settings(ctx: PageContext) -> Any:
    """What poll.js needs: its periods and the server's keys when the page was built (a change
    after that fires the callback at once)."""
    live = ctx.live
    data = {
        "data-label-ms": ctx.label_poll_ms,
        "data-train-ms": ctx.train_poll_ms,
        "data-curve-ms": ctx.curve_ms,
        "data-key": live["key"],
        "data-events": live["train"]["events"],
    }
    return html.Div(id="ll-live", hidden=True, **data)


def trace_indices() -> Any:
    """Which trace of the map's figures is which, for the page's scripts (app/assets/00-ll.js
    ``LL.trace``): the one definition stays in app/figures.py and app/density_figures.py."""
    traces = {
        "base": figures.BASE,
        "overlay": figures.OVERLAY,
        "pending": figures.PENDING,
        "highlight": figures.HIGHLIGHT,
        "points": density_figures.POINTS,
    }
    return html.Div(id="ll-traces", hidden=True, **{f"data-{name}": i for name, i in traces.items()})


def class_names(ctx: PageContext) -> Any:
    """The dataset's class names for the page's scripts (sample.js, picker.js, overlay.js read
    ``LL.classNames()``): JSON in a data attribute, set once (names change only by the CLI); and
    the number of training samples."""
    return html.Div(
        id="ll-classes",
        hidden=True,
        **{
            "data-names": json.dumps(ctx.class_names),
            "data-colours": json.dumps(palette(len(ctx.class_names))),
            "data-few": FEW_BUTTONS,
            "data-keys": DIGIT_KEYS,
            "data-n-train": ctx.n_train,  # serials below it are training samples (input.js, xai.js)
        },
    )


def stores(ctx: PageContext) -> list[Any]:
    """The page's stores and intervals: what the callbacks and the page scripts share."""
    return [
        dcc.Store(id="ll-events", data={"client": "", "events": []}),  # written by input.js
        dcc.Store(id="ll-ack", data=0),
        dcc.Store(id="map-sync", data={}),
        dcc.Store(id="colour-store", data=None),
        dcc.Store(id="quality-store", data=None),  # label quality scores, sent while that mode is on
        dcc.Store(id="quality-want", data=None),  # clientside.js: "the tab switched to label quality"
        dcc.Store(id="queue-store", data=[]),
        dcc.Store(id="queue-samples", data=[]),  # the queued samples' panels (sample.js)
        dcc.Store(id="page-start", data={"log_id": ctx.log_id}),
        dcc.Store(id="map-version", data={"version": ctx.version}),
        dcc.Store(id="train-cursor", data={"c": ctx.status["saves"]}),  # checkpoint saves seen (the drain)
        # Ticked by app/assets/poll.js (never by a timer): the sync when the server's sync key
        # moved, the training drain when the run has something new to draw, the Model page's phase
        # line while it is shown; poll.js reads its settings from "ll-live".
        dcc.Store(id="label-poll", data=0),
        dcc.Store(id="train-interval", data=0),
        dcc.Store(id="model-tick", data=0),
        live_settings(ctx),
        trace_indices(),
        class_names(ctx),
        dcc.Store(id="fb-want", data=None),  # the selection, while the feedback editor is open (input.js)
        dcc.Store(id="fb-box", data=None),  # the drawn box, normalised [x0, y0, x1, y1]
        dcc.Store(id="fb-serial", data=None),  # the sample the feedback figure shows
        dcc.Store(id="model-version", data=None),  # the map version the Model page should show (sync)
        dcc.Store(id="model-highlight", data=None),  # the component a tau click chose (ringed on the map)
        dcc.Store(id="model-pinned", data=None),  # the microscope's interpolation start ("Pin as A")
        # the selection (written by input.js) and model-version, passed on only while /model is shown
        dcc.Store(id="model-want", data=None),
        dcc.Store(id="model-shown-version", data=None),
    ]


def label_page(ctx: PageContext) -> Any:
    """The labelling page: the map, the selected sample, the candidates, training, labels, checkpoints."""
    return dbc.Container(
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
                    dbc.Col(stats_card(ctx), lg=3, className="mb-2"),
                    dbc.Col(checkpoints_card(ctx), lg=3, className="mb-2"),
                ],
                className="g-2",
            ),
            dbc.Row(dbc.Col(probes_card(ctx), className="mb-2"), className="g-2"),
        ],
        fluid=True,
        className="pt-2",
    )


def image_classes(image_shape: tuple[int, int, int]) -> str:
    """The page root's classes that set how images are scaled (app/assets/style.css): ``ll-rgb``
    for colour, ``ll-smooth`` when the longest side is over engine.images.SMOOTH_ABOVE pixels
    (smaller images are enlarged by whole pixels, never blurred)."""
    h, w, c = image_shape
    return " ".join(["ll-app", *(["ll-rgb"] if c == 3 else []), *(["ll-smooth"] if max(h, w) > SMOOTH_ABOVE else [])])


def build_layout(ctx: PageContext) -> Any:
    """The whole app for one tab: every page, only the URL's one shown."""
    return html.Div(
        className=image_classes(ctx.image_shape),
        children=[
            dcc.Location(id="url", refresh=False),
            navbar(ctx),
            html.Div(label_page(ctx), id="page-label", className="ll-page"),
            html.Div(model_page(ctx), id="page-model", className="ll-page", style={"display": "none"}),
            html.Div(runs_page(ctx), id="page-runs", className="ll-page", style={"display": "none"}),
            help_overlay(),
            *stores(ctx),
        ],
    )
