"""The dataset file ``data/<name>/<name>.npz``: the :class:`Dataset`, validation, load (cached), save.

Large datasets use the memory-mapped layout of :mod:`engine.datasets.memmap` instead (no ``.npz``,
a ``dataset.json`` next to ``images.npy``); :func:`load_dataset` reads either.

File format (see docs/formats.md, "Dataset"): an ``.npz`` without pickled objects holding

- ``images``  uint8 ``[N, H, W]`` (gray) or ``[N, H, W, 3]`` (RGB, channels last); H and W are
  multiples of 4 from 8 to 256 and may differ (:func:`engine.config.image_shape_problem`),
- ``labels``  integer ``[N]`` (ground truth, 0 <= label < num_classes),
- ``split``   uint8 ``[N]``: 0 = train, 1 = test, all train rows first,
- ``num_classes`` optional int64 scalar (default: ``max(labels) + 1``),
- ``factor_<name>`` optional float32 ``[N]`` each: a per-image generative factor (the colour
  shapes of :mod:`engine.datasets.shapes` carry shape, hue, scale, x, y, rotation). Tasks read
  them as the regression target ``factor_<name>`` (:mod:`engine.datasets.attributes`). Files
  without them load as before.
- ``unknown_targets`` optional uint8 scalar: 1 allows the label -1, "true class unknown" (images
  imported without a class, :mod:`engine.datasets.importer`); without it every label is >= 0.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine import paths
from engine.config import image_shape_problem
from engine.datasets.classes import read_class_names
from engine.datasets.factors import FACTOR_PREFIX, check_factors
from engine.datasets.memmap import memmap_meta_path, open_memmap_arrays, read_memmap_meta
from engine.errors import DatasetError
from engine.io import atomic_write_bytes


@dataclass
class Dataset:
    """Images with ground-truth targets; the first ``n_train`` rows are the training split.

    Arrays returned by :func:`load_dataset` are read-only because they are shared through the
    in-process cache; copy before modifying.
    """

    name: str
    images: np.ndarray  # uint8 [N, H, W] gray or [N, H, W, 3] RGB
    targets: np.ndarray  # int64 [N]
    n_train: int
    num_classes: int
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # name -> float32 [N] (FACTOR_PREFIX)
    unknown_targets: bool = False  # targets may hold UNKNOWN (-1): no ground truth for those rows

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def train_idx(self) -> np.ndarray:
        return np.arange(self.n_train, dtype=np.int64)

    @property
    def test_idx(self) -> np.ndarray:
        return np.arange(self.n_train, len(self), dtype=np.int64)

    @property
    def n_test(self) -> int:
        return len(self) - self.n_train

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels): the value of ``model.image_shape`` that fits these images."""
        return image_shape_of(self.images)

    @property
    def split(self) -> np.ndarray:
        """uint8 [N]: 0 = train, 1 = test (the on-disk ``split`` array)."""
        s = np.ones(len(self), np.uint8)
        s[: self.n_train] = 0
        return s

    @property
    def has_ground_truth(self) -> bool:
        """Whether every row's true class is known (oracles and test accuracy need it)."""
        return not self.unknown_targets or bool((np.asarray(self.targets) >= 0).all())

    @property
    def scored_on_test(self) -> bool:
        """Whether the test split holds a true class to score a model on; when it holds none the
        accuracy comes from held-out user labels (engine/stores/holdout.py)."""
        t = np.asarray(self.targets)[self.n_train :]
        return bool((t >= 0).any())

    def float_images(self, idx: Any = None) -> np.ndarray:
        """float32 images in [0, 1] (all rows, or ``self.images[idx]``)."""
        x = self.images if idx is None else self.images[idx]
        return x.astype(np.float32) / np.float32(255.0)


UNKNOWN = -1  # the label of an image whose true class is unknown (only with unknown_targets)


