"""A batch's two views in JAX, on the backend's device, in one compiled function: the rows gathered
from the held images, then shift, affine and weak shift applied as engine/training/augment.py's
numpy reference does (the same draws: exact for shifts; the affine grid is float32 here, so a
bilinear pixel may differ from numpy's by ~1e-6). Imported lazily, like ``model.py``."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from engine.training.augment import Affine, ViewPlan

# uint8 -> float32 in [0, 1] by lookup: numpy's x / 255 exactly, on any device
LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


def _read(x: jax.Array, rows: jax.Array, cols: jax.Array) -> jax.Array:
    """x[b, rows, cols] for int ``rows``/``cols`` broadcasting to [B, H, W]; zero outside the image."""
    b, h, w = x.shape[:3]
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    bi = jnp.arange(b).reshape(-1, 1, 1)
    out = x[bi, jnp.clip(rows, 0, h - 1), jnp.clip(cols, 0, w - 1)]
    if x.ndim == 4:
        ok = ok[..., None]
    return jnp.where(ok, out, jnp.zeros((), x.dtype))


def _shift(x: jax.Array, d: jax.Array) -> jax.Array:
    h, w = x.shape[1], x.shape[2]
    rows = jnp.arange(h).reshape(1, -1, 1) + d[:, 0].reshape(-1, 1, 1)
    cols = jnp.arange(w).reshape(1, 1, -1) + d[:, 1].reshape(-1, 1, 1)
    return _read(x, rows, cols)


def _affine(x: jax.Array, cos: jax.Array, sin: jax.Array, zoom: jax.Array, sh: jax.Array) -> jax.Array:
    h, w = x.shape[1], x.shape[2]
    cos, sin, zoom = cos.reshape(-1, 1, 1), sin.reshape(-1, 1, 1), zoom.reshape(-1, 1, 1)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32), indexing="ij")
    dx = xx[None] - cx - sh[:, 0].reshape(-1, 1, 1)
    dy = yy[None] - cy - sh[:, 1].reshape(-1, 1, 1)
    v = (-sin * dx + cos * dy) / zoom + cy
    u = (cos * dx + sin * dy) / zoom + cx
    u0 = jnp.clip(jnp.floor(u), -2, w)
    v0 = jnp.clip(jnp.floor(v), -2, h)
    fu, fv = jnp.clip(u - u0, 0.0, 1.0), jnp.clip(v - v0, 0.0, 1.0)
    u0, v0 = u0.astype(jnp.int32), v0.astype(jnp.int32)
    if x.ndim == 4:
        fu, fv = fu[..., None], fv[..., None]
    top = (1 - fu) * _read(x, v0, u0) + fu * _read(x, v0, u0 + 1)
    bottom = (1 - fu) * _read(x, v0 + 1, u0) + fu * _read(x, v0 + 1, u0 + 1)
    return (1 - fv) * top + fv * bottom


def _views(levels, source, rows, aug, weak, held: bool):
    pixels = source[rows] if held else source
    x = levels[pixels.astype(jnp.int32)]
    x_aug = _affine(x, *aug) if isinstance(aug, tuple) else _shift(x, aug)
    if weak is not None:
        x = _shift(x, weak)
    return x, x_aug


views = jax.jit(_views, static_argnames=("held",))


def plan_arrays(plan: ViewPlan) -> tuple[np.ndarray, Any, np.ndarray | None]:
    """The plan's draws as the small arrays :data:`views` takes (int32 and float32)."""
    a = plan.aug
    if isinstance(a, Affine):
        aug: Any = (*(np.asarray(v, np.float32) for v in (a.cos, a.sin, a.zoom)), np.asarray(a.shift, np.int32))
    else:
        aug = np.asarray(a, np.int32)
    weak = None if plan.weak is None else np.asarray(plan.weak, np.int32)
    return np.asarray(plan.rows, np.int32), aug, weak
