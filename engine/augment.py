"""Per-batch image helpers of the trainer: feedback masks and shift augmentation."""

from __future__ import annotations

import numpy as np


def roi_mask(box: tuple[float, float, float, float], size: int) -> np.ndarray:
    """1 inside the normalised box (where the model may look), 0 outside."""
    x0, y0, x1, y1 = box
    m = np.zeros((size, size), np.float32)
    c0, c1 = int(np.floor(x0 * size)), int(np.ceil(x1 * size))
    r0, r1 = int(np.floor(y0 * size)), int(np.ceil(y1 * size))
    m[max(r0, 0) : min(r1, size), max(c0, 0) : min(c1, size)] = 1.0
    return m


def shift_augment(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Random translations by up to ``max_shift`` pixels, zero-filled (vectorised)."""
    if max_shift == 0:
        return x.copy()
    b, h, w = (int(n) for n in x.shape)
    s = max_shift
    padded = np.pad(x, ((0, 0), (s, s), (s, s)))
    dy = rng.integers(0, 2 * s + 1, b)
    dx = rng.integers(0, 2 * s + 1, b)
    rows = dy[:, None] + np.arange(h)
    cols = dx[:, None] + np.arange(w)
    return padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
