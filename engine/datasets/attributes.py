"""Derived image attributes: the regression targets of tasks (engine.tasks.ATTRIBUTES), and the
dataset's own per-image factors (``Dataset.factors``) as the targets ``factor_<name>``.

Computed once per dataset from the uint8 images and cached in ``data/<name>/attributes.npz``
(keyed by a hash of the images, so a rebuilt dataset recomputes). Colour images are measured on
their luminance v = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601), gray images on their pixels. With
v in [0, 1], column x and row y in pixels (row 0 at the top), P = H * W pixels of an H x W image:

    ink          = sum v / P                                   (mean intensity)
    com_x, com_y = sum v*x / sum v / (W-1), sum v*y / sum v / (H-1)
                                                               (centre of mass, 0..1; 0.5 if blank)
    slant        = -mu11 / mu02, mu11 = sum v (x-cx)(y-cy), mu02 = sum v (y-cy)^2
                   (horizontal shift per row going up: > 0 leans right, like /; 0 if blank)
    stroke_width = 2 * A / E, A = pixels with v >= 0.5, E = edges between such a pixel and a
                   4-neighbour below 0.5 (or the border): area over half the perimeter, the width of
                   a long thin stroke in pixels (0 if no pixel reaches 0.5)

They describe light strokes on a dark ground (MNIST, the synthetic strokes). On photos (the
photo patches) only ``ink`` (mean brightness) and, more weakly, the centre of mass (where the
bright half of the patch lies) mean something; slant and stroke width measure no stroke there.
On the colour shapes, ink grows with the shape's area and the centre of mass follows its
position, but the shapes' own factors (``factor_x``, ``factor_scale``, ...) are the exact targets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
from pathlib import Path

import numpy as np

from engine import paths
from engine.io import atomic_write_bytes
from engine.tasks import ATTRIBUTES, FACTOR_TARGET_PREFIX

_CACHE: dict[tuple[str, str], dict[str, np.ndarray]] = {}
_LOCK = threading.Lock()
FORMAT = 1  # bump when a formula changes: cached files with another format are recomputed
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights of R, G, B


def luminance(images: np.ndarray) -> np.ndarray:
    """float64 [N, H, W] in [0, 1] (uint8 input) or in the input's units (float): gray images as
    they are, RGB images [N, H, W, 3] weighted by :data:`LUMA`."""
    v = images.astype(np.float64) @ LUMA if images.ndim == 4 else images.astype(np.float64)
    return v / 255.0 if images.dtype == np.uint8 else v


def compute_attributes(images: np.ndarray, batch: int = 8192) -> dict[str, np.ndarray]:
    """Every attribute of ``images`` (uint8 or float [N, H, W] gray or [N, H, W, 3] RGB, measured
    on luminance) as float32 [N], in batches."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    out = {a: np.zeros(n, np.float32) for a in ATTRIBUTES}
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    for i in range(0, n, batch):
        v = luminance(images[i : i + batch])
        mass = v.sum((1, 2))
        safe = np.where(mass > 0, mass, 1.0)
        cx = (v.sum(1) * xs).sum(1) / safe
        cy = (v.sum(2) * ys).sum(1) / safe
        dx = xs[None, None, :] - cx[:, None, None]
        dy = ys[None, :, None] - cy[:, None, None]
        mu11 = (v * dx * dy).sum((1, 2))
        mu02 = (v * dy * dy).sum((1, 2))
        on = v >= 0.5
        padded = np.pad(on, ((0, 0), (1, 1), (1, 1)))
        edges = (padded[:, 1:, :] != padded[:, :-1, :]).sum((1, 2)) + (padded[:, :, 1:] != padded[:, :, :-1]).sum(
            (1, 2)
        )
        area = on.sum((1, 2))
        sl = slice(i, i + len(v))
        out["ink"][sl] = mass / (h * w)
        out["com_x"][sl] = np.where(mass > 0, cx / (w - 1), 0.5)
        out["com_y"][sl] = np.where(mass > 0, cy / (h - 1), 0.5)
        out["slant"][sl] = np.where(mu02 > 0, -mu11 / np.where(mu02 > 0, mu02, 1.0), 0.0)
        out["stroke_width"][sl] = np.where(edges > 0, 2.0 * area / np.maximum(edges, 1), 0.0)
    return out


def images_sha256(images: np.ndarray, rows: int = 65536) -> str:
    """sha256 (hex) of the image bytes, fed in blocks of rows (the same digest as of ``tobytes()`` of
    all rows, without that 784 MB copy of a million-image memory-mapped dataset). A checkpoint
    records it (``dataset_sha256``) to recognise its dataset."""
    h = hashlib.sha256()
    for i in range(0, len(images), rows):
        h.update(np.ascontiguousarray(images[i : i + rows]).data)
    return h.hexdigest()


def _fingerprint(images: np.ndarray, rows: int = 65536) -> str:
    """The cache key of the attributes file: the first 32 hex digits of :func:`images_sha256`."""
    return images_sha256(images, rows)[:32]


def attributes_path(name: str, root: str | Path | None = None) -> Path:
    """``data/<name>/attributes.npz``."""
    return paths.data_dir(name, root) / "attributes.npz"


def dataset_attributes(ds: object, root: str | Path | None = None) -> dict[str, np.ndarray]:
    """The attributes of every row of dataset ``ds`` (engine.datasets.Dataset), from the cache file
    when it matches the images, else computed and written (atomically), and its per-image factors
    under ``factor_<name>`` (not cached: they are in the dataset file). Read-only arrays."""
    factors = {FACTOR_TARGET_PREFIX + k: v for k, v in getattr(ds, "factors", {}).items()}
    return {**_computed_attributes(ds, root), **factors}


def _computed_attributes(ds: object, root: str | Path | None) -> dict[str, np.ndarray]:
    images = ds.images  # type: ignore[attr-defined]
    name = str(ds.name)  # type: ignore[attr-defined]
    key = (name, _fingerprint(images))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        path = attributes_path(name, root)
        attrs = _read(path, key[1], len(images))
        if attrs is None:
            attrs = compute_attributes(images)
            _write(path, key[1], attrs)
        for a in attrs.values():
            a.setflags(write=False)
        _CACHE[key] = attrs
        return attrs


def _read(path: Path, fingerprint: str, n: int) -> dict[str, np.ndarray] | None:
    """The cached attributes, or None when missing, stale or unreadable (then they are recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["fingerprint"]) != fingerprint or int(z["format"]) != FORMAT:
                return None
            out = {a: np.asarray(z[a], np.float32) for a in ATTRIBUTES}
    except (OSError, ValueError, KeyError):
        return None
    return out if all(v.shape == (n,) for v in out.values()) else None


def _write(path: Path, fingerprint: str, attrs: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    arrays: dict[str, np.ndarray] = {"fingerprint": np.array(fingerprint), "format": np.array(FORMAT), **attrs}
    np.savez(buf, allow_pickle=False, **arrays)
    # A read-only data dir only costs the cache: the attributes are computed again next time.
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buf.getvalue())


def standardise(values: np.ndarray, train_rows: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``values`` scaled to mean 0, sd 1 over ``train_rows`` (sd 0 -> 1): the auxiliary regression
    target, so a task's weight means the same whatever the attribute's units."""
    v = np.asarray(values, np.float64)
    mean = float(v[train_rows].mean()) if len(train_rows) else 0.0
    sd = float(v[train_rows].std()) if len(train_rows) else 1.0
    sd = sd if sd > 0 else 1.0
    return ((v - mean) / sd).astype(np.float32), mean, sd
