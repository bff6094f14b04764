"""Colour datasets (issue 23, outcome 6): the coloured shapes and their per-image factors, the
factor arrays in both dataset layouts, luminance attributes, factor task targets, the photo
patches, and the unchanged gray synthetic set."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine import datasets
from engine.config import ConfigError, from_dict
from engine.datasets import photos, shapes
from engine.datasets.attributes import compute_attributes, dataset_attributes, luminance
from engine.errors import DatasetError
from engine.tasks import TaskConfig
from tests.helpers import ROOT

BT601 = np.array([0.299, 0.587, 0.114])


def gray(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64) @ BT601


# -- the gray synthetic set is unchanged -------------------------------------------------------


def test_default_gray_synth_is_byte_identical_to_before_colour():
    """Guards every dataset, checkpoint and benchmark built with `data synth`: these digests are
    those of the generator before the height/width options (numpy 2's default_rng and float math)."""
    ds = datasets.synthetic_dataset()
    assert ds.images.shape == (800, 28, 28) and ds.images.dtype == np.uint8 and ds.factors == {}
    assert hashlib.sha256(ds.images.tobytes()).hexdigest() == (
        "9d9e4bca69af75b3b99b76b7e794af8f49ae62bb6c821a39c0ce687fbae03e04"
    )
    assert hashlib.sha256(ds.targets.tobytes()).hexdigest() == (
        "37736f57836691079a14c0914b08fc32612381e77b713c2687ae47ded9b6fe30"
    )


def test_gray_synth_non_square():
    ds = datasets.synthetic_dataset(40, 10, size=24, width=40, seed=1)
    assert ds.images.shape == (50, 24, 40) and ds.image_shape == (24, 40, 1)
    same = datasets.synthetic_dataset(40, 10, size=24, width=40, seed=1)
    np.testing.assert_array_equal(ds.images, same.images)
    # the strokes are stretched across the whole width, not squeezed into the left square
    assert ds.images[:, :, 28:].astype(float).mean() > 0.3 * ds.images.astype(float).mean()


# -- coloured shapes ----------------------------------------------------------------------------


def test_shapes_are_deterministic_per_seed_and_balanced():
    a = shapes.shapes_dataset(48, 24, seed=3)
    b = shapes.shapes_dataset(48, 24, seed=3)
    c = shapes.shapes_dataset(48, 24, seed=4)
    np.testing.assert_array_equal(a.images, b.images)
    assert all(np.array_equal(a.factors[k], b.factors[k]) for k in shapes.FACTORS)
    assert not np.array_equal(a.images, c.images)
    assert a.images.shape == (72, 32, 32, 3) and a.images.dtype == np.uint8 and a.num_classes == 12
    assert np.bincount(a.targets[:48], minlength=12).tolist() == [4] * 12
    assert np.bincount(a.targets[48:], minlength=12).tolist() == [2] * 12
    assert set(a.factors) == set(shapes.FACTORS)


def test_class_is_the_pair_of_shape_and_colour_family():
    ds = shapes.shapes_dataset(240, 0, height=24, width=40, num_classes=12, seed=0)
    f, y = ds.factors, ds.targets
    np.testing.assert_array_equal(f["shape"], y % 4)  # circle, square, triangle, cross
    family = y // 4  # 3 families centred at hue 1/6, 1/2, 5/6, a quarter of their width either side
    assert np.all(np.abs(f["hue"] - (family + 0.5) / 3) <= 0.25 / 3 + 1e-6)
    assert f["scale"].min() >= 0.15 and f["scale"].max() <= 0.28
    assert f["rotation"].min() >= -30 and f["rotation"].max() <= 30
    r = f["scale"] * 24  # the radius stays inside the image
    assert np.all(f["x"] * 40 >= r - 1e-4) and np.all(f["x"] * 40 <= 40 - r + 1e-4)
    assert np.all(f["y"] * 24 >= r - 1e-4) and np.all(f["y"] * 24 <= 24 - r + 1e-4)


def test_every_hue_has_the_same_luminance():
    rgb = shapes.hue_to_rgb(np.linspace(0, 1, 25))
    np.testing.assert_allclose(rgb.astype(np.float64) @ BT601, shapes.SHAPE_LUMA, atol=1e-5)
    assert rgb.min() >= 0 and rgb.max() <= 1
    assert np.all(rgb.max(1) - rgb.min(1) > 0.4)  # and is clearly coloured


def _render(**change):
    f = {"shape": [0], "hue": [1 / 6], "scale": [0.25], "x": [0.5], "y": [0.5], "rotation": [10.0]}
    f.update({k: [v] for k, v in change.items()})
    return shapes.render_shapes({k: np.array(v) for k, v in f.items()}, 32, 32, np.random.default_rng(7))[0]


def test_colour_only_pairs_are_lost_in_gray_and_shape_pairs_are_not():
    """(circle, family 0) and (circle, family 1) differ only in colour: a gray copy of the same
    draw is the same image (within rounding, and the noise clipped at a channel's 255), the colour
    image is not. Another shape differs in gray."""
    red_ish, cyan_ish, square = _render(), _render(hue=0.5), _render(shape=1)
    lost = np.abs(gray(red_ish) - gray(cyan_ish))
    assert lost.mean() < 0.5 and lost.max() < 8
    assert np.abs(red_ish.astype(int) - cyan_ish.astype(int)).max() > 100
    assert np.abs(gray(red_ish) - gray(square)).max() > 50
    # the shape's centre has its colour; a corner is the gray background (R = G = B but for noise)
    np.testing.assert_allclose(red_ish[16, 16] / 255, shapes.hue_to_rgb(np.array(1 / 6)), atol=0.08)
    assert np.ptp(red_ish[0, 0].astype(int)) < 20 and gray(red_ish[0, 0]) < 0.4 * 255


def test_gray_copy_cannot_tell_colour_families_apart():
    """A nearest-class-mean classifier on the colour of the brightest pixels (the shape, wherever it
    is) separates circles of colour family 0 from circles of family 1; on the gray copy it guesses."""
    ds = shapes.shapes_dataset(480, 480, num_classes=8, seed=1, background="plain")
    circle = ds.factors["shape"] == 0  # classes 0 (family 0) and 4 (family 1)
    y = (ds.targets == 4).astype(int)
    rows = np.arange(len(ds))
    train, test = circle & (rows < ds.n_train), circle & (rows >= ds.n_train)

    def accuracy(pixels: np.ndarray) -> float:  # pixels [N, P, channels]
        top = np.argsort(pixels @ BT601 if pixels.shape[-1] == 3 else pixels[..., 0], 1)[:, -20:]
        feats = np.take_along_axis(pixels, top[..., None], 1).mean(1)
        means = np.stack([feats[train & (y == k)].mean(0) for k in (0, 1)])
        pred = np.argmin(((feats[test][:, None] - means[None]) ** 2).sum(-1), 1)
        return float((pred == y[test]).mean())

    rgb = ds.images.reshape(len(ds), -1, 3).astype(np.float64)
    assert accuracy(rgb) > 0.95
    assert accuracy(gray(rgb)[..., None]) < 0.75


def test_shapes_bad_arguments():
    with pytest.raises(DatasetError, match="multiples of 4"):
        shapes.shapes_dataset(10, 0, height=30)
    with pytest.raises(DatasetError, match="num_classes <= 24"):
        shapes.shapes_dataset(10, 0, num_classes=25)


# -- factors in both layouts --------------------------------------------------------------------


def test_factors_round_trip_npz(tmp_path: Path):
    ds = shapes.shapes_dataset(20, 4, height=16, width=24, name="s")
    path = datasets.save_dataset(ds, tmp_path / "s" / "s.npz")
    with np.load(path) as z:
        assert sorted(k for k in z.files if k.startswith("factor_")) == sorted(f"factor_{k}" for k in shapes.FACTORS)
        assert z["factor_hue"].dtype == np.float32
    back = datasets.load_dataset("s", tmp_path)
    assert back.image_shape == (16, 24, 3)
    for k in shapes.FACTORS:
        np.testing.assert_array_equal(back.factors[k], ds.factors[k])
        assert not back.factors[k].flags.writeable
    assert datasets.dataset_info("s", tmp_path)["factors"] == sorted(shapes.FACTORS)


def test_factors_round_trip_npy_layout(tmp_path: Path):
    _, factors, chunks = shapes.shapes_chunks(280, 20, 16, 24)  # two chunks of the default 256 rows
    meta = datasets.write_memmap_dataset(tmp_path / "m", 300, (16, 24, 3), 12, 280, chunks, factors)
    assert json.loads(meta.read_text())["factors"] == list(shapes.FACTORS)
    back = datasets.load_dataset("m", tmp_path)
    assert isinstance(back.images, np.memmap)
    for k in shapes.FACTORS:
        np.testing.assert_array_equal(back.factors[k], factors[k])
    np.testing.assert_array_equal(back.images, shapes.shapes_dataset(280, 20, 16, 24).images)  # as the .npz
    # a rewrite without factors removes the old factor files and loads without them
    _, chunks = datasets.synthetic_chunks(20, 4, 16, 2)
    datasets.clear_cache()
    datasets.write_memmap_dataset(tmp_path / "m", 24, (16, 16), 2, 20, chunks)
    assert not list((tmp_path / "m").glob("factor_*")) and datasets.load_dataset("m", tmp_path).factors == {}


def test_files_without_factors_still_load(tmp_path: Path):
    ds = datasets.synthetic_dataset(20, 4, size=16, name="g")
    datasets.save_dataset(ds, tmp_path / "g" / "g.npz")
    assert datasets.load_dataset("g", tmp_path).factors == {}
    _, chunks = datasets.synthetic_chunks(20, 4, 16)
    meta = datasets.write_memmap_dataset(tmp_path / "n", 24, (16, 16), 10, 20, chunks)
    assert "factors" not in json.loads(meta.read_text())
    assert datasets.load_dataset("n", tmp_path).factors == {}


def test_bad_factor_arrays_are_named(tmp_path: Path):
    ds = datasets.synthetic_dataset(20, 4, size=16, name="b")
    path = tmp_path / "b" / "b.npz"
    path.parent.mkdir()
    np.savez(path, images=ds.images, labels=ds.targets, split=ds.split, factor_hue=np.zeros(3, np.float32))
    with pytest.raises(
        DatasetError, match=r"b\.npz: factor 'hue' must be numbers of shape \(24,\), got float32 of shape \[3\]"
    ):
        datasets.load_dataset("b", tmp_path)
    bad = np.full(24, np.nan, np.float32)
    np.savez(path, images=ds.images, labels=ds.targets, split=ds.split, factor_x=bad)
    datasets.clear_cache()
    with pytest.raises(DatasetError, match="factor 'x' has a non-finite value at row 0"):
        datasets.load_dataset("b", tmp_path)
    with pytest.raises(DatasetError, match="factor name 'Hue'"):
        datasets.save_dataset(datasets.Dataset("b", ds.images, ds.targets, 20, 10, {"Hue": np.zeros(24)}), path)
    _, factors, chunks = shapes.shapes_chunks(20, 4, 16)
    meta = datasets.write_memmap_dataset(tmp_path / "m", 24, (16, 16, 3), 12, 20, chunks, factors)
    (tmp_path / "m" / "factor_x.npy").unlink()
    with pytest.raises(DatasetError, match="cannot read the dataset arrays"):
        datasets.load_dataset("m", tmp_path)
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "factors": ["../x"]}))
    with pytest.raises(DatasetError, match="'factors' must be a list of factor names"):
        datasets.load_dataset("m", tmp_path)


