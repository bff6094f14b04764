"""Per-batch image helpers of the trainer: feedback masks, shift and affine augmentation."""

from __future__ import annotations

import numpy as np


def roi_mask(box: tuple[float, float, float, float], height: int, width: int | None = None) -> np.ndarray:
    """[height, width]: 1 inside the normalised box (where the model may look), 0 outside; one
    mask for every channel of a colour image. ``width`` defaults to ``height``."""
    x0, y0, x1, y1 = box
    w = height if width is None else width
    m = np.zeros((height, w), np.float32)
    c0, c1 = int(np.floor(x0 * w)), int(np.ceil(x1 * w))
    r0, r1 = int(np.floor(y0 * height)), int(np.ceil(y1 * height))
    m[max(r0, 0) : min(r1, height), max(c0, 0) : min(c1, w)] = 1.0
    return m


def shift_augment(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Random translations by up to ``max_shift`` pixels, zero-filled (vectorised); ``x`` is
    [B, H, W] or [B, H, W, C] (every channel moves together)."""
    if max_shift == 0:
        return x.copy()
    b, h, w = (int(n) for n in x.shape[:3])
    s = max_shift
    padded = np.pad(x, ((0, 0), (s, s), (s, s)) + ((0, 0),) * (x.ndim - 3))
    dy = rng.integers(0, 2 * s + 1, b)
    dx = rng.integers(0, 2 * s + 1, b)
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]


def affine_augment(
    x: np.ndarray, max_shift: int, rotate_deg: float, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Random rotation (+- ``rotate_deg``), zoom (1 +- ``scale``) about the centre and integer
    shift (up to ``max_shift`` pixels), bilinear, zero outside the image (vectorised); ``x`` is
    [B, H, W] or [B, H, W, C] (one transform per image, every channel alike)."""
    b, h, w = (int(n) for n in x.shape[:3])
    theta = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg, b))[:, None, None]
    zoom = rng.uniform(1.0 - scale, 1.0 + scale, b)[:, None, None]
    shift = rng.integers(-max_shift, max_shift + 1, (b, 2))
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    # Output pixel -> input point: undo the shift, then the rotation and zoom about the centre.
    dx = xx[None] - cx - shift[:, 0, None, None]
    dy = yy[None] - cy - shift[:, 1, None, None]
    cos, sin = np.cos(theta), np.sin(theta)
    u = (cos * dx + sin * dy) / zoom + cx
    v = (-sin * dx + cos * dy) / zoom + cy
    # Two zero pixels of padding each side, and clipped corners, keep every read in bounds and
    # make any point outside the image read zeros.
    u0 = np.clip(np.floor(u), -2, w).astype(np.int64)
    v0 = np.clip(np.floor(v), -2, h).astype(np.int64)
    fu = np.clip(u - u0, 0.0, 1.0).astype(np.float32)
    fv = np.clip(v - v0, 0.0, 1.0).astype(np.float32)
    if x.ndim == 4:  # the weights broadcast over the channel axis
        fu, fv = fu[..., None], fv[..., None]
    xp = np.pad(x, ((0, 0), (2, 2), (2, 2)) + ((0, 0),) * (x.ndim - 3))
    bi = np.arange(b)[:, None, None]
    r0, c0 = v0 + 2, u0 + 2
    top = (1 - fu) * xp[bi, r0, c0] + fu * xp[bi, r0, c0 + 1]
    bottom = (1 - fu) * xp[bi, r0 + 1, c0] + fu * xp[bi, r0 + 1, c0 + 1]
    return ((1 - fv) * top + fv * bottom).astype(np.float32)
