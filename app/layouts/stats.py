"""The label counts card: its skeleton and its redraw (the per-class bars and the totals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.colours import palette
from app.layouts.parts import card_header, raw_html
from app.viewmodels import StatsView


def stats_card() -> Any:
    """The label counts per class (filled by the sync callback)."""
    return dbc.Card(
        [
            # the pace is written by input.js from this tab's last 10 labels (no server round trip);
            # in the header, so it never moves the cards below it
            card_header("Labels", html.Span(id="stat-pace", className="small text-muted")),
            dbc.CardBody([html.Div(id="stats-bar"), html.Div(id="stats-text")], className="p-2"),
        ],
        className="h-100",
    )


def class_bars(per_class: Sequence[int]) -> Any:
    """Labelled count per class as a small HTML bar chart (cheaper to update than a plotly figure,
    which matters because it changes with every label)."""
    n = len(per_class)
    top = max(max(per_class, default=0), 1)
    cols = palette(n)
    bars = "".join(
        f'<div class="ll-bar-col" data-class="{i}" data-count="{int(c)}">'
        f'<div class="ll-bar" title="class {i}: {int(c)} labels"><div class="ll-bar-fill" '
        f'style="height: {100 * c / top:.1f}%; background: {cols[i]}"></div></div>'
        f'<div class="ll-bar-n">{int(c)}</div><div class="ll-bar-label">{i}</div></div>'
        for i, c in enumerate(per_class)
    )
    return raw_html(f'<div class="ll-bars">{bars}</div>', id_="stats-bars")


def stats_text(view: StatsView) -> Any:
    """Totals under the per-class bar chart."""
    acc = "n/a" if view.test_acc is None else f"{view.test_acc:.3f}"
    step = "" if view.test_acc_step is None else f" (step {view.test_acc_step})"
    items = [
        html.Div([html.Span("labelled "), html.Strong(str(view.labelled), id="stat-labelled")]),
        html.Div([html.Span("unlabelled "), html.Strong(str(view.unlabelled), id="stat-unlabelled")]),
        html.Div(
            [html.Span("test accuracy "), html.Strong(acc, id="stat-test-acc"), html.Span(step, className="text-muted")]
        ),
        html.Div(
            [html.Span("added by the CLI since this page opened "), html.Strong(str(view.cli_added), id="stat-cli")]
        ),
    ]
    if view.error:
        items.append(dbc.Alert(view.error, color="danger", className="small p-1 mt-1 mb-0"))
    return html.Div(items, className="small ll-stats")
