"""The Runs page: the experiment and simulation runs under artifacts/ (docs/runs.md)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc


def runs_page(ctx: dict[str, Any]) -> Any:
    """The Runs page's cards."""
    return dbc.Container([], fluid=True, className="pt-2", id="runs-page")
