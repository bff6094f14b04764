"""The sample card: its skeleton (with the explanation section) and the selected sample's redraw."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.classnames import DIGIT_KEYS, FEW_BUTTONS, PICKER_KEY, SHORT, name_of, short
from app.colours import palette
from app.layouts.explain import explain_section
from app.layouts.parts import card_header
from app.viewmodels import PageContext, SampleView


def sample_card(ctx: PageContext) -> Any:
    """The selected sample (filled by the sync callback) with its explanation section.
    ``sample-fast`` is sample.js's: the queued sample (or "loading") drawn at the key press, shown
    instead of ``sample-panel`` until the server's panel of the same sample arrives; ``class-picker``
    is picker.js's type-ahead box, over the panel."""
    body = [
        # the type-ahead class picker's box, filled and shown by app/assets/picker.js (key l)
        html.Div(id="class-picker", className="ll-picker", style={"display": "none"}),
        html.Div(id="sample-fast", style={"display": "none"}),
        html.Div(id="sample-panel"),
        explain_section(ctx),
    ]
    return dbc.Card([card_header("Sample"), dbc.CardBody(body, className="p-2 ll-sample-body")], className="mb-2")


def _swatch(cls: int, n: int) -> html.Span:
    return html.Span(className="ll-swatch", style={"background": palette(n)[cls % max(n, 1)]})


def class_text(names: list[str], c: int | None, width: int = SHORT, **props: Any) -> html.Span:
    """Class ``c`` by name, shortened to ``width`` with the full name as its title ("none": no class)."""
    if c is None:
        return html.Span("none", **props)
    name = name_of(names, c) if c >= 0 else "unknown"
    return html.Span(short(name, width), title=name, **props)


def label_buttons(names: list[str], label: int | None) -> Any:
    """A button per class, showing its name; keys 0-9 label the first ten (their titles say so).
    Beyond FEW_BUTTONS classes only the first ten have buttons, and a "more" button opens the
    type-ahead picker (app/assets/picker.js, key l) that reaches every class."""
    n = len(names)
    shown = range(n) if n <= FEW_BUTTONS else range(DIGIT_KEYS)
    buttons: list[Any] = [
        html.Button(
            short(names[c]),
            className="btn btn-sm ll-label-btn" + (" active" if label == c else ""),
            **{"data-label": str(c), "title": f"label as {names[c]}" + (f" (key {c})" if c < DIGIT_KEYS else "")},
        )
        for c in shown
    ]
    if n > FEW_BUTTONS:
        buttons.append(
            html.Button(
                f"all {n} classes…",
                className="btn btn-sm btn-outline-primary ll-picker-btn",
                title=f"find a class by typing its name (key {PICKER_KEY})",
            )
        )
    return html.Div(buttons, className="ll-label-buttons mt-2")


def sample_panel(view: SampleView | None) -> Any:
    """The selected sample or a hint when none is selected."""
    if view is None:
        return html.Div(
            [
                html.P("No sample selected.", className="mb-1 fw-semibold"),
                html.P(
                    ["Click a point on the map, or press ", html.Kbd("n"), " for the next candidate."],
                    className="text-muted small mb-0",
                ),
            ],
            className="ll-sample-empty",
        )
    n, names = view.num_classes, view.names
    rows = [
        html.Div(
            [
                html.Figure(
                    [
                        html.Img(src=view.image, className="ll-digit", alt=f"sample {view.serial}"),
                        html.Figcaption("image"),
                    ],
                    className="ll-fig",
                ),
                html.Figure(
                    [
                        html.Img(src=view.recon, className="ll-digit", alt="reconstruction")
                        if view.recon
                        else html.Div("n/a", className="ll-digit ll-na"),
                        html.Figcaption("reconstruction"),
                    ],
                    className="ll-fig",
                ),
                html.Div(
                    [
                        html.Div(
                            [
                                html.Span(f"#{view.serial}", className="fw-bold me-2", id="sample-serial"),
                                dbc.Badge(
                                    view.split,
                                    color="secondary" if view.split == "train" else "warning",
                                    className="me-1",
                                ),
                            ]
                        ),
                        html.Div(
                            [
                                "label ",
                                html.Strong(
                                    class_text(names, view.label),
                                    id="sample-label",
                                    className="ll-label-set" if view.label is not None else "",
                                ),
                            ],
                            className="small",
                        ),
                        html.Div(
                            ["true ", html.Strong("unknown" if view.true is None else class_text(names, view.true))],
                            className="small",
                        ),
                        *issue_line(view),
                        html.Table(
                            [
                                html.Tbody(
                                    [
                                        html.Tr(
                                            [
                                                html.Td(_swatch(c, n)),
                                                html.Td(class_text(names, c), className="pe-2"),
                                                html.Td(
                                                    dbc.Progress(
                                                        value=round(p * 100),
                                                        className="ll-prob",
                                                        style={"width": "70px"},
                                                    )
                                                ),
                                                html.Td(f"{p:.2f}", className="ps-1"),
                                            ]
                                        )
                                        for c, p in view.top
                                    ]
                                )
                            ],
                            className="ll-top3 small mt-1",
                        ),
                    ],
                    className="ll-sample-info",
                ),
            ],
            className="ll-sample-row",
        )
    ]
    if view.split == "train":
        rows.append(label_buttons(names, view.label))
    else:
        said = (
            "Held-out test image: used for test accuracy, never labelled."
            if view.true is not None
            else "Test image without a true class: not scored, never labelled."
        )
        rows.append(html.P(said, className="text-muted small mt-2 mb-0"))
    return html.Div(rows, **{"data-serial": str(view.serial)})  # which sample it shows (sample.js)


def issue_line(view: SampleView) -> list[Any]:
    """A labelled sample's given label next to the one the label-issue ranking suggests, with
    its quality score and the accept button (key a); nothing for an unlabelled sample."""
    issue = view.issue
    if issue is None:
        return []
    agree = issue.suggested == issue.given
    return [
        html.Div(
            [
                "given ",
                html.Strong(class_text(view.names, issue.given), id="sample-given"),
                " · suggested ",
                html.Strong(
                    class_text(view.names, issue.suggested),
                    id="sample-suggested",
                    className="" if agree else "ll-suggest-differs",
                ),
                f" ({issue.suggested_prob:.2f}) · quality {issue.quality:.2f}",
            ],
            className="small",
            title=issue.reason(view.names),
        ),
        html.Div(
            dbc.Badge("accepted as right", color="success", id="sample-accepted")
            if issue.accepted
            else html.Button(
                "accept label",
                className="btn btn-sm btn-outline-success ll-accept-btn py-0",
                title="this label is right: stop suggesting it (key a)",
            ),
            className="small mt-1",
        ),
    ]
