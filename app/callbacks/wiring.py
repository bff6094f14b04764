"""How the callbacks with named outputs are registered: one body function, told what fired it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dash import Input, Output, State, ctx


def connect(
    app: Any,
    output: dict[str, Output],
    inputs: dict[str, Any],
    state: dict[str, State],
    body: Callable[..., dict[str, Any]],
    **options: Any,
) -> None:
    """Register a callback with named outputs, inputs and state (Dash's flexible signature).

    ``body(fired, **values)`` gets the id of the input that fired it (``ctx.triggered_id``; None at
    page load) and the inputs' and state's values by name; it returns a dict keyed like ``output``.
    """

    def callback(**values: Any) -> dict[str, Any]:
        return body(ctx.triggered_id, **values)

    app.callback(output=output, inputs=inputs, state=state, **options)(callback)


def on_click(
    app: Any, output: dict[str, Output], buttons: Iterable[Any], state: dict[str, State], body: Callable[..., Any]
) -> None:
    """Register a callback fired by a click on any of ``buttons`` (never at page load):
    ``body(pressed, **values)`` gets the pressed button's id and the state's values by name."""

    def clicked(pressed: Any, clicks: list[Any], **values: Any) -> dict[str, Any]:
        return body(pressed, **values)  # which button, not how often: the counts are not passed on

    clicks = {"clicks": [Input(b, "n_clicks") for b in buttons]}
    connect(app, output, clicks, state, clicked, prevent_initial_call=True)
