"""Plotly figures as plain dicts (no Dash): the latent map, its colour arrays, curves and bars
(their colours: app/colours.py).

Large arrays go to the browser as plotly.js typed-array specs (app/arrays.py), which keeps the
70,000-point map under 1 MB: 8 bytes per point for x/y plus 2 for the hover data, times 4/3 for base64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.arrays import typed
from app.colours import (
    CERTAINTY_COLOURS,
    GREEN,
    QUALITY_SCALE,
    RED,
    TAB10,
    UNLABELLED,
    categorical_marker,
    palette,
    stepped_colorscale,
)
from app.services.embeddings import MapVersion
from app.services.overlay import OverlayFull, SlotState
from engine.stores.holdout import HELD_OUT

# The map is two stacked graphs: the big one (all points, redrawn only for a new version or a
# colour switch) and a small transparent one on top (labelled points), which label keypresses
# patch. One WebGL redraw of 70,000 points costs ~0.4 s in software rendering, so a keypress must
# never touch the big graph. The selection ring is neither: a plain element over both that
# app/assets/ring.js places, so a selection redraws no WebGL at all. Trace order inside each:
BASE = 0
OVERLAY, PENDING = 0, 1  # PENDING: labels typed but not yet confirmed (overlay.js)
HIGHLIGHT = 2  # the members of the component chosen on the Model page (tau cell click)
MAP_MARGIN = {"l": 4, "r": 4, "t": 4, "b": 4}

BASE_SIZE = 3  # px; WebGL draw time in software rendering grows with it
OVERLAY_SIZE = 9
QUALITY_HALO = 15  # px: the label-quality colour shows as a ring around the overlay's label dot


# ---------------------------------------------------------------------------------------------
# the latent map


def colour_store(v: MapVersion) -> dict[str, Any]:
    """Per-version marker settings for every colour mode (kept in the browser, switched there)."""
    modes = {
        "label": {"color": UNLABELLED, "showscale": False},
        "pred": categorical_marker(v.pred, v.num_classes),
        "true": categorical_marker(v.true, v.num_classes),
        "certainty": categorical_marker(v.certainty, 101, CERTAINTY_COLOURS),
        "component": categorical_marker(v.component, v.components),
        # filled in the browser from the quality store (clientside.js): labelled points get their score
        # in [0, 1] and a halo of QUALITY_HALO px, the rest the grey below cmin
        "quality": {
            "color": UNLABELLED,
            "colorscale": QUALITY_SCALE,
            "cmin": -0.02,
            "cmax": 1.0,
            "showscale": False,
            "halo": QUALITY_HALO,
        },
        # replaced in the browser by the probe store's marker (clientside.js): grey until it arrives
        "probe": {"color": UNLABELLED, "showscale": False},
    }
    for m in modes.values():
        m["size"] = BASE_SIZE
    return {"version": v.version, "n": v.n_points, "modes": modes}


def base_trace(v: MapVersion) -> dict[str, Any]:
    hover = np.ascontiguousarray(
        np.stack(
            [v.pred.astype(np.uint8 if v.num_classes < 256 else np.uint16), v.certainty.astype(v.pred.dtype)], axis=1
        )
    )
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": "samples",
        "x": typed(v.xy[:, 0]),
        "y": typed(v.xy[:, 1]),
        "customdata": typed(hover),
        # Grey until the browser applies the colour mode from the colour store.
        "marker": {"size": BASE_SIZE, "color": UNLABELLED, "showscale": False},
        # customdata[2] (the label) is filled in by overlay.js for labelled points; "-" otherwise.
        "hovertemplate": "#%{pointNumber}<br>predicted %{customdata[0]} (certainty %{customdata[1]}%)"
        "<br>label %{customdata[2]}<extra></extra>",
    }


def overlay_points(v: MapVersion, serials: np.ndarray, labels: np.ndarray) -> dict[str, list[Any]]:
    """Per-slot values of the overlay trace; hidden or unused slots are null (not drawn)."""
    xs: list[Any] = []
    ys: list[Any] = []
    cs: list[int] = []
    cd: list[Any] = []
    for s, lab in zip(serials.tolist(), labels.tolist(), strict=True):
        if s < 0 or lab < 0 or s >= v.n_points:
            xs.append(None)
            ys.append(None)
            cs.append(0)
            cd.append(None)
        else:
            xs.append(round(float(v.xy[s, 0]), 5))
            ys.append(round(float(v.xy[s, 1]), 5))
            cs.append(int(lab))
            cd.append([int(s), int(lab), int(v.pred[s]), int(v.certainty[s])])
    return {"x": xs, "y": ys, "color": cs, "customdata": cd}


def overlay_trace(v: MapVersion, full: OverlayFull) -> dict[str, Any]:
    pts = overlay_points(v, full.serial, full.label)
    n = v.num_classes
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": "labelled",
        "hoverinfo": "skip",
        "x": pts["x"],
        "y": pts["y"],
        "customdata": pts["customdata"],
        "marker": {
            "size": OVERLAY_SIZE,
            "color": pts["color"],
            "colorscale": stepped_colorscale(palette(n)),
            "cmin": -0.5,
            "cmax": n - 0.5,
            "line": {"width": 1.5, "color": "#111"},
            "showscale": False,
        },
    }


def overlay_slot_values(v: MapVersion, slots: Sequence[SlotState]) -> list[tuple[int, dict[str, Any]]]:
    """(slot, {x, y, color, customdata}) for changed slots: what a Patch assigns."""
    out = []
    for st in slots:
        pts = overlay_points(v, np.array([st.serial]), np.array([st.label]))
        out.append((st.slot, {k: val[0] for k, val in pts.items()}))
    return out


def pending_trace(n_classes: int) -> dict[str, Any]:
    """Labels the browser drew at the keypress, before the server's confirmation arrives."""
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": "pending",
        "hoverinfo": "skip",
        "x": [],
        "y": [],
        "customdata": [],
        "marker": {
            "size": OVERLAY_SIZE,
            "color": [],
            "colorscale": stepped_colorscale(palette(n_classes)),
            "cmin": -0.5,
            "cmax": n_classes - 0.5,
            "line": {"width": 1.5, "color": "#111"},
            "showscale": False,
        },
    }