# -- attributes on luminance --------------------------------------------------------------------


def test_attributes_of_a_known_colour_image():
    """An 8x12 RGB image: one pure green pixel (luminance 0.587, >= 0.5) at row 2, column 11 and
    one pure red pixel (0.299) at row 6, column 0."""
    img = np.zeros((1, 8, 12, 3), np.uint8)
    img[0, 2, 11] = (0, 255, 0)
    img[0, 6, 0] = (255, 0, 0)
    np.testing.assert_allclose(luminance(img)[0, 2, 11], 0.587)
    a = compute_attributes(img)
    mass = 0.587 + 0.299
    np.testing.assert_allclose(a["ink"], mass / 96, rtol=1e-6)
    np.testing.assert_allclose(a["com_x"], (0.587 * 11) / mass / 11, rtol=1e-6)  # x / (W - 1)
    np.testing.assert_allclose(a["com_y"], (0.587 * 2 + 0.299 * 6) / mass / 7, rtol=1e-6)  # y / (H - 1)
    np.testing.assert_allclose(a["stroke_width"], 2 * 1 / 4)  # only the green pixel reaches 0.5
    # a gray image and its RGB copy measure the same
    g = datasets.synthetic_dataset(20, 0, size=16, width=24).images
    ag, ac = compute_attributes(g), compute_attributes(np.repeat(g[..., None], 3, -1))
    for k in ag:
        np.testing.assert_allclose(ag[k], ac[k], atol=1e-6)


