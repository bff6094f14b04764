"""The candidates card: its skeleton (the strategy menu) and the queue's redraw."""

from __future__ import annotations

from html import escape
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from app.classnames import name_of, short
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


def _class(names: list[str], c: int, cls: str) -> str:
    """Class ``c`` as a queue row shows it: its name, shortened, with the full name as the title."""
    name = name_of(names, c)
    return f'<span class="{cls}" title="{escape(name)}">{escape(short(name))}</span>'


def queue_list(view: QueueView, selected: int | None = None) -> Any:
    """The candidate queue: each row's prediction, its certainty and the runner-up class ("cat 0.52
    vs dog", by name); forecast and suspicious-label candidates carry a reason."""
    if not view.items:
        if view.strategy in (EXTERNAL, SUSPICIOUS) or view.source.startswith("error"):
            text = view.source
        else:
            text = "Nothing to suggest: every training sample is labelled."
        return html.P(text, className="text-muted small mb-0", id="queue-empty")
    names = view.names
    rows = []
    for i, c in enumerate(view.items):
        pred = "pred " + _class(names, c.predicted, "ll-q-name") if c.predicted >= 0 else ""
        cert = f"{c.certainty:.2f}" if c.certainty == c.certainty else ""
        if c.runner_up >= 0:
            cert += " vs " + _class(names, c.runner_up, "ll-q-name")
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
