"""The Model page: inside the mixture model (docs/model-page.md).

Pure functions from plain data to components: the page skeleton (filled by app/callbacks/model.py),
the component gallery, the lenses and the latent microscope.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures
from app.layouts.parts import card_header, small_button
from app.layouts.views import raw_html
from engine.curriculum import PHASES

WEIGHT_KEYS = ("alpha", "beta", "gamma", "consistency", "usage")
WEIGHT_NAMES = {"alpha": "α", "beta": "β", "gamma": "γ", "consistency": "cons.", "usage": "usage"}
# engine.curriculum's schedule names the weights by LOSS_WEIGHT_KEYS
SHOWN_WEIGHTS = {"alpha": "α", "beta": "β", "gamma": "γ", "cons": "cons.", "usage": "usage"}


def _graph(id_: str, height: int) -> Any:
    return dcc.Graph(
        id=id_,
        figure=figures.empty_map("waiting for the first map…"),
        config={"displaylogo": False, "displayModeBar": False},
        style={"height": f"{height}px"},
    )


def curriculum_card(ctx: dict[str, Any]) -> Any:
    """The current phase and its weights; phase lengths and per-phase weights for the next run; advance."""
    cur = ctx.get("curriculum", {})
    rows = []
    for phase in PHASES:
        cells = [html.Td(phase, className="pe-2")]
        for key in WEIGHT_KEYS:
            cells.append(
                html.Td(
                    dbc.Input(
                        id={"type": "phase-weight", "phase": phase, "key": key},
                        type="number",
                        min=0,
                        step="any",
                        size="sm",
                        placeholder="default",
                        className="ll-phase-weight",
                    )
                )
            )
        rows.append(html.Tr(cells))
    return dbc.Card(
        [
            card_header("Curriculum"),
            dbc.CardBody(
                [
                    html.Div(id="model-phase", className="small mb-2"),
                    small_button("Advance to next phase", "model-advance", "warning", disabled=True),
                    html.Span("", id="model-advance-msg", className="small ms-2", role="status"),
                    html.Hr(className="my-2"),
                    html.Div("For the next run (Start on the Label page):", className="small fw-semibold"),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("warm-up steps", className="small mb-0"),
                                    dbc.Input(
                                        id="cur-warmup",
                                        type="number",
                                        min=0,
                                        step=1,
                                        size="sm",
                                        value=cur.get("warmup_steps"),
                                    ),
                                ],
                                width=4,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("KL anneal steps", className="small mb-0"),
                                    dbc.Input(
                                        id="cur-anneal",
                                        type="number",
                                        min=0,
                                        step=1,
                                        size="sm",
                                        value=cur.get("anneal_steps"),
                                    ),
                                ],
                                width=4,
                            ),
                        ],
                        className="g-1 mb-1",
                    ),
                    html.Table(
                        [
                            html.Thead(html.Tr([html.Th("phase")] + [html.Th(WEIGHT_NAMES[k]) for k in WEIGHT_KEYS])),
                            html.Tbody(rows),
                        ],
                        className="small ll-phase-table",
                    ),
                    html.Div(
                        "Empty = the schedule's default (docs/formats.md, Curriculum).", className="small text-muted"
                    ),
                ],
                className="p-2",
            ),
        ],
        className="mb-2",
    )


def model_page(ctx: dict[str, Any]) -> Any:
    """The Model page's cards (filled by the model callbacks when the page is shown)."""
    return dbc.Container(
        [
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                card_header(
                                    "Components x classes (tau)",
                                    html.Span(id="model-tau-info", className="small text-muted"),
                                ),
                                dbc.CardBody(
                                    [
                                        _graph("model-tau", 320),
                                        html.Div(
                                            "rows: component · certainty (max tau) · usage (mean responsibility) · "
                                            "labelled samples; click a cell to see the component's samples",
                                            className="small text-muted",
                                        ),
                                    ],
                                    className="p-1",
                                ),
                            ],
                            className="mb-2",
                        ),
                        lg=6,
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                card_header(
                                    "Component samples",
                                    small_button("Clear highlight", "model-clear", "secondary", outline=True),
                                ),
                                dbc.CardBody(html.Div(id="model-members", className="small"), className="p-2"),
                            ],
                            className="mb-2",
                        ),
                        lg=6,
                    ),
                ],
                className="g-2",
            ),
            dbc.Card(
                [
                    card_header("Component lenses", html.Span("most used first", className="small text-muted")),
                    dbc.CardBody(html.Div(id="model-lenses"), className="p-2"),
                ],
                className="mb-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                card_header(
                                    "Latent microscope",
                                    small_button("Pin as A", "model-pin", "secondary", outline=True),
                                ),
                                dbc.CardBody(html.Div(id="model-microscope", className="small"), className="p-2"),
                            ],
                            className="mb-2",
                        ),
                        lg=6,
                    ),
                    dbc.Col(
                        [
                            dbc.Card(
                                [
                                    card_header("Mixture over time"),
                                    dbc.CardBody(_graph("model-metrics", 460), className="p-1"),
                                ],
                                className="mb-2",
                            ),
                            curriculum_card(ctx),
                        ],
                        lg=6,
                    ),
                ],
                className="g-2",
            ),
        ],
        fluid=True,
        className="pt-2",
        id="model-page",
    )


