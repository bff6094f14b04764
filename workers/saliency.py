"""Framework-free post-processing of saliency maps: compare two maps, find the focus box (the
overlay PNG is drawn by :func:`engine.images.overlay_png`)."""

from __future__ import annotations

import numpy as np


def agreement(a: np.ndarray, b: np.ndarray, top: float = 0.1) -> dict[str, float]:
    """Pearson correlation of two maps and the IoU of their top-``top`` fraction of pixels."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    corr = 0.0 if a.std() == 0 or b.std() == 0 else float(np.corrcoef(a, b)[0, 1])
    k = max(1, round(top * a.size))
    ta = set(np.argsort(-a, kind="stable")[:k].tolist())
    tb = set(np.argsort(-b, kind="stable")[:k].tolist())
    return {"correlation": corr, "top_overlap": len(ta & tb) / len(ta | tb)}


def focus_bbox(m: np.ndarray, level: float = 0.5, min_peak_ratio: float = 2.0) -> list[float] | None:
    """Normalised box [x0, y0, x1, y1] around the connected region (4-neighbour) containing the
    maximum, where the map is >= ``level`` * max. None when nothing stands out: the peak is less
    than ``min_peak_ratio`` times the mean (a flat map) or the map is empty."""
    m = np.asarray(m, np.float64)
    peak = float(m.max()) if m.size else 0.0
    if peak <= 0 or peak < min_peak_ratio * float(m.mean()):
        return None
    hot = m >= level * peak
    h, w = m.shape
    start = np.unravel_index(int(np.argmax(m)), m.shape)
    seen = np.zeros_like(hot)
    stack = [start]
    seen[start] = True
    rows, cols = [], []
    while stack:
        r, c = stack.pop()
        rows.append(r)
        cols.append(c)
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < h and 0 <= nc < w and hot[nr, nc] and not seen[nr, nc]:
                seen[nr, nc] = True
                stack.append((nr, nc))
    return [float(min(cols) / w), float(min(rows) / h), float((max(cols) + 1) / w), float((max(rows) + 1) / h)]
