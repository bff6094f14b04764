"""The latent map of very large datasets: a density raster of the view, or its points when few.

Above ``raster_above`` map points (1,000,000: 8 MB of coordinates, and a WebGL redraw the software
renderer cannot do in a frame) the browser is never sent every point. Each view of the map (the
axis ranges after a pan or zoom) is answered here with either

- a **raster**: datashader's aggregate of every point in the view on a canvas of about
  ``width`` pixels, shaded by the colour mode (categories mixed per pixel for class-like modes, the
  mean certainty for "certainty", the plain density otherwise), as RGB pixels; or
- the **points**: the serials of the at most ``points_max`` points inside the view, which the
  page draws as WebGL markers (clickable, like the small map).

Plain numpy/pandas/datashader, no Dash (app/density_figures.py turns the answers into figures).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.colours import palette
from app.services.embeddings import MapVersion

RASTER_WIDTH = 800  # px: about the map card's width on a laptop screen
MAX_CLIENTS = 64
CATEGORICAL = {"pred": "pred", "true": "true", "component": "component"}  # mode -> MapVersion field
PAD = 0.02  # the full view shows the points' extent plus this fraction on every side


@dataclass(frozen=True)
class Window:
    """A rectangle of map coordinates (x0 < x1, y0 < y1)."""

    x0: float
    x1: float
    y0: float
    y1: float

    def pixels(self, width: int) -> tuple[int, int]:
        """(width, height) of a raster of this window ``width`` pixels wide, square pixels."""
        h = width * (self.y1 - self.y0) / (self.x1 - self.x0)
        return width, int(min(2 * width, max(16, round(h))))


@dataclass(frozen=True)
class DensityView:
    """The answer for one view: ``rgb`` [H, W, 3] uint8 (row 0 at the top, ``window.y1``) for a
    raster, ``serials`` of the points inside the window for the points view."""

    kind: str  # "raster" | "points"
    window: Window
    n_in_view: int
    rgb: np.ndarray | None = None
    serials: np.ndarray | None = None


def window_from_relayout(data: Any, previous: Window | None, full: Window) -> Window | None:
    """The view a plotly ``relayoutData`` event describes: the full extent after a double-click
    (autorange), the new ranges after a pan or zoom (an axis not named keeps ``previous``'s range),
    None for events that do not move the view (resize, drag mode)."""
    if not isinstance(data, dict):
        return None
    if data.get("xaxis.autorange") or data.get("yaxis.autorange"):
        return full
    base = previous or full
    ranges = {"x": (base.x0, base.x1), "y": (base.y0, base.y1)}
    moved = False
    for ax in ("x", "y"):
        r = data.get(f"{ax}axis.range")
        lo, hi = (r[0], r[1]) if isinstance(r, list) and len(r) == 2 else (None, None)
        lo = data.get(f"{ax}axis.range[0]", lo)
        hi = data.get(f"{ax}axis.range[1]", hi)
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and np.isfinite([lo, hi]).all() and lo != hi:
            ranges[ax] = (float(min(lo, hi)), float(max(lo, hi)))
            moved = True
    if not moved:
        return None
    return Window(ranges["x"][0], ranges["x"][1], ranges["y"][0], ranges["y"][1])


class DensityMap:
    """Rasters and point subsets of map versions; remembers each tab's view (``remember``)."""

    def __init__(self, raster_above: int, points_max: int, width: int = RASTER_WIDTH) -> None:
        self.raster_above = int(raster_above)
        self.points_max = int(points_max)
        self.width = int(width)
        self._views: OrderedDict[str, Window] = OrderedDict()
        self._frames: dict[int, Any] = {}  # version -> pandas frame of its points
        self._lock = threading.Lock()

    def active(self, v: MapVersion) -> bool:
        """True when the map of ``v`` is too large to send whole: the raster/points mode."""
        return v.n_points > self.raster_above

    # -- views per tab ---------------------------------------------------------------------------
    def remember(self, client: str, window: Window) -> None:
        with self._lock:
            self._views[client] = window
            self._views.move_to_end(client)
            while len(self._views) > MAX_CLIENTS:
                self._views.popitem(last=False)

    def recall(self, client: str) -> Window | None:
        with self._lock:
            return self._views.get(client)

    # -- answers -----------------------------------------------------------------------------------
    @staticmethod
    def extent(v: MapVersion) -> Window:
        """Every point of ``v`` with a margin: the view a double-click returns to."""
        if not v.n_points:
            return Window(-1.0, 1.0, -1.0, 1.0)
        lo, hi = v.xy.min(0).astype(float), v.xy.max(0).astype(float)
        pad = np.maximum((hi - lo) * PAD, 1e-3)
        return Window(lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])

    def warm(self, v: MapVersion | None) -> None:
        """Rasterise ``v`` once per shading (tiny canvas) when the map is large: numba compiles
        datashader's kernels on first use (seconds), which belongs in startup, not in a request."""
        if v is not None and self.active(v):
            for mode in ("label", "certainty", *CATEGORICAL):
                self.raster(v, mode, self.extent(v), width=32)

    def view(self, v: MapVersion, mode: str, window: Window) -> DensityView:
        """The points inside ``window`` when at most ``points_max``, else its raster in ``mode``."""
        x, y = v.xy[:, 0], v.xy[:, 1]
        inside = (x >= window.x0) & (x <= window.x1) & (y >= window.y0) & (y <= window.y1)
        n = int(np.count_nonzero(inside))
        if n <= self.points_max:
            return DensityView("points", window, n, serials=np.flatnonzero(inside))
        return DensityView("raster", window, n, rgb=self.raster(v, mode, window))

    def raster(self, v: MapVersion, mode: str, window: Window, width: int | None = None) -> np.ndarray:
        """RGB uint8 [H, W, 3] of the points of ``v`` in ``window``, on white, shaded by ``mode``."""
        import datashader as ds
        import datashader.transfer_functions as tf
        from datashader.colors import viridis

        w, h = window.pixels(width or self.width)
        cvs = ds.Canvas(plot_width=w, plot_height=h, x_range=(window.x0, window.x1), y_range=(window.y0, window.y1))
        df = self._frame(v)
        if mode in CATEGORICAL:
            k = v.components if mode == "component" else v.num_classes
            counts = cvs.points(df, "x", "y", ds.count_cat(mode)).values  # [H, W, k]
            return _mix_categories(counts, palette(k))[::-1].copy()  # datashader's row 0 is the bottom (y0)
        if mode == "certainty":  # the small map's reversed Viridis: certain = dark
            agg = cvs.points(df, "x", "y", ds.mean("certainty"))
            img = tf.shade(agg, cmap=list(reversed(viridis)), how="linear", span=[0, 100])
        else:  # label, quality, probe: the labelled points are on the overlay; here the density
            agg = cvs.points(df, "x", "y", ds.count())
            img = tf.shade(agg, cmap=["#c8c8c8", "#1a1a1a"], how="eq_hist")
        img = tf.dynspread(img, threshold=0.5, max_px=2)
        img = tf.set_background(img, "white")
        rgba = np.asarray(img.data, np.uint32).view(np.uint8).reshape(h, w, 4)
        return np.ascontiguousarray(rgba[::-1, :, :3])

    def _frame(self, v: MapVersion) -> Any:
        """The points of ``v`` as the pandas frame datashader aggregates (built once per version)."""
        import pandas as pd

        with self._lock:
            hit = self._frames.get(v.version)
        if hit is not None:
            return hit
        cols: dict[str, Any] = {"x": v.xy[:, 0], "y": v.xy[:, 1], "certainty": v.certainty.astype(np.float32)}
        for mode, field in CATEGORICAL.items():
            k = v.components if mode == "component" else v.num_classes
            dtype = pd.CategoricalDtype(list(range(k)))
            cols[mode] = pd.Categorical.from_codes(getattr(v, field).astype(np.int16), dtype=dtype)
        df = pd.DataFrame(cols, copy=False)
        with self._lock:
            self._frames = {ver: f for ver, f in self._frames.items() if ver > v.version - 2}
            self._frames[v.version] = df
        return df


def _mix_categories(counts: np.ndarray, colours: list[str], min_alpha: float = 0.25) -> np.ndarray:
    """RGB uint8 [H, W, 3] of per-pixel category counts [H, W, K]: each pixel the count-weighted
    mean of the categories' colours, over white with an opacity growing with the log of its count
    (numpy: 4x faster than datashader's categorical shade, which equalises a histogram)."""
    pal = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colours], np.float32)
    total = counts.sum(-1, dtype=np.float32)
    mix = (counts.astype(np.float32) @ pal) / np.maximum(total, 1.0)[..., None]
    top = float(np.log1p(total.max())) or 1.0
    alpha = np.where(total > 0, min_alpha + (1.0 - min_alpha) * np.log1p(total) / top, 0.0)[..., None]
    return np.rint(255.0 * (1.0 - alpha) + mix * alpha).astype(np.uint8)