def map_figure(v: MapVersion) -> dict[str, Any]:
    """The big graph: one WebGL trace of every point."""
    return {"data": [base_trace(v)], "layout": map_layout(v)}


def map_layout(v: MapVersion) -> dict[str, Any]:
    """The big graph's layout (also of the density map of very large datasets, app/density_figures.py)."""
    return {
        # A constant uirevision: zoom and pan survive new versions and colour switches.
        "uirevision": "latent-map",
        "margin": MAP_MARGIN,
        "xaxis": {"visible": False, "showgrid": False, "zeroline": False},
        "yaxis": {"visible": False, "showgrid": False, "zeroline": False, "scaleanchor": "x"},
        "hovermode": "closest",
        "showlegend": False,
        "dragmode": "pan",
        "plot_bgcolor": "#ffffff",
        "paper_bgcolor": "#ffffff",
        "meta": {"version": v.version, "n": v.n_points},
    }


def overlay_figure(v: MapVersion, full: OverlayFull) -> dict[str, Any]:
    """The small graph on top: the labelled points. Transparent, no pointer
    events (the big graph below takes hover, clicks, zoom); overlay.js copies the big graph's axis
    ranges here, so both show the same window."""
    return {
        "data": [overlay_trace(v, full), pending_trace(v.num_classes), highlight_trace(v, None)],
        "layout": {
            "uirevision": "latent-overlay",
            "margin": MAP_MARGIN,
            "xaxis": {"visible": False, "showgrid": False, "zeroline": False, "autorange": False, "range": [-1.5, 1.5]},
            "yaxis": {"visible": False, "showgrid": False, "zeroline": False, "autorange": False, "range": [-1.5, 1.5]},
            "showlegend": False,
            "hovermode": False,
            "dragmode": False,
            "plot_bgcolor": "rgba(0,0,0,0)",
            "paper_bgcolor": "rgba(0,0,0,0)",
            "meta": {"version": v.version},
        },
    }


