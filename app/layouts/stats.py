"""The label counts card: its skeleton and its redraw (the per-class bars and the totals)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.classnames import name_of, short
from app.colours import palette
from app.layouts.parts import card_header, raw_html
from app.viewmodels import PageContext, StatsView
from engine.stores.holdout import HELD_OUT, MAX_FRACTION

# What each accuracy is (the tooltip of the number; docs/formats.md "Which accuracy")
ACC_WORDS = {"test": "test accuracy", "validation": "validation accuracy", HELD_OUT: "accuracy on held-out labels"}
ACC_TITLES = {
    "test": "Scored on the dataset's test split against its true classes: images never labelled, never trained on.",
    "validation": "Scored on the part of the training split that data.validation holds out, against its true classes.",
    HELD_OUT: "This dataset has no true classes to score on: the accuracy is on a fraction of your own labels, "
    "set aside and never trained on (± the 95% interval). Few labels give a wide interval.",
}


def stats_card(ctx: PageContext | None = None) -> Any:
    """The label counts per class (filled by the sync callback); for a dataset without test truth,
    the held-out fraction's input (app/callbacks/holdout.py)."""
    body = [html.Div(id="stats-bar"), html.Div(id="stats-text")]
    if ctx is not None and ctx.holdout_fraction is not None:
        body.append(holdout_input(ctx.holdout_fraction))
    return dbc.Card(
        [
            # the pace is written by input.js from this tab's last 10 labels (no server round trip);
            # in the header, so it never moves the cards below it
            card_header("Labels", html.Span(id="stat-pace", className="small text-muted")),
            dbc.CardBody(body, className="p-2"),
        ],
        className="h-100",
    )


def holdout_input(fraction: float) -> Any:
    """The held-out fraction, changeable (written on Enter or when the field loses focus)."""
    return html.Div(
        [
            html.Label("held-out fraction", htmlFor="holdout-fraction", className="me-1"),
            dbc.Input(
                id="holdout-fraction",
                type="text",
                inputMode="decimal",
                value=f"{fraction:g}",
                debounce=True,
                size="sm",
                className="d-inline-block ll-holdout-input",
                style={"width": "5em"},
            ),
            html.Div(id="holdout-message", className="small"),
        ],
        className="small mt-1",
        id="holdout-row",
        title=f"The fraction of your labels set aside to score the model (0 to {MAX_FRACTION}; "
        "raising it only adds held-out labels). Enter to apply.",
    )


BAR_NAME = 6  # characters of a class name under its bar (the bars are narrow)


def class_bars(per_class: Sequence[int], names: Sequence[str] = ()) -> Any:
    """Labelled count per class as a small HTML bar chart (cheaper to update than a plotly figure,
    which matters because it changes with every label); each bar captioned by its class name
    (cut short, the full name in the title; escaped)."""
    n = len(per_class)
    top = max(max(per_class, default=0), 1)
    cols = palette(n)
    full = [escape(name_of(names, i)) for i in range(n)]
    cut = [escape(short(name_of(names, i), BAR_NAME)) for i in range(n)]
    bars = "".join(
        f'<div class="ll-bar-col" data-class="{i}" data-count="{int(c)}">'
        f'<div class="ll-bar" title="{full[i]}: {int(c)} labels"><div class="ll-bar-fill" '
        f'style="height: {100 * c / top:.1f}%; background: {cols[i]}"></div></div>'
        f'<div class="ll-bar-n">{int(c)}</div><div class="ll-bar-label" title="{full[i]}">{cut[i]}</div></div>'
        for i, c in enumerate(per_class)
    )
    return raw_html(f'<div class="ll-bars">{bars}</div>', id_="stats-bars")


def stats_text(view: StatsView) -> Any:
    """Totals under the per-class bar chart; the accuracy in words with its split and count, and the
    held-out labels of a dataset without test truth."""
    step = "" if view.test_acc_step is None else f" (step {view.test_acc_step})"
    items = [
        html.Div([html.Span("labelled "), html.Strong(str(view.labelled), id="stat-labelled")]),
        html.Div([html.Span("unlabelled "), html.Strong(str(view.unlabelled), id="stat-unlabelled")]),
        html.Div(
            [
                html.Span(f"{ACC_WORDS.get(view.split, view.split + ' accuracy')} "),
                html.Strong(view.accuracy, id="stat-test-acc", **{"data-split": view.split}),
                html.Span(step, className="text-muted"),
            ],
            title=ACC_TITLES.get(view.split, ""),
        ),
        html.Div(
            [html.Span("added by the CLI since this page opened "), html.Strong(str(view.cli_added), id="stat-cli")]
        ),
    ]
    if (h := view.holdout) is not None:
        items.append(
            html.Div(
                [
                    html.Span("held out "),
                    html.Strong(str(h.held), id="stat-held-out"),
                    html.Span(f" of {h.labelled} labels (fraction {h.fraction:g}), never trained on"),
                ],
                title=ACC_TITLES[HELD_OUT],
            )
        )
        if h.error:
            items.append(dbc.Alert(f"{h.error} (using {h.fraction:g})", color="warning", className="small p-1 mb-0"))
    if view.error:
        items.append(dbc.Alert(view.error, color="danger", className="small p-1 mt-1 mb-0"))
    return html.Div(items, className="small ll-stats")