def members_panel(
    component: int | None, serials: Sequence[int], ok: Sequence[bool], images: Sequence[str], total: int
) -> Any:
    """The gallery of a component's samples, each marked by whether its prediction is right."""
    if component is None:
        return html.P("Click a cell of the tau matrix.", className="text-muted mb-0", id="model-members-empty")
    tiles = "".join(
        f'<figure class="ll-member {"ok" if good else "bad"}" data-serial="{int(s)}">'
        f'<img src="{src}" alt="#{int(s)}"><figcaption>#{int(s)} {"✓" if good else "✗"}</figcaption></figure>'
        for s, good, src in zip(serials, ok, images, strict=True)
    )
    head = (
        f'<div class="mb-1" id="model-members-head" data-component="{component}">component <b>{component}</b>: '
        f"{total} samples have it as their dominant component; the {len(serials)} most responsible shown "
        f"(✓ prediction matches the true class, ✗ it does not; ringed the same way on the Label page's map)</div>"
    )
    return raw_html(head + f'<div class="ll-members">{tiles}</div>', id_="model-members-grid")


def lenses_panel(lenses: Sequence[Any]) -> Any:
    """One row per component: prototype, top-16 gallery, usage, tau class, flags."""
    if not lenses:
        return html.P("No map yet.", className="text-muted small mb-0")
    rows = []
    for lens in lenses:
        st = lens.stats
        flags = ('<span class="badge bg-danger ms-1">dead</span>' if st.dead else "") + (
            '<span class="badge bg-warning text-dark ms-1">redundant</span>' if st.redundant else ""
        )
        proto = f'<img class="ll-proto" src="{lens.prototype}" alt="prototype">' if lens.prototype else ""
        rows.append(
            f'<div class="ll-lens" data-component="{st.component}">'
            f'<div class="ll-lens-info"><b>c{st.component}</b> → class {st.tau_class} '
            f"({st.certainty:.2f})<br>usage {100 * st.usage:.1f}% · {st.labelled} labelled{flags}</div>"
            f'{proto}<img class="ll-lens-gallery" src="{lens.gallery}" alt="top 16 of c{st.component}"></div>'
        )
    return raw_html("".join(rows), class_name="ll-lenses")


def microscope_panel(m: Any, pinned: int | None) -> Any:
    """Traversal grid, reconstruction and error, and the interpolation strip from the pinned sample."""
    if m is None:
        return html.P(
            "Select a sample (click the map or a gallery image on the Label page) to look at its latent code.",
            className="text-muted mb-0",
        )
    strip = (
        f'<div class="mt-2">interpolation #{m.other} → #{m.serial}<br>'
        f'<img class="ll-strip" src="{m.strip}" alt="interpolation"></div>'
        if m.strip
        else f'<div class="mt-2 text-muted">Pin a sample as A (button above), select another: the decoded '
        f"interpolation between them appears here{f' (A = #{pinned})' if pinned is not None else ''}.</div>"
    )
    return raw_html(
        f'<div id="model-micro-head" data-serial="{m.serial}">sample <b>#{m.serial}</b>: '
        f'image <img class="ll-digit-s" src="{m.image}" alt="image"> '
        f'reconstruction <img class="ll-digit-s" src="{m.recon}" alt="reconstruction"> '
        f"error {m.error:.4f} (mean squared, per pixel)</div>"
        f'<div class="mt-2">traversal: one row per latent dimension ({m.dims}), from -2 to +2 standard '
        "deviations around the sample's mean"
        f'<br><img class="ll-traversal" src="{m.traversal}" alt="traversal" data-dims="{m.dims}"></div>' + strip
    )


def phase_text(status: dict[str, Any], info: dict[str, Any] | None) -> Any:
    """The current phase, since when, and its loss weights."""
    if not info:
        return f"phase {escape(str(status.get('phase', '?')))}"
    w = " · ".join(f"{name} {info['weights'][k]:g}" for k, name in SHOWN_WEIGHTS.items() if k in info["weights"])
    return [
        html.Span(f"phase {info['phase']}", className="fw-semibold", id="model-phase-name"),
        f" since step {info['start']} (step {status.get('step', 0)}) · weights: {w}",
    ]
