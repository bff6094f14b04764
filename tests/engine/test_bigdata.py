"""The memory-mapped dataset layout and the streamed passes over every row (issue 14, 1M points)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.backends.base import Out
from engine.errors import DatasetError
from latentloop.cli import main


def test_synth_npy_layout_is_written_and_read_back_memory_mapped(home: Path) -> None:
    assert main(["--home", str(home), "data", "synth", "big", "--n-train", "900", "--n-test", "100",
                 "--layout", "npy", "--seed", "3"]) == 0  # fmt: skip
    d = home / "data" / "big"
    assert not (d / "big.npz").exists()
    assert json.loads((d / "dataset.json").read_text())["n_train"] == 900
    ds = datasets.load_dataset("big")
    ref = datasets.synthetic_dataset(900, 100, seed=3)
    # the images stay in the file: a read-only memmap of images.npy, never a copy in memory
    assert isinstance(ds.images, np.memmap) and Path(ds.images.filename) == d / "images.npy"
    assert not ds.images.flags.writeable
    with pytest.raises(ValueError):
        ds.images[0, 0, 0] = 1
    assert np.array_equal(np.asarray(ds.images), ref.images) and np.array_equal(ds.targets, ref.targets)
    assert (ds.n_train, len(ds), ds.num_classes) == (900, 1000, 10)
    assert datasets.load_dataset("big") is ds  # cached
    assert datasets.dataset_info("big")["layout"].startswith("npy")
    assert main(["--home", str(home), "data", "synth", "big", "--layout", "npy"]) == 2  # no overwrite


def test_npz_layout_wins_and_a_bad_description_is_refused(home: Path) -> None:
    assert main(["--home", str(home), "data", "synth", "big", "--n-train", "50", "--n-test", "0"]) == 0
    assert (home / "data" / "big" / "big.npz").is_file()  # auto: small datasets stay one .npz
    assert not (home / "data" / "big" / "dataset.json").exists()
    assert main(["--home", str(home), "data", "synth", "big", "--n-train", "60", "--n-test", "0",
                 "--layout", "npy", "--force"]) == 0  # fmt: skip
    assert not (home / "data" / "big" / "big.npz").exists()  # it would shadow the new files
    datasets.clear_cache()
    assert len(datasets.load_dataset("big")) == 60
    (home / "data" / "big" / "dataset.json").write_text('{"layout": "other"}')
    datasets.clear_cache()
    with pytest.raises(DatasetError, match=r"dataset\.json"):
        datasets.load_dataset("big")


def test_write_memmap_refuses_chunks_that_do_not_cover_the_rows(tmp_path: Path) -> None:
    chunks = iter([(0, np.zeros((3, 8, 8), np.uint8), np.zeros(3, np.int64))])
    with pytest.raises(DatasetError, match="covered 3 rows"):
        datasets.write_memmap_dataset(tmp_path, 5, (8, 8), 2, 4, chunks)
    assert not (tmp_path / "dataset.json").exists()


class _Recorder:
    """A backend stand-in: records what predict is given; outputs derived from the pixels."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.dtype, int]] = []

    def predict(self, x: np.ndarray) -> dict[Out, np.ndarray]:
        self.calls.append((x.dtype, len(x)))
        f = x.reshape(len(x), -1).astype(np.float32)
        return {Out.MU: f[:, :2], Out.PROBS: f[:, 2:5], Out.RESP: f[:, 5:6], Out.RECON: f.reshape(x.shape)}


def test_predict_rows_streams_uint8_chunks_and_keeps_only_the_outputs_asked_for() -> None:
    from engine.training.streaming import predict_rows

    images = np.random.default_rng(0).integers(0, 256, (1000, 4, 4)).astype(np.uint8)
    rec = _Recorder()
    out = predict_rows(rec, images, chunk=300)
    assert rec.calls == [(np.dtype(np.uint8), 300)] * 3 + [(np.dtype(np.uint8), 100)]
    assert set(out) == {Out.MU, Out.PROBS, Out.RESP}  # no reconstruction of every row
    assert np.array_equal(out[Out.MU], images.reshape(1000, -1)[:, :2])
    idx = np.array([999, 3, 500])
    sub = predict_rows(rec, images, idx, keys=(Out.PROBS,), chunk=2)
    assert np.array_equal(sub[Out.PROBS], images.reshape(1000, -1)[idx, 2:5])


def test_trainer_embed_gives_the_backend_uint8_rows(home: Path, tiny_cfg) -> None:
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer

    ds = datasets.load_dataset("synth")
    tr = Trainer(tiny_cfg, ds, label_store_for(tiny_cfg.data.name, ds.n_train, ds.num_classes))
    seen: list[np.dtype] = []
    real = tr.backend.predict

    def spy(x: np.ndarray, *a, **kw):
        seen.append(np.asarray(x).dtype)
        return real(x, *a, **kw)

    tr.backend.predict = spy  # type: ignore[method-assign]
    emb = tr.embed()
    assert seen == [np.dtype(np.uint8)]  # a float32 copy of every image is never made
    assert emb.mu.shape[0] == len(ds)
    ref = real(ds.float_images(np.arange(len(ds))))
    assert np.allclose(emb.mu, ref[Out.MU], atol=1e-5)


def test_attribute_fingerprint_is_streamed_with_the_same_digest() -> None:
    from engine.datasets.attributes import _fingerprint

    images = np.random.default_rng(1).integers(0, 256, (1000, 5, 5)).astype(np.uint8)
    assert _fingerprint(images, rows=77) == hashlib.sha256(images.tobytes()).hexdigest()[:32]


def test_memmap_layout_holds_colour_non_square_images_and_refuses_a_disagreeing_description(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (5, 8, 12, 3), dtype=np.uint8)
    meta = datasets.write_memmap_dataset(tmp_path / "c", 5, (8, 12, 3), 2, 4, iter([(0, imgs, np.arange(5) % 2)]))
    assert json.loads(meta.read_text())["image_shape"] == [8, 12, 3]
    ds = datasets.load_dataset("c", tmp_path)
    assert ds.image_shape == (8, 12, 3) and np.array_equal(np.asarray(ds.images), imgs)
    # dataset.json says one shape, images.npy holds another: refused, naming both
    desc = json.loads(meta.read_text())
    meta.write_text(json.dumps({**desc, "image_shape": [8, 8, 3]}))
    datasets.clear_cache()
    with pytest.raises(DatasetError, match=r"images of shape \[8, 12, 3\].*image_shape \[8, 8, 3\]"):
        datasets.load_dataset("c", tmp_path)
    # a description from before colour images (no image_shape) is still read
    meta.write_text(json.dumps({k: v for k, v in desc.items() if k != "image_shape"}))
    datasets.clear_cache()
    assert datasets.load_dataset("c", tmp_path).image_shape == (8, 12, 3)
