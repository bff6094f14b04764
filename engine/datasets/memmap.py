"""The memory-mapped dataset layout ``data/<name>/dataset.json`` + ``images.npy`` (docs/formats.md).

For datasets too large to hold in memory twice (1,000,000 images of 28x28 are 784 MB): the images
are a plain ``.npy`` file opened with ``np.load(mmap_mode="r")``, so the app, the trainer and the
worker processes share one copy through the page cache and a row is read only when it is used.
The small arrays (``labels.npy``, ``split.npy`` and the optional per-image factors
``factor_<name>.npy``, float32 [N], listed by name in ``dataset.json``'s ``factors``) are read
into memory. ``dataset.json`` is written
last and names the layout: a crash while writing leaves no ``dataset.json``, so no half-written
dataset is ever loaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine import paths
from engine.datasets.factors import FACTOR_NAME_RE, FACTOR_PREFIX, check_factors
from engine.errors import DatasetError
from engine.io import atomic_write_bytes, fsync_dir

LAYOUT = "latentloop-npy"
LAYOUT_VERSION = 1
META_FILE = "dataset.json"
ARRAYS = ("images", "labels", "split")


def memmap_meta_path(name: str, root: str | Path | None = None) -> Path:
    """``data/<name>/dataset.json``: present iff the dataset uses the memory-mapped layout."""
    return paths.data_dir(name, root) / META_FILE


def write_memmap_dataset(
    directory: str | Path,
    n: int,
    image_shape: tuple[int, ...],
    num_classes: int,
    n_train: int,
    chunks: Iterator[tuple[int, np.ndarray, np.ndarray]],
    factors: Mapping[str, np.ndarray] | None = None,
    unknown_targets: bool = False,
) -> Path:
    """Write the layout into ``directory`` from ``chunks`` of (first row, uint8 images
    [B, *image_shape], labels [B]) (``image_shape``: (H, W) gray or (H, W, 3) RGB) that cover
    rows 0..n-1 in order; only one chunk is in memory at a time; ``factors``: per-image factors,
    name -> [n] numbers, written as float32 ``factor_<name>.npy``; ``unknown_targets``: labels
    may be -1 (true class unknown), recorded in ``dataset.json``. Returns
    the ``dataset.json`` path. An existing dataset.json is removed first, so a failed write never
    leaves an old meta over new arrays."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    meta_path = d / META_FILE
    meta_path.unlink(missing_ok=True)
    if not 0 < n_train <= n:
        raise DatasetError(f"n_train must be in 1..{n}, got {n_train}")
    checked = check_factors(factors or {}, n, str(d))
    for old in d.glob(f"{FACTOR_PREFIX}*.npy"):  # a stale factor of an earlier dataset must not survive
        old.unlink()
    names = (*ARRAYS, *(FACTOR_PREFIX + k for k in checked))
    tmp = {a: d / f".{a}.tmp.npy" for a in names}  # np.save appends .npy to other names
    images = np.lib.format.open_memmap(tmp["images"], mode="w+", dtype=np.uint8, shape=(n, *image_shape))
    labels = np.zeros(n, np.int64)
    done = 0
    for start, imgs, labs in chunks:
        if start != done:
            raise DatasetError(f"chunks must cover the rows in order: expected row {done}, got {start}")
        images[start : start + len(imgs)] = imgs
        labels[start : start + len(imgs)] = labs
        done += len(imgs)
    if done != n:
        raise DatasetError(f"chunks covered {done} rows, expected {n}")
    if labels.min() < (-1 if unknown_targets else 0) or labels.max() >= num_classes:
        raise DatasetError(f"labels must be in 0..{num_classes - 1}")
    images.flush()
    del images
    split = np.ones(n, np.uint8)
    split[:n_train] = 0
    np.save(tmp["labels"], labels)
    np.save(tmp["split"], split)
    for k, v in checked.items():
        np.save(tmp[FACTOR_PREFIX + k], v)
    for a, path in tmp.items():
        with open(path, "rb") as f:
            os.fsync(f.fileno())
        os.replace(path, d / f"{a}.npy")
    fsync_dir(d)
    meta = {
        "layout": LAYOUT,
        "version": LAYOUT_VERSION,
        "n": n,
        "n_train": n_train,
        "num_classes": num_classes,
        "image_shape": list(image_shape),
    }
    if checked:
        meta["factors"] = list(checked)
    if unknown_targets:
        meta["unknown_targets"] = True
    atomic_write_bytes(meta_path, (json.dumps(meta, indent=2) + "\n").encode())
    return meta_path


def read_memmap_meta(meta_path: Path) -> dict[str, Any]:
    """The checked contents of ``dataset.json``. Raises DatasetError."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise DatasetError(f"{meta_path}: cannot read ({err})") from err
    if not isinstance(meta, dict) or meta.get("layout") != LAYOUT or meta.get("version") != LAYOUT_VERSION:
        raise DatasetError(f"{meta_path}: not a {LAYOUT} version {LAYOUT_VERSION} dataset description")
    for key in ("n", "n_train", "num_classes"):
        if not isinstance(meta.get(key), int) or isinstance(meta.get(key), bool) or meta[key] < 1:
            raise DatasetError(f"{meta_path}: {key!r} must be a positive integer")
    return meta


def open_memmap_arrays(meta_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, dict[str, np.ndarray]]:
    """(images as a read-only memmap, labels, split, num_classes, factors) of the layout at
    ``meta_path`` (factors: name -> [N] array, empty for a layout without ``factors``)."""
    meta = read_memmap_meta(meta_path)
    d = meta_path.parent
    try:
        images = np.load(d / "images.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(d / "labels.npy", allow_pickle=False)
        split = np.load(d / "split.npy", allow_pickle=False)
        factors = {
            k: np.load(d / f"{FACTOR_PREFIX}{k}.npy", allow_pickle=False) for k in _factor_names(meta_path, meta)
        }
    except (OSError, ValueError) as err:
        raise DatasetError(f"{d}: cannot read the dataset arrays ({type(err).__name__}: {err})") from err
    if images.shape[0] != meta["n"]:
        raise DatasetError(f"{d / 'images.npy'}: {images.shape[0]} rows, {META_FILE} says {meta['n']}")
    # image_shape is optional (layouts written before colour images lack it); when present it must agree
    want = meta.get("image_shape")
    if want is not None and list(images.shape[1:]) != want:
        raise DatasetError(
            f"{d / 'images.npy'}: images of shape {list(images.shape[1:])}, {META_FILE} says image_shape {want}"
        )
    return images, labels, split, int(meta["num_classes"]), factors


def _factor_names(meta_path: Path, meta: dict[str, Any]) -> list[str]:
    """The factor names ``dataset.json`` lists (none when it has no ``factors``)."""
    names = meta.get("factors", [])
    if not isinstance(names, list) or not all(isinstance(k, str) and FACTOR_NAME_RE.match(k) for k in names):
        raise DatasetError(f"{meta_path}: 'factors' must be a list of factor names, got {names!r}")
    return names
