"""The feedback box editor's figure (no Dash): the sample image to draw a box on, and reading the box back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.colours import GREEN

# -- the feedback drawing surface ---------------------------------------------------------------------
FEEDBACK_CONFIG = {
    "displaylogo": False,
    "scrollZoom": False,
    "doubleClick": False,
    "modeBarButtonsToAdd": ["drawrect", "eraseshape"],
    "modeBarButtonsToRemove": [
        "zoom2d",
        "pan2d",
        "select2d",
        "lasso2d",
        "zoomIn2d",
        "zoomOut2d",
        "autoScale2d",
        "resetScale2d",
        "toImage",
    ],
}
SAVED_BOX_NAME = "saved"  # the stored box's shape (not editable; a drawn one replaces it on Apply)


def feedback_figure(image_uri: str | None, box: Sequence[float] | None = None, aspect: float = 1.0) -> dict[str, Any]:
    """The enlarged sample on [0, 1] x [0, 1] axes (y downwards, like the image), in draw-rectangle
    mode: a rectangle the user draws has normalised box coordinates as they are. ``box``: the
    stored feedback box, shown dashed. ``aspect``: the image's height / width; a y unit is drawn
    that many times as long as an x unit, so a non-square image keeps its shape."""
    shapes = []
    if box is not None:
        x0, y0, x1, y1 = box
        shapes.append(
            {
                "type": "rect",
                "x0": x0,
                "y0": y0,
                "x1": x1,
                "y1": y1,
                "editable": False,
                "name": SAVED_BOX_NAME,
                "line": {"color": GREEN, "width": 2, "dash": "dash"},
            }
        )
    axis = {"range": [0, 1], "visible": False, "fixedrange": True, "constrain": "domain"}
    ratio = {"scaleratio": float(aspect)} if aspect != 1 else {}  # a square image's figure as before
    layout: dict[str, Any] = {
        "xaxis": dict(axis),
        "yaxis": {**axis, "range": [1, 0], "scaleanchor": "x", **ratio},
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "dragmode": "drawrect",
        "shapes": shapes,
        "newshape": {"line": {"color": "#e6007e", "width": 2}, "fillcolor": "rgba(230,0,126,0.08)"},
        "plot_bgcolor": "#000",
        "paper_bgcolor": "rgba(0,0,0,0)",
        "showlegend": False,
        "uirevision": image_uri or "none",
    }
    if image_uri:
        layout["images"] = [
            {
                "source": image_uri,
                "xref": "x",
                "yref": "y",
                "x": 0,
                "y": 0,
                "sizex": 1,
                "sizey": 1,
                "xanchor": "left",
                "yanchor": "top",
                "sizing": "stretch",
                "layer": "below",
            }
        ]
    # An invisible trace spanning the square, so plotly draws the axes (and accepts drawing) at once.
    data = [
        {"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "markers", "marker": {"opacity": 0}, "hoverinfo": "skip"}
    ]
    return {"data": data, "layout": layout}


def drawn_box(relayout: dict[str, Any] | None, current: Sequence[float] | None = None) -> list[float] | None:
    """The box the user drew or edited, from a dcc.Graph ``relayoutData``: a new rectangle arrives
    as ``{"shapes": [...]}`` (every shape; the newest last), a moved or resized one as
    ``{"shapes[i].x0": ...}``. Returns normalised [x0, y0, x1, y1] (sorted, clipped to [0, 1]) or
    ``current`` when the event is about something else."""
    if not isinstance(relayout, dict):
        return list(current) if current is not None else None
    if isinstance(relayout.get("shapes"), list):
        rects = [
            s
            for s in relayout["shapes"]
            if isinstance(s, dict) and s.get("type") == "rect" and s.get("name") != SAVED_BOX_NAME
        ]
        if not rects:
            return None  # erased
        s = rects[-1]
        vals = [s.get("x0"), s.get("y0"), s.get("x1"), s.get("y1")]
    else:
        edits = {k.split(".", 1)[1]: v for k, v in relayout.items() if k.startswith("shapes[") and "." in k}
        if not edits or current is None:
            return list(current) if current is not None else None
        vals = [edits.get(k, c) for k, c in zip(("x0", "y0", "x1", "y1"), current, strict=True)]
    try:
        x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in vals)  # type: ignore[arg-type]  # None raises TypeError, handled
    except (TypeError, ValueError):
        return list(current) if current is not None else None
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x1 - x0 < 1e-3 or y1 - y0 < 1e-3:
        return None
    return [round(x0, 4), round(y0, 4), round(x1, 4), round(y1, 4)]
