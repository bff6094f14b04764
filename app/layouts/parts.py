"""Small building blocks the layout modules share."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html


def card_header(title: str, *controls: Any) -> Any:
    """A card's header: its bold title, then any badges, menus or status text in one wrapping row."""
    return dbc.CardHeader(
        [html.Span(title, className="fw-semibold me-2"), *controls], className="d-flex align-items-center flex-wrap"
    )


def menu(id_: str, options: Any, value: Any, class_name: str) -> Any:
    """A compact drop-down menu: one of a few fixed choices, so neither clearable nor searchable."""
    return dcc.Dropdown(id=id_, options=options, value=value, clearable=False, searchable=False, className=class_name)


def small_button(label: str, id_: str, colour: str, **extra: Any) -> Any:
    """A small button in a row of buttons (``extra``: ``disabled``, ``outline``, ``title``, ...)."""
    return dbc.Button(label, id=id_, color=colour, size="sm", className="me-1", **extra)


def raw_html(markup: str, class_name: str = "", id_: str | None = None) -> Any:
    """Static markup as ONE Dash component. Each Dash component is wired to the page's store and
    does work on every callback round trip (tens of ms per round trip in total for a few hundred of
    them on this CPU), so long lists go to the browser as markup; input.js handles their clicks
    by delegation. Callers escape every text they put in."""
    props = {"id": id_} if id_ else {}
    return dcc.Markdown(markup, dangerously_allow_html=True, dedent=False, className=class_name, **props)
