"""The big map's figure above the raster threshold (app/services/density.py), as plain dicts.

Trace order: 0 ``samples`` stays empty (input.js, overlay.js and clientside.js address every point of the small
map through trace 0; here no trace holds every point, so they find none and leave the map alone),
1 ``view points`` (the points of a zoomed-in view), 2 ``extent`` (two invisible corner points, so
that a double-click autoranges to the whole map). The raster is a layout image placed on the map
coordinates of its window, below the traces.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app import colours, figures
from app.arrays import typed
from app.services.density import DensityMap, DensityView, Window
from app.services.embeddings import MapVersion
from app.services.images import png_data_uri

POINTS = 1
POINT_SIZE = 5  # px: a zoomed-in view holds at most points_max points, larger markers stay cheap
RASTER_HINT = "{n:,} points: density view; zoom in to see, click and label single points"


def map_figure(v: MapVersion, density: DensityMap) -> dict[str, Any]:
    """The whole figure of a new tab: the full map as a raster coloured by label (the default mode)."""
    full = density.extent(v)
    fig: dict[str, Any] = {"layout": figures.map_layout(v)}
    fig["data"] = [
        {"type": "scattergl", "mode": "markers", "name": "samples", "x": [], "y": [], "hoverinfo": "skip"},
        points_trace(v, None, "label"),
        {
            "type": "scatter",
            "mode": "markers",
            "name": "extent",
            "x": [full.x0, full.x1],
            "y": [full.y0, full.y1],
            "marker": {"opacity": 0, "size": 1},
            "hoverinfo": "skip",
        },
    ]
    view = density.view(v, "label", full)
    fig["layout"].update(view_layout(v, view))
    fig["layout"]["plot_bgcolor"] = "rgba(0,0,0,0)"  # the raster's white shows through
    fig["layout"]["meta"]["view"] = view_meta(view)
    if view.serials is not None:  # a map just above the threshold with points_max >= its size
        fig["data"][POINTS] = points_trace(v, view.serials, "label")
    return fig


def view_meta(view: DensityView) -> dict[str, Any]:
    """``layout.meta.view``: what the figure shows (bigmap.js and the benchmark read it)."""
    w = view.window
    return {"kind": view.kind, "n": view.n_in_view, "window": [w.x0, w.x1, w.y0, w.y1]}


def colour_store(v: MapVersion) -> dict[str, Any]:
    """No per-point colours in the browser (clientside.js leaves a store without ``modes`` alone): the
    colour mode reaches the server (app/callbacks/density.py), which shades the raster or points."""
    return {"version": v.version, "n": 0, "raster": True}


def view_layout(v: MapVersion, view: DensityView) -> dict[str, Any]:
    """The layout keys a view sets: the raster image (none in the points view) and the hint."""
    images = [] if view.rgb is None else [raster_image(view.rgb, view.window)]
    hint = RASTER_HINT.format(n=view.n_in_view) if view.kind == "raster" else f"{view.n_in_view:,} points"
    return {
        "images": images,
        "annotations": [
            {
                "text": hint,
                "xref": "paper",
                "yref": "paper",
                "x": 0.01,
                "y": 0.99,
                "xanchor": "left",
                "yanchor": "top",
                "showarrow": False,
                "font": {"size": 11, "color": "#555"},
                "bgcolor": "rgba(255,255,255,0.7)",
            }
        ],
    }


def raster_image(rgb: np.ndarray, w: Window) -> dict[str, Any]:
    """A plotly layout image covering window ``w`` in map coordinates."""
    return {
        "source": png_data_uri(rgb),
        "xref": "x",
        "yref": "y",
        "x": w.x0,
        "y": w.y1,
        "sizex": w.x1 - w.x0,
        "sizey": w.y1 - w.y0,
        "xanchor": "left",
        "yanchor": "top",
        "sizing": "stretch",
        "layer": "below",
    }


def points_trace(v: MapVersion, serials: np.ndarray | None, mode: str) -> dict[str, Any]:
    """The points of a zoomed-in view (empty for None), coloured like the small map in ``mode``;
    customdata rows are [serial, predicted, certainty] (bigmap.js selects by the serial)."""
    s = np.zeros(0, np.int64) if serials is None else np.asarray(serials, np.int64)
    marker: dict[str, Any] = {"size": POINT_SIZE, "color": colours.UNLABELLED, "showscale": False}
    if mode in ("pred", "true", "component"):
        values = {"pred": v.pred, "true": v.true, "component": v.component}[mode][s]
        marker.update(colours.categorical_marker(values, v.components if mode == "component" else v.num_classes))
    elif mode == "certainty":
        marker.update(color=typed(v.certainty[s]), colorscale="Viridis", cmin=0, cmax=100, reversescale=True)
    custom = np.stack([s, v.pred[s], v.certainty[s]], axis=1).astype(np.uint32)
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": "view points",
        "x": typed(v.xy[s, 0]),
        "y": typed(v.xy[s, 1]),
        "customdata": typed(custom),
        "marker": marker,
        "hovertemplate": "#%{customdata[0]}<br>predicted %{customdata[1]} (certainty %{customdata[2]}%)<extra></extra>",
        "meta": {"version": v.version, "mode": mode},
    }
