"""The dashboard's colours in one place: the class palette and the categorical markers drawn with it,
the unlabelled grey, and the scales of the certainty and label-quality colour modes. Figures,
cards and services (the density raster, the probe colours) all take their colours from here."""

from __future__ import annotations

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


# Classes 11 to 100: a Glasbey-style set (Glasbey et al. 2007, "Colour displays for categorical
# images"), made once by a greedy max-min search in CIELAB (CIE76 distance): candidates are the sRGB
# grid of step 8 with lightness 30..80 (visible on the white map, never near-white or near-black);
# the taken set starts as tab10, white (the background) and UNLABELLED over white; each step adds
# the candidate farthest from everything taken. tests/app/test_app_palette.py reruns the search
# (its ``glasbey``) and checks it gives this list, and the distances it promises.
GLASBEY = [
    "#0000f8",
    "#f818f8",
    "#405000",
    "#0050e8",
    "#f8b878",
    "#f80078",
    "#00e000",
    "#00e0a8",
    "#98b878",
    "#8808a8",
    "#901050",
    "#985800",
    "#007858",
    "#f88088",
    "#e000a8",
    "#b8b8f8",
    "#584068",
    "#2078e8",
    "#e070f8",
    "#f8b000",
    "#005060",
    "#88d000",
    "#9038f8",
    "#882018",
    "#f8b0d0",
    "#988830",
    "#f08050",
    "#801878",
    "#405038",
    "#10e060",
    "#4038a0",
    "#d8a090",
    "#b06888",
    "#006818",
    "#60c0f8",
    "#c83050",
    "#88d0b8",
    "#f80000",
    "#90d870",
    "#688800",
    "#887850",
    "#9078f8",
    "#40a868",
    "#284890",
    "#9080a8",
    "#5090a8",
    "#c04800",
    "#684010",
    "#d0c868",
    "#d09028",
    "#d8a0f8",
    "#d03888",
    "#60a0f8",
    "#f80050",
    "#d0c090",
    "#709070",
    "#0028e0",
    "#00d8c8",
    "#b87850",
    "#28b800",
    "#504850",
    "#b850b8",
    "#783850",
    "#90c8d8",
    "#c05848",
    "#087878",
    "#588040",
    "#a050e8",
    "#c810c8",
    "#f870a0",
    "#00c870",
    "#5028b8",
    "#603880",
    "#a84888",
    "#c0a0b0",
    "#e8c040",
    "#f86060",
    "#f868d8",
    "#7078c0",
    "#a84858",
    "#28a890",
    "#506888",
    "#f05000",
    "#80b830",
    "#205828",
    "#88d898",
    "#c000f8",
    "#c088c0",
    "#a80098",
    "#705800",
]
MAX_CLASSES = len(TAB10) + len(GLASBEY)  # 100


def palette(n: int) -> list[str]:
    """``n`` distinguishable colours (2 <= n <= 100 in practice): tab10, then :data:`GLASBEY`.
    Beyond 100 the list repeats (no dataset here has so many classes)."""
    full = TAB10 + GLASBEY
    return [full[i % len(full)] for i in range(n)]


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