def test_factors_are_task_targets(tmp_path: Path):
    ds = shapes.shapes_dataset(20, 4, height=16, name="f")
    attrs = dataset_attributes(ds, tmp_path)
    np.testing.assert_array_equal(attrs["factor_hue"], ds.factors["hue"])
    assert {"ink", "slant", "stroke_width", "com_x", "com_y"} <= set(attrs)
    assert TaskConfig(name="hue", kind="regression", target="factor_hue", input="z[3:5]").target == "factor_hue"
    for bad in ("factor_", "hue", "factor_Hue"):
        with pytest.raises(ValueError, match="factor_<name>"):
            TaskConfig(name="t", kind="regression", target=bad)
    with pytest.raises(ValueError, match="classification target is one of label"):
        TaskConfig(name="t", kind="classification", target="factor_shape")


# -- the shipped factor-slot config -------------------------------------------------------------


def _shapes_config(name: str, steps: int = 20) -> dict:
    raw = yaml.safe_load((ROOT / "configs" / "variants" / name).read_text())
    raw["train"].update(steps=steps, batch_unlabeled=32, batch_labeled=16, eval_every=steps, log_every=5)
    raw["train"]["snapshot_every_s"] = 0.0
    raw["curriculum"].update(warmup_steps=5, anneal_steps=10)
    return raw


