"""The project's one PNG encoder (numpy + zlib; no imaging library): grey or RGB, 8 bits; and the
saliency overlay drawn with it (the XAI worker's and the sample card's)."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

from engine.analysis.saliency import normalise


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(img: np.ndarray) -> bytes:
    """PNG bytes of a grey [H, W] or RGB [H, W, 3] image: uint8 as is, floats in [0, 1] scaled to 0..255."""
    a = np.asarray(img)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected a [H, W] or [H, W, 3] image, got shape {a.shape}")
    if a.dtype != np.uint8:
        a = np.clip(np.rint(np.nan_to_num(a.astype(np.float64)) * 255.0), 0, 255).astype(np.uint8)
    h, w = a.shape[:2]
    rows = np.ascontiguousarray(a).reshape(h, -1)
    raw = np.hstack([np.zeros((h, 1), np.uint8), rows]).tobytes()  # filter type 0 per row
    colour = 0 if a.ndim == 2 else 2  # PNG colour types: 0 grey, 2 RGB
    header = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw, 6)) + _chunk(b"IEND", b"")
    )


def png_b64(data: bytes) -> str:
    """Base64 text of PNG bytes (what travels in messages and data URIs)."""
    return base64.b64encode(data).decode("ascii")


def mosaic(images: np.ndarray, cols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile ``images`` [n, H, W] (floats in [0, 1] or uint8) row by row into one [rows*(H+pad)-pad,
    cols*(W+pad)-pad] float image with ``pad`` pixels of ``fill`` between tiles (empty tiles: fill)."""
    a = np.asarray(images)
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    n, h, w = a.shape
    cols = max(1, min(int(cols), max(n, 1)))
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), fill, np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = a[i]
    return out


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
    neighbour), and the focus box drawn (encoded by :func:`png_bytes`)."""
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
