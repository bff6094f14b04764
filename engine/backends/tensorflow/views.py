"""A batch's two views in TensorFlow, on the backend's device: the rows gathered from the held
images, then shift, affine and weak shift applied as engine/training/augment.py's numpy reference
does (the same draws, so the same pixels: exact for shifts, and for affine the sampling grid is
computed in float64 like numpy's)."""

from __future__ import annotations

import numpy as np

from engine.backends.tensorflow.model import tf
from engine.training.augment import Affine, ViewPlan

# uint8 -> float32 in [0, 1] by lookup: numpy's x / 255 exactly, on any device
_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


class Views:
    """The held images (on the device, or the host array read by row) and the view functions."""

    def __init__(self, dev: str) -> None:
        self.dev = dev
        with tf.device(dev):
            self.levels = tf.constant(_LEVELS)
        self.images: tf.Tensor | None = None  # uint8 [N, *sample_shape] on the device

    def upload(self, images: np.ndarray | None) -> None:
        """Copy ``images`` to the device (None: drop the copy)."""
        with tf.device(self.dev):
            self.images = None if images is None else tf.identity(tf.convert_to_tensor(np.asarray(images, np.uint8)))

    def make(self, host: np.ndarray, plan: ViewPlan) -> tuple[tf.Tensor, tf.Tensor]:
        """(x, x_aug) for ``plan``; ``host`` is the dataset's array, read when nothing is uploaded."""
        with tf.device(self.dev):
            if self.images is not None:
                pixels = tf.gather(self.images, tf.constant(plan.rows, tf.int64))
            else:
                pixels = tf.convert_to_tensor(np.ascontiguousarray(host[plan.rows]))
            x = tf.gather(self.levels, tf.cast(pixels, tf.int32))
            x_aug = affine(x, plan.aug) if isinstance(plan.aug, Affine) else shift(x, tf.constant(plan.aug, tf.int64))
            if plan.weak is not None:
                x = shift(x, tf.constant(plan.weak, tf.int64))
            return x, x_aug


def read(x: tf.Tensor, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """x[b, rows, cols] for int64 ``rows``/``cols`` broadcasting to [B, H, W]; zero outside the image."""
    b, h, w = x.shape[0], x.shape[1], x.shape[2]
    shape = tf.stack([b, h, w])
    rows, cols = tf.broadcast_to(rows, shape), tf.broadcast_to(cols, shape)
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    bi = tf.broadcast_to(tf.reshape(tf.range(b, dtype=tf.int64), [-1, 1, 1]), shape)
    idx = tf.stack([bi, tf.clip_by_value(rows, 0, h - 1), tf.clip_by_value(cols, 0, w - 1)], -1)
    out = tf.gather_nd(x, idx)
    if len(x.shape) == 4:
        ok = ok[..., None]
    return tf.where(ok, out, tf.zeros((), x.dtype))


def shift(x: tf.Tensor, d: tf.Tensor) -> tf.Tensor:
    """augment.shift_images: pixel (r, c) reads (r + dy, c + dx), zero outside."""
    h, w = x.shape[1], x.shape[2]
    rows = tf.reshape(tf.range(h, dtype=tf.int64), [1, -1, 1]) + tf.reshape(d[:, 0], [-1, 1, 1])
    cols = tf.reshape(tf.range(w, dtype=tf.int64), [1, 1, -1]) + tf.reshape(d[:, 1], [-1, 1, 1])
    return read(x, rows, cols)


def affine(x: tf.Tensor, a: Affine) -> tf.Tensor:
    """augment.affine_images, op for op (the grid in float64, the blend in float32)."""
    h, w = x.shape[1], x.shape[2]
    cos, sin, zoom = (tf.reshape(tf.constant(np.asarray(v, np.float64)), [-1, 1, 1]) for v in (a.cos, a.sin, a.zoom))
    sh = tf.constant(np.asarray(a.shift, np.float64))  # small integers: exact in float64
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = tf.meshgrid(tf.range(h, dtype=tf.float64), tf.range(w, dtype=tf.float64), indexing="ij")
    dx = xx[None] - cx - tf.reshape(sh[:, 0], [-1, 1, 1])
    dy = yy[None] - cy - tf.reshape(sh[:, 1], [-1, 1, 1])
    v = (-sin * dx + cos * dy) / zoom + cy
    u = (cos * dx + sin * dy) / zoom + cx
    u0 = tf.clip_by_value(tf.floor(u), -2.0, float(w))
    v0 = tf.clip_by_value(tf.floor(v), -2.0, float(h))
    fu = tf.cast(tf.clip_by_value(u - u0, 0.0, 1.0), tf.float32)
    fv = tf.cast(tf.clip_by_value(v - v0, 0.0, 1.0), tf.float32)
    u0, v0 = tf.cast(u0, tf.int64), tf.cast(v0, tf.int64)
    if len(x.shape) == 4:
        fu, fv = fu[..., None], fv[..., None]
    top = (1 - fu) * read(x, v0, u0) + fu * read(x, v0, u0 + 1)
    bottom = (1 - fu) * read(x, v0 + 1, u0) + fu * read(x, v0 + 1, u0 + 1)
    return (1 - fv) * top + fv * bottom