def test_factor_config_validates_and_control_differs_only_in_weights():
    steer = from_dict(yaml.safe_load((ROOT / "configs/variants/shapes-factors.yaml").read_text()))
    control = from_dict(yaml.safe_load((ROOT / "configs/variants/shapes-control.yaml").read_text()))
    assert steer.model.image_shape == (32, 32, 3) and steer.model.num_classes == 12
    assert {h.name: h.input for h in steer.model.aux} == {
        "x_z0": "z[0]",
        "y_z1": "z[1]",
        "scale_z2": "z[2]",
        "hue_z34": "z[3:5]",
    }
    assert control.model.aux == ()
    assert [t.model_dump(exclude={"weight"}) for t in steer.tasks] == [
        t.model_dump(exclude={"weight"}) for t in control.tasks
    ]
    assert steer.model.model_dump(exclude={"aux"}) == control.model.model_dump(exclude={"aux"})
    assert steer.model_dump(exclude={"tasks", "model", "train"}) == control.model_dump(
        exclude={"tasks", "model", "train"}
    )
    assert steer.train.model_dump(exclude={"checkpoint"}) == control.train.model_dump(exclude={"checkpoint"})


def test_factor_config_trains_20_steps(home: Path):
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer

    datasets.save_dataset(shapes.shapes_dataset(240, 60, name="shapes"), datasets.dataset_path("shapes"))
    cfg = from_dict(_shapes_config("shapes-factors.yaml"))
    ds = datasets.load_dataset("shapes")
    store = label_store_for("shapes", ds.n_train, ds.num_classes)
    store.set_many(datasets.oracle_labels(ds, 3, 0), source="test")
    tr = Trainer(cfg, ds, store)
    summary = tr.run(steps=20)
    assert summary["step"] == 20
    assert tr.history[-1]["aux"] > 0 and np.isfinite(tr.history[-1]["loss"])
    # the same config on a dataset without these factors is refused, naming the dataset
    with pytest.raises(ConfigError, match=r"task 'x_z0': dataset 'synth' has no 'factor_x' \(its factors: none\)"):
        raw = _shapes_config("shapes-factors.yaml")
        raw["data"]["name"] = "synth"
        raw["model"].update(image_shape=[28, 28, 1], num_classes=10, components=10)
        synth = datasets.load_dataset("synth")
        Trainer(from_dict(raw), synth, label_store_for("synth", synth.n_train, synth.num_classes))


