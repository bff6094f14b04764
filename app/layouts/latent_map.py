"""The latent map card: its skeleton (the colour-mode and projection switches, the map and the
overlay drawn over it) and the sync's redraw of both graphs (:func:`map_update`, :func:`overlay_update`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import Patch, dcc, html, no_update

from app import figures
from app.classnames import short
from app.colours import palette
from app.layouts.parts import card_header
from app.services.embeddings import COLOUR_MODE_NAMES, COLOUR_MODES
from app.services.projection import PROJECTION_NAMES, PROJECTIONS
from app.viewmodels import UNCHANGED, PageContext, SyncResult

GRAPH_CONFIG = {
    "displaylogo": False,
    "scrollZoom": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toImage"],
}


def toggle(id_: str, value: str, names: dict[str, str], values: Sequence[str], extra: str = "") -> Any:
    """A row of small buttons of which one is on (the map card's colour mode and projection)."""
    return dbc.RadioItems(
        id=id_,
        value=value,
        inline=True,
        className=f"ll-colour-mode {extra}".strip(),
        options=[{"label": names[v], "value": v} for v in values],
        inputClassName="btn-check",
        labelClassName="btn btn-outline-secondary btn-sm",
        labelCheckedClassName="active",
    )


def probe_menu(options: list[dict[str, str]]) -> Any:
    """Which probe's target or prediction the "Probe" colour mode shows (options: the sync)."""
    return dcc.Dropdown(
        id="probe-colour",
        options=options,
        value=options[0]["value"] if options else None,
        clearable=False,
        searchable=False,
        placeholder="probe",
        className="ll-probe-colour ms-1",
    )


def colour_modes(has_truth: bool) -> tuple[str, ...]:
    """The map's colour modes; without "true" when the dataset does not know every sample's class
    (unknown targets: there is no true class to colour by, so the mode is not offered at all)."""
    return COLOUR_MODES if has_truth else tuple(m for m in COLOUR_MODES if m != "true")


def map_card(ctx: PageContext) -> Any:
    """The latent map with its colour-mode switch and the overlay drawn over it."""
    return dbc.Card(
        [
            card_header(
                "Latent map",
                toggle("colour-mode", "label", COLOUR_MODE_NAMES, colour_modes(ctx.has_truth)),
                probe_menu(ctx.probe_options),
                toggle("projection", ctx.projection, PROJECTION_NAMES, PROJECTIONS, "ms-2"),
            ),
            dbc.CardBody(
                [
                    html.Div(
                        [
                            dcc.Graph(
                                id="latent-map",
                                figure=figures.empty_map("loading the map…"),
                                config=GRAPH_CONFIG,
                                className="ll-map",
                                clear_on_unhover=True,
                            ),
                            # labelled points, drawn over the big map (see app/figures.py)
                            dcc.Graph(
                                id="latent-overlay",
                                figure=figures.empty_map(transparent=True),
                                className="ll-overlay",
                                config={"displayModeBar": False, "scrollZoom": False, "doubleClick": False},
                            ),
                            html.Div(id="map-ring", className="ll-ring"),  # placed by app/assets/ring.js
                        ],
                        className="ll-map-wrap",
                    ),
                    class_legend(ctx.class_names),
                    html.Div(
                        [
                            html.Span("outlined: your labels", className="me-3"),
                            html.Span("pink ring: selected", className="me-3"),
                            html.Span("scroll to zoom, drag to pan, double-click to reset", className="text-muted"),
                            html.Span("", id="projection-status", className="ms-3 ll-projection-status"),
                        ],
                        className="small ll-legend",
                    ),
                ],
                className="p-1",
            ),
        ],
        className="h-100",
    )


def class_legend(names: Sequence[str]) -> Any:
    """The classes' colours (your labels, and the Predicted and True modes): a swatch and the
    name of each, shortened, wrapping in small type; the full name is each entry's title."""
    colours = palette(len(names))
    return html.Div(
        [
            html.Span(
                [html.Span(className="ll-swatch", style={"background": colours[c]}), short(name)],
                className="ll-legend-class",
                title=f"class {c}: {name}",
            )
            for c, name in enumerate(names)
        ],
        id="class-legend",
        className="small ll-class-legend",
    )


BROWSER_COLOURS = ("quality", "probe")  # modes whose colours clientside.js builds from data that comes later


def map_update(res: SyncResult, had_figure: bool, mode: str | None = None) -> Any:
    """The big graph: the whole figure the first time; for a later embedding version only its data
    and meta (dcc.Graph keeps the user's zoom in ``figure.layout``; a new figure would reset it).
    The points come in the tab's colour ``mode``, so clientside.js has nothing to restyle afterwards (one
    redraw per version, not two)."""
    if res.figure is UNCHANGED:
        return no_update
    fig = res.figure
    # (the density map of a very large dataset has no per-point modes: app/density_figures.py)
    if res.colours is not UNCHANGED and mode not in BROWSER_COLOURS and "modes" in res.colours:
        modes = res.colours["modes"]
        marker = dict(modes.get(mode or "label") or modes["label"])
        fig = {**fig, "data": [{**fig["data"][0], "marker": marker}, *fig["data"][1:]]}  # the cached figure stays
    if not had_figure:
        return fig
    p = Patch()
    p["data"] = fig["data"]
    p["layout"]["meta"] = fig["layout"]["meta"]
    for key in ("images", "annotations"):  # the density map's raster and hint (app/density_figures.py)
        if key in fig["layout"]:
            p["layout"][key] = fig["layout"][key]
    return p


def overlay_update(res: SyncResult, had_figure: bool) -> Any:
    """The small graph: a Patch of the changed overlay slots and the selection ring (a few hundred
    bytes per keypress); its traces for a new version; nothing when nothing changed."""
    if res.overlay_figure is not UNCHANGED:
        fig = res.overlay_figure
        if res.highlight is not UNCHANGED:
            fig["data"][figures.HIGHLIGHT] = res.highlight
        if not had_figure:
            return fig
        p = Patch()
        p["data"] = fig["data"]  # the layout holds the ranges copied from the big graph
        p["layout"]["meta"] = fig["layout"]["meta"]
        return p
    if res.overlay_full is UNCHANGED and not res.overlay_slots and res.highlight is UNCHANGED:
        return no_update
    p = Patch()
    if res.overlay_full is not UNCHANGED:
        p["data"][figures.OVERLAY] = res.overlay_full
    for slot, val in res.overlay_slots:
        tr = p["data"][figures.OVERLAY]
        tr["x"][slot] = val["x"]
        tr["y"][slot] = val["y"]
        tr["marker"]["color"][slot] = val["color"]
        tr["customdata"][slot] = val["customdata"]
    if res.highlight is not UNCHANGED:
        p["data"][figures.HIGHLIGHT] = res.highlight
    return p