def require_ground_truth(ds: Dataset, what: str) -> None:
    """DatasetError naming ``what`` when some of ``ds``'s true classes are unknown."""
    if not ds.has_ground_truth:
        n = int(np.count_nonzero(np.asarray(ds.targets) < 0))
        raise DatasetError(
            f"{what} needs the true class of every image, but {n} of the {len(ds)} images of dataset "
            f"{ds.name!r} have none (imported without classes); label them yourself instead "
            "(latentloop app, latentloop label set)"
        )


# ---------------------------------------------------------------------------------------------
# validation, load, save


def dataset_path(name: str, root: str | Path | None = None) -> Path:
    """``data/<name>/<name>.npz`` (``root`` replaces ``data/``)."""
    return paths.data_dir(name, root) / f"{name}.npz"


def image_shape_of(images: np.ndarray) -> tuple[int, int, int]:
    """(H, W, C) of an image array [N, H, W] (C = 1) or [N, H, W, C]."""
    shape = images.shape
    return (int(shape[1]), int(shape[2]), 1 if len(shape) == 3 else int(shape[3]))


def check_images(images: np.ndarray, where: str) -> None:
    """The one check of an image array's type and shape (datasets, memory-mapped files, imports)."""
    if images.dtype != np.uint8:
        hint = " (scale to 0-255 and convert with .astype(np.uint8))" if images.dtype.kind == "f" else ""
        raise DatasetError(f"{where}: 'images' must be uint8, got {images.dtype} of shape {list(images.shape)}{hint}")
    if images.ndim not in (3, 4) or images.shape[0] == 0:
        raise DatasetError(
            f"{where}: 'images' must have shape [N, H, W] (gray) or [N, H, W, 3] (RGB) with N > 0, "
            f"got {list(images.shape)}"
        )
    problem = image_shape_problem(*image_shape_of(images))
    if problem:
        raise DatasetError(f"{where}: {problem}; 'images' has shape {list(images.shape)}")


def validate_arrays(
    images: np.ndarray, labels: np.ndarray, split: np.ndarray, *, where: str = "dataset", unknown: bool = False
) -> tuple[np.ndarray, np.ndarray, int]:
    """Check the on-disk arrays; return (images, labels as int64, n_train). Raises DatasetError.
    ``unknown``: the label -1 (UNKNOWN) is allowed."""
    check_images(images, where)
    n = images.shape[0]
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{where}: 'labels' must be integers, got {labels.dtype}")
    if labels.shape != (n,):
        raise DatasetError(f"{where}: 'labels' must have shape ({n},), got {labels.shape}")
    if split.dtype.kind not in "iub":
        raise DatasetError(f"{where}: 'split' must be uint8, got {split.dtype}")
    if split.shape != (n,):
        raise DatasetError(f"{where}: 'split' must have shape ({n},), got {split.shape}")
    low = UNKNOWN if unknown else 0
    if labels.min() < low:
        hint = "" if unknown else " (-1, unknown, needs unknown_targets: docs/formats.md)"
        raise DatasetError(f"{where}: negative label at row {int(np.argmax(labels < low))}{hint}")
    bad = (split != 0) & (split != 1)
    if bad.any():
        raise DatasetError(
            f"{where}: 'split' must be 0 (train) or 1 (test); row {int(np.argmax(bad))} is {split[bad][0]}"
        )
    n_train = int(np.count_nonzero(split == 0))
    if split[:n_train].any():
        first_test = int(np.argmax(split == 1))
        raise DatasetError(
            f"{where}: train rows must come first, but row {first_test} is test and "
            f"row {n_train + int(np.argmax(split[n_train:] == 0))} is train"
        )
    return images, labels.astype(np.int64, copy=False), n_train


_CACHE: dict[str, tuple[tuple[int, ...], Dataset]] = {}
_CACHE_LOCK = threading.Lock()


