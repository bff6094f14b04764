"""Per-batch image helpers of the trainer: feedback masks, and the numpy reference of the batch's
two views (integer shift, affine rotate/zoom/shift, weak shift).

A batch's views are split into *draws* and their *application*. The draws (which rows, which shift,
which angle and zoom) come from the trainer's numpy Generator, in a fixed order, and travel as
small arrays in a :class:`ViewPlan`; applying them is a pure function. The numpy functions here are
the reference: every backend applies the same plan on its own device (``Backend.views``) and the
known-answer tests compare them with these (exact for shifts, ~1e-6 for bilinear affine).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class Affine:
    """One affine transform per image: rotation (``cos``, ``sin`` of the angle, float64 [B]), zoom
    (float64 [B]) about the centre, then an integer shift (int64 [B, 2], x then y, in pixels)."""

    cos: np.ndarray
    sin: np.ndarray
    zoom: np.ndarray
    shift: np.ndarray


@dataclass(frozen=True)
class ViewPlan:
    """A batch's images as draws: ``rows`` (int64 [B], the dataset rows), the consistency view's
    transform (``aug``: an int64 [B, 2] shift (dy, dx) that reads pixel (r + dy, c + dx), zero
    outside; or an :class:`Affine`), and the main view's weak shift (int64 [B, 2] like ``aug``'s,
    0 for rows that stay put; None = no weak shift)."""

    rows: np.ndarray
    aug: np.ndarray | Affine
    weak: np.ndarray | None = None


def draw_shift(rng: np.random.Generator, n: int, max_shift: int) -> np.ndarray:
    """int64 [n, 2]: (dy, dx) each in [-max_shift, max_shift]; draws nothing when max_shift is 0."""
    if max_shift == 0:
        return np.zeros((n, 2), np.int64)
    dy = rng.integers(0, 2 * max_shift + 1, n)
    dx = rng.integers(0, 2 * max_shift + 1, n)
    return np.stack([dy, dx], 1) - max_shift


def draw_affine(rng: np.random.Generator, n: int, max_shift: int, rotate_deg: float, scale: float) -> Affine:
    """Rotation +- ``rotate_deg``, zoom 1 +- ``scale`` and a shift of up to ``max_shift`` pixels per image."""
    theta = np.deg2rad(rng.uniform(-rotate_deg, rotate_deg, n))
    zoom = rng.uniform(1.0 - scale, 1.0 + scale, n)
    shift = rng.integers(-max_shift, max_shift + 1, (n, 2))
    return Affine(np.cos(theta), np.sin(theta), zoom, shift)


def shift_images(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """[B, H, W] or [B, H, W, C] images moved by ``d`` (int [B, 2], (dy, dx)): output pixel (r, c)
    is input pixel (r + dy, c + dx), zero outside (every channel moves together)."""
    b, h, w = (int(n) for n in x.shape[:3])
    rows = np.arange(h)[None, :] + d[:, 0, None]  # [B, H]
    cols = np.arange(w)[None, :] + d[:, 1, None]  # [B, W]
    ok = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    out = x[np.arange(b)[:, None, None], np.clip(rows, 0, h - 1)[:, :, None], np.clip(cols, 0, w - 1)[:, None, :]]
    return np.where(ok.reshape(ok.shape + (1,) * (x.ndim - 3)), out, np.zeros((), x.dtype))


def affine_grid(a: Affine, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """For every output pixel the input point it reads: (v, u) float64 [B, H, W] (row, column).
    Output pixel -> input point: undo the shift, then the rotation and zoom about the centre."""
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    dx = xx[None] - cx - a.shift[:, 0, None, None]
    dy = yy[None] - cy - a.shift[:, 1, None, None]
    cos, sin, zoom = a.cos[:, None, None], a.sin[:, None, None], a.zoom[:, None, None]
    return (-sin * dx + cos * dy) / zoom + cy, (cos * dx + sin * dy) / zoom + cx


def affine_images(x: np.ndarray, a: Affine) -> np.ndarray:
    """[B, H, W] or [B, H, W, C] float32 images under the affine transforms ``a``, bilinear, zero
    outside the image (one transform per image, every channel alike)."""
    b, h, w = (int(n) for n in x.shape[:3])
    v, u = affine_grid(a, h, w)
    # Clipped corners keep every read within two pixels of the image; reads outside it are zero.
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


def plan_views(x: np.ndarray, plan: ViewPlan) -> tuple[np.ndarray, np.ndarray]:
    """The reference: (x, x_aug) of a batch from its float32 images ``x`` (the plan's rows)."""
    x_aug = affine_images(x, plan.aug) if isinstance(plan.aug, Affine) else shift_images(x, plan.aug)
    if plan.weak is not None:
        x = shift_images(x, plan.weak)
    return x, x_aug


def shift_augment(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Random translations by up to ``max_shift`` pixels, zero-filled (``x`` [B, H, W] or [B, H, W, C])."""
    return shift_images(x, draw_shift(rng, len(x), max_shift))


def affine_augment(
    x: np.ndarray, max_shift: int, rotate_deg: float, scale: float, rng: np.random.Generator
) -> np.ndarray:
    """Random rotation (+- ``rotate_deg``), zoom (1 +- ``scale``) about the centre and integer
    shift (up to ``max_shift`` pixels), bilinear, zero outside the image."""
    return affine_images(x, draw_affine(rng, len(x), max_shift, rotate_deg, scale))