# -- photo patches ------------------------------------------------------------------------------


def _fake_photos(folder: Path, names: list[str], h: int = 64, w: int = 96) -> None:
    """Photos whose pixels encode their column (R / 2), row (G // 3) and index (G % 3), over a
    checkerboard in B (so that no patch is flat)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:h, 0:w]
    for i, name in enumerate(names):
        img = np.stack([xx * 2, yy * 3 + i, 255 * ((xx + yy) % 2)], -1).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{name}.png")


def test_patches_come_from_separate_regions(tmp_path: Path):
    _fake_photos(tmp_path, ["a", "b", "c"])
    ds = photos.photo_patches(8, photos=["a", "b", "c"], folder=tmp_path, seed=0)
    assert ds.images.shape[1:] == (8, 8, 3) and ds.num_classes == 3
    n_train = ds.n_train
    # photos of 64 rows: half-patch grid, the left 72 columns train (17 x 15), the right 24 test (5 x 15)
    assert (n_train, len(ds) - n_train) == (3 * 17 * 15, 3 * 5 * 15)
    assert np.bincount(ds.targets[:n_train]).tolist() == [255] * 3
    columns = ds.images[..., 0].astype(int) // 2
    assert columns[:n_train].max() < 72 <= columns[n_train:].min()  # no shared pixel column
    np.testing.assert_array_equal(ds.images[:, 0, 0, 1] % 3, ds.targets)  # the class is its own photo
    np.testing.assert_allclose(ds.factors["x"], (columns[:, 0, 0] + 4) / 96)
    again = photos.photo_patches(8, photos=["a", "b", "c"], folder=tmp_path, seed=0)
    np.testing.assert_array_equal(ds.images, again.images)


def test_patches_bad_input(tmp_path: Path):
    _fake_photos(tmp_path, ["a", "b"])
    with pytest.raises(DatasetError, match="photo 'z' not found in"):
        photos.photo_patches(8, photos=["a", "z"], folder=tmp_path)
    with pytest.raises(DatasetError, match="multiples of 4"):
        photos.photo_patches(10, photos=["a", "b"], folder=tmp_path)
    with pytest.raises(DatasetError, match="no test patch of 32x32"):
        photos.photo_patches(32, photos=["a", "b"], folder=tmp_path, zoom=2)


def test_patches_of_the_scikit_image_photographs():
    pytest.importorskip("skimage")
    ds = photos.photo_patches(32)
    assert ds.images.shape[1:] == (32, 32, 3) and ds.num_classes == len(photos.PHOTOS) == 11
    per_class = np.bincount(ds.targets[: ds.n_train])
    assert per_class.min() == per_class.max() >= 150
    test_counts = np.bincount(ds.targets[ds.n_train :])
    assert test_counts.min() == test_counts.max() >= 30
    train_rows = {r.tobytes() for r in ds.images[: ds.n_train]}
    assert not any(r.tobytes() in train_rows for r in ds.images[ds.n_train :])
    # colour photos are coloured, the textures gray
    sat = np.ptp(ds.images.astype(int), axis=-1).mean((1, 2))
    for c, name in enumerate(photos.PHOTOS):
        assert (sat[ds.targets == c].mean() < 1) == (name in ("brick", "grass", "gravel")), name