def clear_cache() -> None:
    """Forget every dataset loaded in this process."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _missing_message(name: str, path: Path) -> str:
    if name == "mnist":
        hint = "run `latentloop data fetch mnist` to build it"
    else:
        hint = f"create it (e.g. `latentloop data synth {name}`) or choose another dataset"
    return f"dataset {name!r} not found: {path} does not exist; {hint}"


def dataset_file(name: str, root: str | Path | None = None) -> Path:
    """The file that holds the images: ``<name>.npz``, or ``images.npy`` of the memory-mapped
    layout when there is no ``.npz`` and a ``dataset.json`` (the ``.npz`` wins when both exist)."""
    path = dataset_path(name, root)
    if not path.exists() and memmap_meta_path(name, root).exists():
        return path.parent / "images.npy"
    return path


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load ``data/<name>/<name>.npz`` or the memory-mapped layout (images stay on disk, read-only,
    shared through the page cache); cached per (path, mtime, size, inode) in this process."""
    path = dataset_file(name, root)
    meta = memmap_meta_path(name, root) if path.suffix == ".npy" else None
    try:
        st = path.stat()
        mst = meta.stat() if meta is not None else st
    except FileNotFoundError:
        raise DatasetError(_missing_message(name, dataset_path(name, root))) from None
    key = (st.st_mtime_ns, st.st_size, st.st_ino, mst.st_mtime_ns, mst.st_ino)
    with _CACHE_LOCK:
        hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == key:
        return hit[1]
    ds = _read_npz(path, name) if meta is None else _read_memmap(meta, name)
    with _CACHE_LOCK:
        _CACHE[str(path)] = (key, ds)
    return ds


def _read_npz(path: Path, name: str) -> Dataset:
    where = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("images", "labels", "split") if k not in z.files]
            if missing:
                raise DatasetError(f"{where}: missing array(s) {missing} (has {sorted(z.files)})")
            images, labels, split = z["images"], z["labels"], z["split"]
            raw_classes = z["num_classes"] if "num_classes" in z.files else None
            unknown = bool(z["unknown_targets"]) if "unknown_targets" in z.files else False
            factors = {k[len(FACTOR_PREFIX) :]: z[k] for k in z.files if k.startswith(FACTOR_PREFIX)}
    except DatasetError:
        raise
    except Exception as err:  # zip/npy errors come in many types; all mean "not a valid npz"
        if "allow_pickle" in str(err):  # numpy's advice to unpickle would be unsafe: never given
            raise DatasetError(
                f"{where}: cannot read dataset file: it holds Python objects (pickled arrays), which are "
                "never loaded; write images as uint8 and labels and split as integers (docs/formats.md, Dataset)"
            ) from None
        raise DatasetError(f"{where}: cannot read dataset file ({type(err).__name__}: {err})") from err
    num_classes = None
    if raw_classes is not None:
        if raw_classes.shape != () or raw_classes.dtype.kind not in "iu":
            raise DatasetError(
                f"{where}: num_classes must be an integer scalar, got {raw_classes.dtype} of shape {raw_classes.shape}"
            )
        num_classes = int(raw_classes)
    return _dataset(name, where, images, labels, split, num_classes, factors, unknown)


def _read_memmap(meta: Path, name: str) -> Dataset:
    images, labels, split, num_classes, factors = open_memmap_arrays(meta)
    unknown = read_memmap_meta(meta).get("unknown_targets") is True
    return _dataset(name, str(meta.parent), images, labels, split, num_classes, factors, unknown)


def _dataset(
    name: str,
    where: str,
    images: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    num_classes: int | None,
    factors: Mapping[str, np.ndarray] | None = None,
    unknown: bool = False,
) -> Dataset:
    """Validate the arrays and freeze them into a :class:`Dataset` (``images`` is not copied)."""
    images, labels, n_train = validate_arrays(images, labels, split, where=where, unknown=unknown)
    top = max(int(labels.max()) + 1, 1)
    if num_classes is None:
        num_classes = top
    elif num_classes < top:
        raise DatasetError(f"{where}: num_classes is {num_classes} but a label is {top - 1}")
    checked = check_factors(factors or {}, len(labels), where)
    for a in (images, labels, *checked.values()):
        a.flags.writeable = False
    return Dataset(name, images, labels, n_train, num_classes, factors=checked, unknown_targets=unknown)


