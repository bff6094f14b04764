"""The sample's explanation section: the saliency panel (drawn by app/assets/xai.js) and the feedback
box editor, and the list of feedback boxes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import feedback_figures
from app.layouts.parts import menu, small_button
from app.viewmodels import PageContext


def xai_targets(names: Sequence[str], has_truth: bool = True) -> list[dict[str, Any]]:
    """The saliency target menu: the predicted class, the true label (only where the dataset knows
    every true class), or any class (by name)."""
    true = [{"label": "true label", "value": "true"}] if has_truth else []
    return [{"label": "predicted class", "value": "pred"}, *true] + [
        {"label": f"class {name}", "value": str(c), "title": name} for c, name in enumerate(names)
    ]


def explain_section(ctx: PageContext) -> Any:
    """Saliency of the selected sample (XAI worker) and the feedback box editor."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Why", className="fw-semibold me-2"),
                    menu("xai-target", xai_targets(ctx.class_names, ctx.has_truth), "pred", "ll-xai-target"),
                    html.Span("", id="xai-status", className="small text-muted ms-2"),
                ],
                className="d-flex align-items-center mt-2 mb-1",
            ),
            # the page's own (app/assets/xai.js, from /_ll/saliency): Dash never writes into it
            html.Div(id="xai-panel", className="ll-xai"),
            # Closed, the editor costs a selection nothing; open, it follows the selection (fb-want,
            # written by app/assets/input.js) with a callback each.
            html.Details(
                [
                    html.Summary(
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
                        id="fb-section",
                        style={"display": "none"},
                    ),
                ],
                id="fb-open",
            ),
            html.Details(
                [html.Summary("all feedback boxes", className="small"), html.Div(id="fb-list")],
                className="mt-1",
                id="fb-details",
            ),
        ]
    )


def feedback_list(items: Sequence[Any], error: str = "") -> Any:
    """Every stored feedback box with a button to remove it."""
    if error:
        return dbc.Alert(error, color="danger", className="small p-1 mb-0")
    if not items:
        return html.P("No feedback boxes yet.", className="small text-muted mb-0")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(f"#{i.sample_idx}", className="fw-semibold me-2"),
                    html.Span(
                        f"x {i.x0:.2f}-{i.x1:.2f} y {i.y0:.2f}-{i.y1:.2f} · strength {i.strength:.2f}", className="me-2"
                    ),
                    html.Span(f"“{i.instruction}”" if i.instruction else "", className="text-muted me-2"),
                    html.Button(
                        "remove",
                        id={"type": "fb-rm", "serial": int(i.sample_idx)},
                        className="btn btn-link btn-sm p-0",
                        title=f"remove the box of #{i.sample_idx}",
                    ),
                ],
                className="small",
                **{"data-serial": str(i.sample_idx)},
            )
            for i in items
        ],
        className="ll-fb-list mb-0",
    )
