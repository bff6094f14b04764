"""The Model page: inside the mixture model (docs/model-page.md).

Pure functions from plain data to components: the page skeleton (filled by app/callbacks/model.py),
the component gallery, the lenses and the latent microscope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures
from app.classnames import name_of
from app.layouts.parts import card_header, small_button
from app.viewmodels import PageContext
from engine.training.curriculum import PHASES

WEIGHT_KEYS = ("alpha", "beta", "gamma", "consistency", "usage")
WEIGHT_NAMES = {"alpha": "α", "beta": "β", "gamma": "γ", "consistency": "cons.", "usage": "usage"}
# engine.training.curriculum's schedule names the weights by LOSS_WEIGHT_KEYS
SHOWN_WEIGHTS = {"alpha": "α", "beta": "β", "gamma": "γ", "cons": "cons.", "usage": "usage"}


def _graph(id_: str, height: int) -> Any:
    return dcc.Graph(
        id=id_,
        figure=figures.empty_map("waiting for the first map…"),
        config={"displaylogo": False, "displayModeBar": False},
        style={"height": f"{height}px"},
    )


def _steps_field(id_: str, label: str, value: Any) -> Any:
    # the input inside its label, which is the grid column (no Col component around both)
    return dbc.Label(
        [label, dbc.Input(id=id_, type="number", min=0, step=1, size="sm", value=value)],
        width=4,
        className="small mb-0 py-0",
    )


def curriculum_card(ctx: PageContext) -> Any:
    """The current phase and its weights; phase lengths and per-phase weights for the next run; advance."""
    cur = ctx.curriculum
    # A grid of the inputs rather than a table: no row and cell components around them (every Dash
    # component costs the browser CPU on each callback round trip, docs/architecture.md section 4).
    cells: list[Any] = [html.Span("phase")] + [html.Span(WEIGHT_NAMES[k]) for k in WEIGHT_KEYS]
    for phase in PHASES:
        cells.append(html.Span(phase, className="pe-2"))
        cells += [
            dbc.Input(
                id={"type": "phase-weight", "phase": phase, "key": key},
                type="number",
                min=0,
                step="any",
                size="sm",
                placeholder="default",
                className="ll-phase-weight",
            )
            for key in WEIGHT_KEYS
        ]
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
                            _steps_field("cur-warmup", "warm-up steps", cur.get("warmup_steps")),
                            _steps_field("cur-anneal", "KL anneal steps", cur.get("anneal_steps")),
                        ],
                        className="g-1 mb-1",
                    ),
                    html.Div(
                        cells,
                        className="small ll-phase-table",
                        style={
                            "display": "grid",
                            "gridTemplateColumns": f"auto repeat({len(WEIGHT_KEYS)}, 70px)",
                            "gap": "2px 6px",
                            "alignItems": "center",
                        },
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


def _half_card(title: str, button: tuple[str, str], body_id: str) -> Any:
    """A half-width card with one button in its header and a body the callbacks fill."""
    label, button_id = button
    return dbc.Col(
        dbc.Card(
            [
                card_header(title, small_button(label, button_id, "secondary", outline=True)),
                dbc.CardBody(html.Div(id=body_id, className="small"), className="p-2"),
            ],
            className="mb-2",
        ),
        lg=6,
    )


def model_page(ctx: PageContext) -> Any:
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
                    _half_card("Component samples", ("Clear highlight", "model-clear"), "model-members"),
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
                    _half_card("Latent microscope", ("Pin as A", "model-pin"), "model-microscope"),
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


MARKS = {1: "✓", 0: "✗", -1: "?"}  # a member's prediction: right, wrong, nothing to check it with


def members_panel(
    component: int | None,
    serials: Sequence[int],
    ok: Sequence[int],
    images: Sequence[str],
    total: int,
    against: str = "the true class",
) -> Any:
    """The gallery of a component's samples, each marked by whether its prediction is right
    (``ok``: 1, 0, or -1 where neither a true class nor a label says; ``against``: what it is checked with)."""
    if component is None:
        return html.P("Click a cell of the tau matrix.", className="text-muted mb-0", id="model-members-empty")
    head = html.Div(
        [
            "component ",
            html.B(str(component)),
            f": {total} samples have it as their dominant component; the {len(serials)} most responsible shown "
            f"(✓ prediction matches {against}, ✗ it does not"
            + ("" if against == "the true class" else ", ? no label: this dataset has no true classes")
            + "; ringed the same way on the Label page's map)",
        ],
        className="mb-1",
        id="model-members-head",
        **{"data-component": str(component)},
    )
    tiles = [
        html.Figure(
            [html.Img(src=src, alt=f"#{s}"), html.Figcaption(f"#{s} {MARKS[good]}")],
            className="ll-member " + ("ok" if good == 1 else "bad" if good == 0 else "unknown"),
            **{"data-serial": str(s)},
        )
        for s, good, src in zip(serials, ok, images, strict=True)
    ]
    return html.Div([head, html.Div(tiles, className="ll-members")])


def lenses_panel(lenses: Sequence[Any], names: Sequence[str] = ()) -> Any:
    """One row per component: prototype, top-16 gallery, usage, tau class (by name), flags."""
    if not lenses:
        return html.P("No map yet.", className="text-muted small mb-0")
    rows = []
    for lens in lenses:
        st = lens.stats
        flags = ([dbc.Badge("dead", color="danger", className="ms-1")] if st.dead else []) + (
            [dbc.Badge("redundant", color="warning", text_color="dark", className="ms-1")] if st.redundant else []
        )
        info = html.Div(
            [
                html.B(f"c{st.component}"),
                f" → class {name_of(names, st.tau_class)} ({st.certainty:.2f})",
                html.Br(),
                f"usage {100 * st.usage:.1f}% · {st.labelled} labelled",
                *flags,
            ],
            className="ll-lens-info",
        )
        proto = [html.Img(src=lens.prototype, className="ll-proto", alt="prototype")] if lens.prototype else []
        gallery = html.Img(src=lens.gallery, className="ll-lens-gallery", alt=f"top 16 of c{st.component}")
        rows.append(html.Div([info, *proto, gallery], className="ll-lens", **{"data-component": str(st.component)}))
    return html.Div(rows, className="ll-lenses")


def microscope_panel(m: Any, pinned: int | None) -> Any:
    """Traversal grid, reconstruction and error, and the interpolation strip from the pinned sample."""
    if m is None:
        return html.P(
            "Select a sample (click the map or a gallery image on the Label page) to look at its latent code.",
            className="text-muted mb-0",
        )
    if m.strip:
        strip = html.Div(
            [f"interpolation #{m.other} → #{m.serial}", html.Br(), html.Img(src=m.strip, className="ll-strip")],
            className="mt-2",
            id="model-strip",
        )
    else:
        a = f" (A = #{pinned})" if pinned is not None else ""
        strip = html.Div(
            "Pin a sample as A (button above), select another: the decoded interpolation between them "
            f"appears here{a}.",
            className="mt-2 text-muted",
        )
    return html.Div(
        [
            html.Div(
                [
                    "sample ",
                    html.B(f"#{m.serial}"),
                    ": image ",
                    html.Img(src=m.image, className="ll-digit-s", alt="image"),
                    " reconstruction ",
                    html.Img(src=m.recon, className="ll-digit-s", alt="reconstruction"),
                    f" error {m.error:.4f} (mean squared, per pixel)",
                ],
                id="model-micro-head",
                **{"data-serial": str(m.serial)},
            ),
            html.Div(
                [
                    f"traversal: one row per latent dimension ({m.dims}), from -2 to +2 standard deviations "
                    "around the sample's mean",
                    html.Br(),
                    html.Img(src=m.traversal, className="ll-traversal", alt="traversal"),
                ],
                className="mt-2",
            ),
            strip,
        ]
    )


def phase_text(status: dict[str, Any], info: dict[str, Any] | None) -> Any:
    """The current phase, since when, and its loss weights."""
    if not info:
        return f"phase {status.get('phase', '?')}"
    w = " · ".join(f"{name} {info['weights'][k]:g}" for k, name in SHOWN_WEIGHTS.items() if k in info["weights"])
    return [
        html.Span(f"phase {info['phase']}", className="fw-semibold", id="model-phase-name"),
        f" since step {info['start']} (step {status.get('step', 0)}) · weights: {w}",
    ]