def save_dataset(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (temp file in the same directory, fsync, os.replace)."""
    path = Path(path)
    images = np.ascontiguousarray(ds.images)
    targets = np.asarray(ds.targets)
    validate_arrays(images, targets, ds.split, where=f"dataset {ds.name!r}", unknown=ds.unknown_targets)
    if targets.size and int(targets.max()) >= ds.num_classes:
        raise DatasetError(f"dataset {ds.name!r}: label {int(targets.max())} >= num_classes {ds.num_classes}")
    factors = check_factors(ds.factors, len(targets), f"dataset {ds.name!r}")
    buf = io.BytesIO()
    np.savez(
        buf,
        allow_pickle=False,
        images=images,
        labels=targets.astype(np.int64),
        split=ds.split,
        num_classes=np.array(ds.num_classes, np.int64),
        **({"unknown_targets": np.array(1, np.uint8)} if ds.unknown_targets else {}),
        **{FACTOR_PREFIX + k: v for k, v in factors.items()},
    )
    atomic_write_bytes(path, buf.getbuffer())  # no second copy of a large dataset
    return path


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dataset_info(name: str, root: str | Path | None = None) -> dict[str, Any]:
    """Summary for ``latentloop data info``: path, file size, split and class counts, sha256."""
    ds = load_dataset(name, root)
    path = dataset_file(name, root)
    train, test = ds.targets[: ds.n_train], ds.targets[ds.n_train :]
    train_counts = np.bincount(train[train >= 0], minlength=ds.num_classes)
    test_counts = np.bincount(test[test >= 0], minlength=ds.num_classes)
    unknown = {"train": int(np.count_nonzero(train < 0)), "test": int(np.count_nonzero(test < 0))}
    return {
        "name": name,
        "path": str(path),
        "size": path.stat().st_size,
        "layout": "npy (memory-mapped)" if path.suffix == ".npy" else "npz",
        "n": len(ds),
        "image_shape": list(ds.images.shape[1:]),
        "num_classes": ds.num_classes,
        "factors": sorted(ds.factors),
        "counts": {"train": ds.n_train, "test": ds.n_test},
        "class_counts": {"train": train_counts.tolist(), "test": test_counts.tolist()},
        "unknown_counts": unknown,
        "class_names": read_class_names(name, ds.num_classes, root),
        "sha256": _sha256_file(path),
    }


VALIDATION_SEED = 20261130  # one fixed held-out subset, whatever the run's seed


def validation_idx(ds: Dataset, n: int) -> np.ndarray:
    """``n`` training samples held out for tuning (sorted; the same for every run seed); empty
    for ``n == 0``. Carved from the training split so that settings are never chosen on test."""
    if n == 0:
        return np.zeros(0, np.int64)
    if n >= ds.n_train:
        raise ValueError(f"data.validation={n} leaves no training samples (the training split has {ds.n_train})")
    rng = np.random.default_rng(VALIDATION_SEED)
    return np.sort(rng.choice(ds.n_train, size=n, replace=False)).astype(np.int64)


def oracle_labels(ds: Dataset, per_class: int, seed: int = 0, exclude: np.ndarray | None = None) -> dict[int, int]:
    """``per_class`` true labels of each class from the training split (fewer if a class is
    smaller), chosen with ``seed``: the simulated oracle of experiments and benchmarks.
    ``exclude``: training samples never chosen (a validation split)."""
    require_ground_truth(ds, "the oracle (true labels)")
    rng = np.random.default_rng(seed)
    y = ds.targets[: ds.n_train].copy()
    if exclude is not None and len(exclude):
        y[exclude] = -1
    chosen: dict[int, int] = {}
    for c in range(ds.num_classes):
        idx = np.flatnonzero(y == c)
        for s in rng.choice(idx, size=min(per_class, len(idx)), replace=False):
            chosen[int(s)] = c
    return chosen
