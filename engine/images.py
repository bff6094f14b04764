"""The project's one PNG encoder (numpy + zlib; no imaging library): grey or RGB, 8 bits; the mosaics
(thumbnail strips and grids) and the saliency overlay drawn with it (the XAI worker's and the sample
card's), for grey [H, W] and colour [H, W, 3] images of any size.

Small images are enlarged by whole pixels (nearest neighbour) so that each pixel stays a sharp
square a person can see; where the browser scales an image, the page's CSS asks for the same
(``image-rendering: pixelated``, app/assets/style.css), and only above :data:`SMOOTH_ABOVE` pixels
for smooth scaling."""

from __future__ import annotations

import base64
import math
import struct
import zlib

import numpy as np

from engine.analysis.saliency import normalise

SMOOTH_ABOVE = 64  # longest side (pixels) above which an image may be scaled smoothly, not by whole pixels
OVERLAY_PX = 224  # about how large the overlay's longest side is drawn (28 x 8: MNIST's overlay as it was)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _check_image(a: np.ndarray, what: str = "image") -> None:
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"expected a grey [H, W] or RGB [H, W, 3] {what}, got shape {a.shape}")


def png_bytes(img: np.ndarray) -> bytes:
    """PNG bytes of a grey [H, W] or RGB [H, W, 3] image: uint8 as is, floats in [0, 1] scaled to 0..255."""
    a = np.asarray(img)
    _check_image(a)
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


def enlarge(img: np.ndarray, scale: int) -> np.ndarray:
    """``img`` [H, W] or [H, W, C] ``scale`` times larger by whole pixels (nearest neighbour): each
    pixel becomes a ``scale`` x ``scale`` square, never a blur."""
    if scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, got {scale}")
    a = np.asarray(img)
    return a.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else a


def overlay_scale(height: int, width: int, target: int = OVERLAY_PX) -> int:
    """The whole-pixel enlargement that brings the longest side to about ``target`` pixels (at
    least 1): 8 for 28x28, 7 for 32x32, 4 for 48x64, 2 for 128x128."""
    return max(1, math.floor(target / max(height, width, 1) + 0.5))


def mosaic(images: np.ndarray, cols: int, pad: int = 1, fill: float = 1.0) -> np.ndarray:
    """Tile ``images`` [n, H, W] (grey) or [n, H, W, 3] (RGB), floats in [0, 1] or uint8, row by
    row into one float image [rows*(H+pad)-pad, cols*(W+pad)-pad] (with the trailing 3 for RGB),
    ``pad`` pixels of ``fill`` between tiles (empty tiles: fill)."""
    a = np.asarray(images)
    if not (a.ndim == 3 or (a.ndim == 4 and a.shape[3] == 3)):
        raise ValueError(f"expected grey [n, H, W] or RGB [n, H, W, 3] images, got shape {a.shape}")
    a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
    n, h, w = a.shape[:3]
    cols = max(1, min(int(cols), max(n, 1)))
    rows = max(1, -(-n // cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *a.shape[3:]), fill, np.float32)
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
    image: np.ndarray, heat: np.ndarray, bbox: list[float] | None, scale: int | None = None, alpha: float = 0.55
) -> bytes:
    """PNG of the image (grey [H, W] or colour [H, W, 3]) with the heat map [H, W] blended on top,
    enlarged ``scale`` times by whole pixels (default :func:`overlay_scale`: about 224 pixels on
    the longest side), and the focus box drawn (encoded by :func:`png_bytes`)."""
    img = np.asarray(image, np.float32)
    _check_image(img)
    heat = np.asarray(heat, np.float32)
    if heat.shape != img.shape[:2]:
        raise ValueError(f"saliency map of shape {heat.shape} does not fit an image of shape {img.shape}")
    if img.max() > 1.0:
        img = img / 255.0
    base = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img  # grey drawn as RGB
    heat = normalise(heat)
    rgb = base * 255.0 * (1 - alpha * heat[..., None]) + _colormap(heat) * (alpha * heat[..., None])
    big = enlarge(np.clip(rgb, 0, 255).astype(np.uint8), overlay_scale(*img.shape[:2]) if scale is None else scale)
    if bbox is not None:
        _draw_box(big, bbox, (0, 230, 118))
    return png_bytes(big)
