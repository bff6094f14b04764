"""Synthetic class-structured datasets for tests and demos (blurred strokes per class, gray).

The coloured shapes (colour and shape both decide the class) are :mod:`engine.datasets.shapes`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from engine.datasets.store import Dataset
from engine.errors import DatasetError

REF_SIDE = 28  # the side (MNIST's) at which the jitter and stroke widths were tuned; they scale with the side


def _segment_distance(px: np.ndarray, py: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Distance from pixel centres (px, py: [H, W]) to segments seg [B, S, 4] -> [B, S, H, W]."""
    x0, y0, x1, y1 = (seg[..., i][..., None, None] for i in range(4))
    dx, dy = x1 - x0, y1 - y0
    t = ((px - x0) * dx + (py - y0) * dy) / np.maximum(dx * dx + dy * dy, 1e-6)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))


def _class_prototypes(num_classes: int, size: int, n_strokes: int = 3) -> np.ndarray:
    """Per-class stroke endpoints [C, S, 4], mutually distinct (fixed: the seed only varies samples)."""
    rng = np.random.default_rng(20240611 + num_classes)
    lo, hi = size * 0.18, size * 0.82
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    protos: list[np.ndarray] = []
    renders: list[np.ndarray] = []
    for _ in range(num_classes):
        for attempt in range(200):
            seg = rng.uniform(lo, hi, size=(n_strokes, 4)).astype(np.float32)
            lengths = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
            if lengths.min() < size * 0.25:
                continue
            img = np.exp(-(_segment_distance(xx, yy, seg[None]) ** 2) / 2.0).max(axis=1)[0]
            v = img.ravel() / np.linalg.norm(img)
            # Reject patterns too similar to an earlier class (cosine similarity); relax slowly
            # so many classes still fit.
            if all(float(v @ r) < 0.55 + attempt * 0.002 for r in renders):
                break
        protos.append(seg)
        renders.append(v)
    return np.stack(protos)


def synthetic_chunks(
    n_train: int = 600,
    n_test: int = 200,
    size: int = 28,
    num_classes: int = 10,
    seed: int = 0,
    chunk: int = 1024,
    width: int | None = None,
) -> tuple[np.ndarray, Iterator[tuple[int, np.ndarray, np.ndarray]]]:
    """The targets of every row and an iterator of (first row, uint8 images [B, H, W], targets [B]):
    the rows of :func:`synthetic_dataset` (the same for the same arguments) one chunk at a time.
    ``size`` is the height H, ``width`` the width W (default: ``size``, square)."""
    height, width = size, size if width is None else width
    if n_train < 1 or n_test < 0 or num_classes < 2 or min(height, width) < 8:
        raise DatasetError("synthetic_dataset: need n_train >= 1, n_test >= 0, num_classes >= 2, sides >= 8")
    # The strokes are drawn on a square of the shorter side, then stretched to (H, W): a square
    # image takes exactly the old path, so every existing synthetic dataset stays byte-identical.
    size = min(height, width)
    rng = np.random.default_rng(seed)
    protos = _class_prototypes(num_classes, size)
    if height != width:
        protos = protos * np.array([width / size, height / size] * 2, np.float32)
    n = n_train + n_test
    targets = np.concatenate([np.arange(n_train) % num_classes, np.arange(n_test) % num_classes])
    targets = np.concatenate([rng.permutation(targets[:n_train]), rng.permutation(targets[n_train:])]).astype(np.int64)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    shift_max = max(1, size // 14)

    def rows() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for start in range(0, n, chunk):  # chunks bound the [B, S, H, W] distance tensor
            y = targets[start : start + chunk]
            b = len(y)
            seg = protos[y] + rng.normal(0.0, size / REF_SIDE * 0.8, size=(b, protos.shape[1], 4)).astype(np.float32)
            shift = rng.integers(-shift_max, shift_max + 1, size=(b, 1, 2)).astype(np.float32)
            seg = seg + np.concatenate([shift, shift], axis=-1)
            stroke = rng.uniform(0.8, 1.5, size=(b, 1, 1, 1)).astype(np.float32) * size / REF_SIDE
            ink = np.exp(-(_segment_distance(xx, yy, seg) ** 2) / (2 * stroke**2)).max(axis=1)
            ink *= rng.uniform(0.75, 1.0, size=(b, 1, 1)).astype(np.float32)
            ink += rng.normal(0.0, 0.06, size=ink.shape).astype(np.float32)
            yield start, np.clip(np.rint(ink * 255.0), 0, 255).astype(np.uint8), y

    return targets, rows()


def synthetic_dataset(
    n_train: int = 600,
    n_test: int = 200,
    size: int = 28,
    num_classes: int = 10,
    seed: int = 0,
    name: str = "synth",
    width: int | None = None,
) -> Dataset:
    """Class-structured uint8 gray images [N, size, width] (width default: size): each class is a
    fixed set of blurred strokes; samples add endpoint jitter, a random shift, stroke-width
    variation and pixel noise. Classes are balanced (round-robin) and rows shuffled within each split."""
    targets, chunks = synthetic_chunks(n_train, n_test, size, num_classes, seed, width=width)
    images = np.empty((len(targets), size, size if width is None else width), np.uint8)
    for start, imgs, _ in chunks:
        images[start : start + len(imgs)] = imgs
    return Dataset(name=name, images=images, targets=targets, n_train=n_train, num_classes=num_classes)
