"""The candidates card: its skeleton (the strategy menu) and the queue's redraw."""

from __future__ import annotations

from html import escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.layouts.parts import card_header, menu, raw_html
from app.services.candidates import EXTERNAL
from app.services.label_issues import SUSPICIOUS
from app.viewmodels import PageContext, QueueView
from engine.analysis.acquisition import DEFAULT_STRATEGY


def queue_card(ctx: PageContext) -> Any:
    """The candidate queue and its strategy menu."""
    return dbc.Card(
        [
            card_header(
                "Candidates",
                menu("queue-strategy", ctx.strategies, DEFAULT_STRATEGY, "ll-strategy"),
                # input.js reads it after each label and posts a change to /_ll/prefs
                html.Span(
                    dbc.Switch(id="auto-advance", label="auto-advance", value=ctx.auto_advance, className="mb-0 small"),
                    className="ms-2",
                    title="after a label, select the next candidate (remembered for this dataset)",
                ),
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


def queue_list(view: QueueView, selected: int | None = None) -> Any:
    """The candidate queue. Forecast candidates carry a reason."""
    if not view.items:
        if view.strategy in (EXTERNAL, SUSPICIOUS) or view.source.startswith("error"):
            text = view.source
        else:
            text = "Nothing to suggest: every training sample is labelled."
        return html.P(text, className="text-muted small mb-0", id="queue-empty")
    rows = []
    for i, c in enumerate(view.items):
        pred = f"pred {c.predicted}" if c.predicted >= 0 else ""
        cert = f"{c.certainty:.2f}" if c.certainty == c.certainty else ""
        why = f'<div class="ll-q-why">{escape(c.why)}</div>' if c.why else ""
        sel = " selected" if c.serial == selected else ""
        rows.append(
            f'<li class="ll-queue-item{sel}" data-serial="{int(c.serial)}" data-pos="{i}">'
            f'<span class="ll-q-serial">#{int(c.serial)}</span>'
            f'<span class="ll-q-score" title="acquisition score (higher = more useful)">{c.score:.3f}</span>'
            f'<span class="ll-q-pred">{pred}</span><span class="ll-q-cert" title="certainty">{cert}</span>'
            f"{why}</li>"
        )
    return raw_html(f'<ol class="ll-queue">{"".join(rows)}</ol>')