def highlight_trace(v: MapVersion, component: int | None, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Rings around every training sample whose dominant component is ``component``: green where
    the prediction matches the true class, red where it does not (empty for None). A dataset with
    unknown targets checks against the user's ``labels`` instead; grey: neither says."""
    serials = np.zeros(0, np.int64) if component is None else np.flatnonzero(v.component[: v.n_train] == component)
    ref = v.truth_or(labels)[serials]
    ok = np.where(ref < 0, 1, 2 * (v.pred[serials] == ref)).astype(np.uint8)  # 0 wrong, 1 unknown, 2 right
    return {
        "type": "scattergl",
        "mode": "markers",
        "name": "component",
        "x": typed(v.xy[serials, 0]),
        "y": typed(v.xy[serials, 1]),
        "marker": {
            "symbol": "circle-open",
            "size": 7,
            "line": {"width": 1.5},
            "color": typed(ok),
            "colorscale": [[0, RED], [0.25, RED], [0.25, UNLABELLED], [0.75, UNLABELLED], [0.75, GREEN], [1, GREEN]],
            "cmin": 0,
            "cmax": 2,
        },
        "hoverinfo": "skip",
        "meta": {"component": component},
    }


def empty_map(message: str = "", transparent: bool = False) -> dict[str, Any]:
    layout: dict[str, Any] = {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "margin": MAP_MARGIN}
    if message:
        layout["annotations"] = [{"text": message, "showarrow": False}]
    if transparent:
        layout.update(plot_bgcolor="rgba(0,0,0,0)", paper_bgcolor="rgba(0,0,0,0)")
    return {"data": [], "layout": layout}


# ---------------------------------------------------------------------------------------------
# training curves and stats

LOSS_SERIES = ("loss", "rec", "sup")
ACC_SERIES = ("test_acc", "acc_labeled")
SERIES_NAMES = {
    "loss": "total loss",
    "rec": "reconstruction",
    "sup": "supervised",
    "test_acc": "test accuracy",
    "acc_labeled": "labelled-batch accuracy",
}


def acc_names(split: str) -> dict[str, str]:
    """The accuracy curve's legend for an evaluation ``split`` (docs/formats.md, "Which accuracy"):
    a dataset without test truth is scored on held-out labels, never called a test accuracy."""
    words = {"test": "test accuracy", "validation": "validation accuracy", HELD_OUT: "accuracy on held-out labels"}
    return {**SERIES_NAMES, "test_acc": words.get(split, f"{split} accuracy")}


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def curve_extension(
    series: Sequence[str], points: Mapping[str, tuple[Sequence[float], Sequence[float]]]
) -> dict[str, list[list[Any]]]:
    """New points of a :func:`curve_figure`'s lines, one list per line in ``series`` order, as
    ``Plotly.extendTraces`` takes them (app/assets/poll.js)."""
    xs = [list(points.get(name, ([], []))[0]) for name in series]
    ys = [[_clean(y) for y in points.get(name, ([], []))[1]] for name in series]
    return {"x": xs, "y": ys}


def curve_figure(
    series: Sequence[str],
    points: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    yrange: Any = None,
    title: str = "",
    names: Mapping[str, str] = SERIES_NAMES,
) -> dict[str, Any]:
    """A small line chart of ``series`` (``names``: their legend, e.g. :func:`acc_names`)."""
    colours = TAB10[:4]
    data = []
    for i, name in enumerate(series):
        xs, ys = points.get(name, ([], []))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": names.get(name, name),
                "x": list(xs),
                "y": [_clean(y) for y in ys],
                "line": {"width": 1.5, "color": colours[i % 4]},
            }
        )
    layout: dict[str, Any] = {
        "uirevision": title or "curve",
        "height": 190,
        "margin": {"l": 40, "r": 8, "t": 24, "b": 28},
        "title": {"text": title, "font": {"size": 12}, "x": 0.02, "y": 0.97},
        "legend": {"orientation": "h", "y": -0.25, "font": {"size": 10}},
        "xaxis": {"title": {"text": ""}, "tickfont": {"size": 10}},
        "yaxis": {"tickfont": {"size": 10}},
    }
    if yrange is not None:
        layout["yaxis"]["range"] = yrange
    return {"data": data, "layout": layout}
