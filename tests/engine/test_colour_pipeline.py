"""Colour, non-square images through the engine and the workers (issue 23, outcome 4): the trainer's
batches (affine and weak shift, feedback boxes), checkpoints, streamed predictions, the
reconstruction probe's PSNR per channel, the report gallery, the forecast features, the
label-issue scoring and the XAI worker, on a tiny RGB 24x32 dataset (torch backend). The gray
behaviour is pinned by the rest of the suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import Out
from engine.config import from_dict
from engine.errors import CheckpointError
from tests.helpers import rgb_config_dict, rgb_dataset

pytest.importorskip("torch")

H, W = 24, 32
BOX = (0.0, 0.25, 0.5, 1.0)  # x0, y0, x1, y1: the left half, below the top quarter


@pytest.fixture
def rgb_home(home: Path) -> Path:
    """``home`` plus data/rgb/rgb.npz: 120 train + 40 test RGB images of 24x32, 4 classes."""
    from engine.datasets import dataset_path, save_dataset

    save_dataset(rgb_dataset(height=H, width=W), dataset_path("rgb", home / "data"))
    return home


def _trainer(home: Path, snapshot_dir: Path | None = None, **train):
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer

    raw = rgb_config_dict(height=H, width=W, **train)
    # an auxiliary reconstruction head (P = H * W * 3 outputs) and a class head join the loss
    raw["tasks"] = [
        {"name": "rec", "kind": "reconstruction", "input": "z", "weight": 0.1},
        {"name": "cls", "kind": "classification", "input": "z[0:4]", "weight": 0.1},
    ]
    cfg = from_dict(raw)
    ds = load_dataset("rgb")
    store = label_store_for("rgb", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 3, 0), source="test")
    return Trainer(cfg, ds, store, snapshot_dir=snapshot_dir)


def test_batches_keep_colour_and_the_feedback_box_covers_every_channel(rgb_home):
    from engine.training.augment import roi_mask

    tr = _trainer(rgb_home, augment_shift=2, augment_rotate=15.0, augment_scale=0.1, weak_shift=2)
    tr.set_feedback([{"sample_idx": 5, "x0": BOX[0], "y0": BOX[1], "x1": BOX[2], "y1": BOX[3], "strength": 2.0}])
    b = tr.make_batch()
    n = len(b["y"])
    assert b["x"].shape == b["x_aug"].shape == (n, H, W, 3) and b["roi_mask"].shape == (n, H, W)
    assert b["task_target"].shape == (n, 2)
    fb = b["roi_weight"] > 0
    assert fb.sum() >= 1 and np.all(b["roi_weight"][fb] == 2.0)
    box = roi_mask(BOX, H, W)
    assert box[:, :16].sum() == box.sum() == 18 * 16  # columns 0-15 of 32, rows 6-23 of 24
    assert np.array_equal(b["roi_mask"][fb], np.broadcast_to(box, (int(fb.sum()), H, W)))
    assert np.all(b["roi_mask"][~fb] == 1.0)
    # the boxed rows are left where the box was drawn (no weak shift); their strong view moves
    exact = tr.ds.float_images(np.array([5]))[0]
    assert all(np.array_equal(x, exact) for x in b["x"][fb])
    assert not np.array_equal(b["x_aug"][fb][0], exact)
    # one transform per image: a colour image's channels move together (pure red stays pure red)
    red = np.zeros((1, H, W, 3), np.float32)
    red[0, 4:20, 8:24, 0] = 1.0
    from engine.training.augment import affine_augment

    moved = affine_augment(red, 2, 15.0, 0.1, np.random.default_rng(0))
    assert moved[..., 0].sum() > 100 and not moved[..., 1:].any()


def test_train_checkpoint_reload_and_streamed_predictions(rgb_home):
    from engine.workspace import predict_all

    tr = _trainer(rgb_home, augment_shift=2, augment_rotate=10.0, augment_scale=0.1, weak_shift=1, ema_decay=0.9)
    tr.set_feedback([{"sample_idx": 7, "x0": 0.5, "y0": 0.0, "x1": 1.0, "y1": 0.5}])
    res = tr.run(steps=12)
    assert res["step"] == 12 and res["n_test"] == 40
    assert all(np.isfinite(r["loss"]) for r in tr.history)
    tr.save_checkpoint("rgb")
    out = predict_all(tr)
    assert out[Out.RECON].shape == (160, H, W, 3) and out[Out.MU].shape == (160, 8)
    assert out[Out.RECON].min() >= 0.0 and out[Out.RECON].max() <= 1.0

    other = _trainer(rgb_home)
    meta = other.load_checkpoint("rgb")
    assert meta["model"]["image_shape"] == [H, W, 3] and other.step == 12
    again = predict_all(other)
    np.testing.assert_allclose(again[Out.PROBS], out[Out.PROBS], rtol=1e-5, atol=1e-6)
    emb = other.embed()
    assert emb.mu.shape == (160, 8) and emb.resp.shape == (160, 4)


def test_a_checkpoint_of_another_image_shape_is_refused_naming_both(rgb_home, tiny_cfg):
    """Not even --force gets past it: the weights are sized for one image shape."""
    from engine.datasets import load_dataset
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer
    from engine.workspace import make_trainer, open_workspace

    _trainer(rgb_home).save_checkpoint("rgb")
    ds = load_dataset("synth")
    gray = Trainer(tiny_cfg, ds, label_store_for("synth", ds.n_train, 10))
    for force in (False, True):
        with pytest.raises(CheckpointError) as err:
            gray.load_checkpoint("rgb", force=force)
        msg = str(err.value)
        assert "images of shape [24, 32, 3]" in msg and "images of shape [28, 28, 1]" in msg and "'synth'" in msg
        with pytest.raises(CheckpointError, match=r"\[24, 32, 3\].*\[28, 28, 1\]"):
            make_trainer(open_workspace(cfg=tiny_cfg), checkpoint="rgb", resume=True, force=force)


def test_predictions_are_streamed_in_chunks_of_pixel_values(monkeypatch):
    from engine.training import streaming
    from engine.training.streaming import CHUNK, chunk_rows, predict_rows

    assert chunk_rows(np.zeros((1, 28, 28), np.uint8)) == CHUNK  # MNIST: as many rows as ever
    assert chunk_rows(np.zeros((1, 128, 128, 3), np.uint8)) == streaming.CHUNK_VALUES // (128 * 128 * 3)
    assert chunk_rows(np.zeros((1, 8, 8), np.uint8), chunk=5) == 5

    seen: list[tuple[int, ...]] = []

    class Recorder:
        def predict(self, x):
            seen.append(x.shape)
            return {Out.MU: np.full((len(x), 2), x.reshape(len(x), -1)[:, 0:1], np.float32)}

    monkeypatch.setattr(streaming, "CHUNK_VALUES", 2 * H * W * 3)
    images = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, H, W, 3), np.uint8)
    out = predict_rows(Recorder(), images, keys=(Out.MU,))
    assert [s[0] for s in seen] == [2, 2, 1] and all(s[1:] == (H, W, 3) for s in seen)
    assert out[Out.MU][:, 0].tolist() == [0, 1, 2, 3, 4]


def test_reconstruction_probe_reports_psnr_per_channel_and_their_mean():
    """Known answers: the blue channel is always 0 (predicted exactly: the MSE floor's 100 dB), the
    green one a linear function of the latent (near exact), the red one noise the latent does not
    carry (PSNR of uniform noise, about 10.8 dB)."""
    from engine.analysis.probes import probe_table, run_probes
    from engine.datasets import Dataset
    from engine.tasks import TaskConfig

    rng = np.random.default_rng(0)
    n = 250
    t = rng.uniform(0, 1, n)
    images = np.zeros((n, 8, 12, 3), np.uint8)
    images[..., 0] = rng.integers(0, 256, (n, 8, 12))
    images[..., 1] = np.round(t * 255)[:, None, None]
    ds = Dataset("probe", images, np.arange(n) % 2, 200, 2)
    mu = np.stack([t, rng.normal(size=n)], axis=1).astype(np.float32)
    resp = np.full((n, 2), 0.5, np.float32)
    run = run_probes([TaskConfig(name="rec", kind="reconstruction", input="z")], ds, mu, resp)
    m = run.results[0].metrics
    assert m["psnr_b"] == pytest.approx(100.0)
    assert m["psnr_g"] > 40.0
    assert 9.5 < m["psnr_r"] < 12.0
    mean_mse = np.mean([10 ** (-m[f"psnr_{c}"] / 10) for c in "rgb"])
    assert m["psnr"] == pytest.approx(10 * np.log10(1 / mean_mse), abs=1e-6)
    assert m["mse"] == pytest.approx(mean_mse, abs=1e-10)  # the blue MSE is floored at 1e-10
    assert run.predictions["rec"].shape == (n,)
    assert "psnr_r=" in probe_table(run.results)

    gray = Dataset("probe", images[..., 1].copy(), np.arange(n) % 2, 200, 2)
    g = run_probes([TaskConfig(name="rec", kind="reconstruction", input="z")], gray, mu, resp).results[0].metrics
    assert set(g) == {"psnr", "mse", "cv_score"} and g["psnr"] > 40.0


def test_report_gallery_shows_colour_as_colour_and_gray_as_gray(tmp_path):
    from matplotlib.image import imread

    from engine.analysis.mixture import ComponentStats
    from engine.reports.plots import plot_gallery

    stats = [ComponentStats(c, c, 0.9, 0.5, 3, False, False) for c in range(2)]
    red = np.zeros((3, H, W, 3), np.uint8)
    red[..., 0] = 255
    plot_gallery(tmp_path / "rgb.png", [red, red[:2]], stats)
    png = imread(tmp_path / "rgb.png")[..., :3]
    assert ((png[..., 0] > 0.9) & (png[..., 1] < 0.1) & (png[..., 2] < 0.1)).sum() > 500
    # a cell is as wide as a 32x24 image: the figure is 0.55 in per 24 px of height, plus the captions
    assert png.shape[1] == round((0.55 * W / H * 3 + 1.1) * 100)

    ramp = np.tile(np.linspace(0, 255, W).astype(np.uint8), (3, H, 1))
    plot_gallery(tmp_path / "gray.png", [ramp, ramp], stats)
    png = imread(tmp_path / "gray.png")[..., :3]
    assert np.allclose(png[..., 0], png[..., 1]) and np.allclose(png[..., 1], png[..., 2])


def test_forecast_features_and_label_issue_scoring_on_colour(rgb_home):
    from engine.analysis.label_issues import NeighbourhoodIndex, score_labels
    from workers.forecast import Forecaster

    tr = _trainer(rgb_home)
    tr.run(steps=10)
    labels = tr.labels.read()
    fc = Forecaster()
    for _ in range(2):
        emb = tr.embed()
        res = fc.update(
            emb.probs, labels, tr.tau.predict_hard(emb.resp), emb.mu, version=emb.version, step=tr.step, test_acc=0.5
        )
    unlabelled = set(np.flatnonzero(labels < 0).tolist())
    assert res.candidates and all(c["sample_idx"] in unlabelled for c in res.candidates)
    assert all(0.0 <= c["risk"] <= 1.0 for c in res.candidates)
    f = fc.features(emb.probs, labels, None, emb.mu, emb.probs.argmax(1), np.ones(160, np.float32))
    assert all(v.shape == (160,) and np.isfinite(v).all() for v in f.values())

    serials = np.flatnonzero(labels >= 0)
    index = NeighbourhoodIndex(emb.mu[: tr.ds.n_train], emb.resp[: tr.ds.n_train])
    ranking = score_labels(
        serials, labels[serials], emb.resp[serials], emb.mu[serials], tr.tau.prior_counts, None,
        "neighbourhood", index, labels >= 0,
    )  # fmt: skip
    assert sorted(r.serial for r in ranking.ranked) == serials.tolist()
    assert all(0.0 <= r.quality <= 1.0 for r in ranking.ranked)


def test_xai_worker_explains_a_colour_image_and_refuses_another_shape(rgb_home, monkeypatch):
    import workers.xai as xai
    from engine.datasets import load_dataset
    from workers.messages import XaiRequest

    snaps = rgb_home / "artifacts/snapshots"
    tr = _trainer(rgb_home, snapshot_dir=snaps / "run1")
    tr.run(steps=3)
    drawn = []

    def fake_overlay(image, heat, box):  # engine.images draws it; here: what the worker hands over
        drawn.append((np.asarray(image), np.asarray(heat), box))
        return b"\x89PNG"

    monkeypatch.setattr(xai, "overlay_png", fake_overlay)
    eng = xai.XaiEngine(load_dataset("rgb"), snaps)
    r = eng.answer(XaiRequest(1, 9))
    assert set(r.maps) == {"gradcam", "smoothgrad", "consensus"}
    assert all(np.array(m).shape == (H, W) for m in r.maps.values())
    image, heat, box = drawn[0]
    assert image.shape == (H, W, 3) and np.array_equal(image, tr.ds.images[9]) and heat.shape == (H, W)
    assert box is None or (0.0 <= box[0] < box[2] <= 1.0 and 0.0 <= box[1] < box[3] <= 1.0)

    from engine.datasets import load_dataset as load

    with pytest.raises(CheckpointError, match=r"\[24, 32, 3\].*'synth'.*\[28, 28, 1\]"):
        xai.XaiEngine(load("synth"), snaps).answer(XaiRequest(2, 0))
