"""The dashboard's colours in one place: the class palette and the categorical markers drawn with it,
the unlabelled grey, and the scales of the certainty and label-quality colour modes. Figures,
cards and services (the density raster, the probe colours) all take their colours from here."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np
from plotly.colors import PLOTLY_SCALES, sample_colorscale

from app.arrays import typed

TAB10 = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
RED, GREEN = TAB10[3], TAB10[2]  # wrong / right: the highlight, the feedback box, the reference lines
UNLABELLED = "rgba(120,120,120,0.35)"
# cmin -0.02 .. cmax 1: unlabelled points (value -0.02) grey; a label's quality score red (0) to green (1)
QUALITY_SCALE = [[0.0, "#d0d0d0"], [0.0195, "#d0d0d0"], [0.0196, RED], [0.5, "#ffbf00"], [1.0, GREEN]]


def palette(n: int) -> list[str]:
    """``n`` distinguishable colours: tab10, then evenly spaced hues."""
    if n <= len(TAB10):
        return TAB10[:n]
    out = list(TAB10)
    for i in range(n - len(TAB10)):
        h = (i * 0.618033988749895) % 1.0
        r, g, b = colorsys.hls_to_rgb(h, 0.5, 0.65)
        out.append(f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}")
    return out


def stepped_colorscale(colours: Sequence[str]) -> list[list[Any]]:
    """A colorscale that maps integer i (with cmin=-0.5, cmax=n-0.5) to exactly ``colours[i]``."""
    n = len(colours)
    scale: list[list[Any]] = []
    for i, c in enumerate(colours):
        scale.append([i / n, c])
        scale.append([(i + 1) / n, c])
    return scale


def categorical_marker(values: np.ndarray, n: int, colours: Sequence[str] | None = None) -> dict[str, Any]:
    """Integer ``values`` in [0, n) drawn in ``colours`` (default: the class palette) through a
    stepped colorscale: the browser reads the colours back from the scale and switches to the mode
    without plotly's per-point colour parsing (colour.js ``paintPalette``)."""
    return {
        "color": typed(values),
        "colorscale": stepped_colorscale(colours if colours is not None else palette(n)),
        "cmin": -0.5,
        "cmax": n - 0.5,
        "showscale": False,
    }


# Certainty in percent, 0..100: Viridis reversed (sure = dark), as 101 steps of a stepped scale
CERTAINTY_COLOURS = sample_colorscale(PLOTLY_SCALES["Viridis"], [1 - i / 100 for i in range(101)])
