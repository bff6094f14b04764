"""Framework-free post-processing of saliency maps: normalise, blend, compare, box, draw."""
from __future__ import annotations

import base64
import io

import numpy as np


def normalise(m: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] (all zeros stay zeros)."""
    m = np.maximum(np.asarray(m, np.float32), 0)
    top = float(m.max())
    return m / top if top > 0 else m


def consensus(maps: list[np.ndarray]) -> np.ndarray:
    """Normalised mean of normalised maps: high only where the methods agree."""
    return normalise(np.mean([normalise(m) for m in maps], axis=0))


def agreement(a: np.ndarray, b: np.ndarray, top: float = 0.1) -> dict[str, float]:
    """Pearson correlation of two maps and the IoU of their top-``top`` fraction of pixels."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        corr = 0.0
    else:
        corr = float(np.corrcoef(a, b)[0, 1])
    k = max(1, int(round(top * a.size)))
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


def overlay_png(image: np.ndarray, heat: np.ndarray, bbox: list[float] | None, scale: int = 8,
                alpha: float = 0.55) -> bytes:
    """PNG of the grey image with the heat map blended on top and the focus box drawn."""
    from PIL import Image, ImageDraw

    img = np.asarray(image, np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    grey = np.repeat(img[..., None] * 255.0, 3, axis=2)
    heat = normalise(heat)
    rgb = grey * (1 - alpha * heat[..., None]) + _colormap(heat) * (alpha * heat[..., None])
    pil = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).resize(
        (img.shape[1] * scale, img.shape[0] * scale), Image.NEAREST)
    if bbox is not None:
        w, h = pil.size
        x0, y0, x1, y1 = bbox
        ImageDraw.Draw(pil).rectangle([x0 * w, y0 * h, x1 * w - 1, y1 * h - 1], outline=(0, 230, 118), width=2)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def png_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
