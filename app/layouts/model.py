"""The Model page: inside the mixture model (docs/model-page.md)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc


def model_page(ctx: dict[str, Any]) -> Any:
    """The Model page's cards."""
    return dbc.Container([], fluid=True, className="pt-2", id="model-page")
