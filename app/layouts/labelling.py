"""The labelling row: the latent map, the selected sample (saliency, feedback box editor) and the candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import feedback_figures, figures
from app.layouts.parts import card_header, menu, small_button
from app.services.embeddings import COLOUR_MODE_NAMES, COLOUR_MODES
from app.services.projection import PROJECTION_NAMES, PROJECTIONS
from app.viewmodels import PageContext

GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}


def toggle(id_: str, value: str, names: dict[str, str], values: Sequence[str], extra: str = "") -> Any:
    """A row of small buttons of which one is on (the map card's colour mode and projection)."""
    return dbc.RadioItems(
        id=id_,
        value=value,
        inline=True,
        className=f"ll-colour-mode {extra}".strip(),
        options=[{"label": names[v], "value": v} for v in values],
        inputClassName="btn-check",
        labelClassName="btn btn-outline-secondary btn-sm",
        labelCheckedClassName="active",
    )


def probe_menu(options: list[dict[str, str]]) -> Any:
    """Which probe's target or prediction the "Probe" colour mode shows (options: the sync)."""
    return dcc.Dropdown(
        id="probe-colour",
        options=options,
        value=options[0]["value"] if options else None,
        clearable=False,
        searchable=False,
        placeholder="probe",
        className="ll-probe-colour ms-1",
    )


def map_card(ctx: PageContext) -> Any:
    """The latent map with its colour-mode switch and the overlay drawn over it."""
    return dbc.Card(
        [
            card_header(
                "Latent map",
                toggle("colour-mode", "label", COLOUR_MODE_NAMES, COLOUR_MODES),
                probe_menu(ctx.probe_options),
                toggle("projection", ctx.projection, PROJECTION_NAMES, PROJECTIONS, "ms-2"),
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
                            # labelled points, drawn over the big map (see app/figures.py)
                            dcc.Graph(
                                id="latent-overlay",
                                figure=figures.empty_map(transparent=True),
                                className="ll-overlay",
                                config={"displayModeBar": False, "scrollZoom": False, "doubleClick": False},
                            ),
                            html.Div(id="map-ring", className="ll-ring"),  # placed by app/assets/keyboard.js
                        ],
                        className="ll-map-wrap",
                    ),
                    html.Div(
                        [
                            html.Span("outlined: your labels", className="me-3"),
                            html.Span("pink ring: selected", className="me-3"),
                            html.Span("scroll to zoom, drag to pan, double-click to reset", className="text-muted"),
                            html.Span("", id="projection-status", className="ms-3 ll-projection-status"),
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
    """The saliency target menu: the predicted class, the true label, or any class."""
    return [{"label": "predicted class", "value": "pred"}, {"label": "true label", "value": "true"}] + [
        {"label": f"class {c}", "value": str(c)} for c in range(num_classes)
    ]


def explain_section(ctx: PageContext) -> Any:
    """Saliency of the selected sample (XAI worker) and the feedback box editor."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Why", className="fw-semibold me-2"),
                    menu("xai-target", xai_targets(ctx.num_classes), "pred", "ll-xai-target"),
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
                                figure=feedback_figures.feedback_figure(None),
                                config=feedback_figures.FEEDBACK_CONFIG,
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
                                    small_button("Apply", "fb-apply", "primary", disabled=True),
                                    small_button("Remove box", "fb-remove", "secondary", outline=True),
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


def sample_card(ctx: PageContext) -> Any:
    """The selected sample (filled by the sync callback) with its explanation section."""
    return dbc.Card(
        [card_header("Sample"), dbc.CardBody([html.Div(id="sample-panel"), explain_section(ctx)], className="p-2")],
        className="mb-2",
    )


def queue_card(ctx: PageContext) -> Any:
    """The candidate queue and its strategy menu."""
    return dbc.Card(
        [
            card_header("Candidates", menu("queue-strategy", ctx.strategies, "entropy", "ll-strategy")),
            dbc.CardBody(
                [
                    html.Div(id="queue-source", className="text-muted small mb-1"),
                    html.Div(id="queue-list", className="ll-queue-box"),
                ],
                className="p-2",
            ),
        ]
    )
