"""Framework-free post-processing of saliency maps: normalise, blend, compare, box, draw."""

from __future__ import annotations

import numpy as np

from engine.analysis.saliency import normalise
from engine.images import png_b64 as png_b64  # re-exported: app.layouts.views imports it from here
from engine.images import png_bytes


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


def _colormap(v: np.ndarray) -> np.ndarray:
    """A perceptual 'inferno'-like ramp without importing matplotlib: [H,W] in [0,1] -> RGB."""
    stops = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)
    x = np.clip(v, 0, 1) * (len(stops) - 1)
    i = np.minimum(x.astype(int), len(stops) - 2)
    f = (x - i)[..., None]
    return stops[i] * (1 - f) + stops[i + 1] * f


def _draw_box(rgb: np.ndarray, bbox: list[float], colour: tuple[int, int, int], width: int = 2) -> None:
    """Outline the normalised box [x0, y0, x1, y1] on ``rgb`` [H, W, 3] in place, ``width`` pixels
    thick, inside the box."""
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = (round(v * n) for v, n in zip(bbox, (w, h, w, h), strict=True))
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 <= x0 or y1 <= y0:
        return
    rgb[y0 : min(y0 + width, y1), x0:x1] = colour
    rgb[max(y1 - width, y0) : y1, x0:x1] = colour
    rgb[y0:y1, x0 : min(x0 + width, x1)] = colour
    rgb[y0:y1, max(x1 - width, x0) : x1] = colour


def overlay_png(
    image: np.ndarray, heat: np.ndarray, bbox: list[float] | None, scale: int = 8, alpha: float = 0.55
) -> bytes:
    """PNG of the grey image with the heat map blended on top, enlarged ``scale`` times (nearest
    neighbour), and the focus box drawn (encoded by engine.images, the one PNG encoder)."""
    img = np.asarray(image, np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    grey = np.repeat(img[..., None] * 255.0, 3, axis=2)
    heat = normalise(heat)
    rgb = grey * (1 - alpha * heat[..., None]) + _colormap(heat) * (alpha * heat[..., None])
    big = np.clip(rgb, 0, 255).astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
    if bbox is not None:
        _draw_box(big, bbox, (0, 230, 118))
    return png_bytes(big)
