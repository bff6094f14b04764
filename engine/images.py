"""The project's one PNG encoder (numpy + zlib; no imaging library): grey or RGB, 8 bits."""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np


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
