"""Clientside callbacks (the JavaScript lives in app/assets/clientside.js): no server round trip."""

from __future__ import annotations

from typing import Any

from dash import ClientsideFunction, Input, Output, State

from app.layouts.page import PAGES


def register(app: Any) -> None:
    # Colour mode: restyle the big trace's marker from the per-version arrays kept in the browser
    # (app/assets/colour.js paints the marker itself: a figure output would make dcc.Graph run
    # Plotly.react).
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="colour"),
        Output("colour-store", "id"),  # never changes: the function returns no_update
        Input("colour-mode", "value"),
        Input("colour-store", "data"),
        Input("quality-store", "data"),
        Input("probe-store", "data"),
        prevent_initial_call=True,
    )
    # The page switch (/, /model, /runs): styles only, no server round trip.
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="page"),
        [Output(f"page-{name}", "style") for name, _, _ in PAGES],
        Input("url", "pathname"),
    )
    # Hand the server's acknowledgements (and whether the panels follow in another sync: the
    # answer to a label is lean) and the candidate order to the page's input script (input.js).
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="ack"),
        Output("ll-ack", "id"),  # never changes: the function returns no_update
        Input("ll-ack", "data"),
        State("map-sync", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="queue"),
        Output("queue-store", "id"),
        Input("queue-store", "data"),
    )
    # The queued samples' panels, drawn by sample.js on n, p or a queue click with no request.
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="samples"),
        Output("queue-samples", "id"),
        Input("queue-samples", "data"),
    )
    # The saliency target menu: xai.js asks /_ll/saliency again (no server callback).
    app.clientside_callback(
        ClientsideFunction(namespace="ll", function_name="xaiTarget"),
        Output("xai-target", "id"),
        Input("xai-target", "value"),
        prevent_initial_call=True,
    )
