"""The import of the user's own images (engine/datasets/importer.py and its helpers): layouts,
the conversion rule, provenance, duplicates, --append, the layouts on disk, unknown targets."""

from __future__ import annotations

import hashlib
import io
import os
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.datasets import clear_cache, load_dataset, save_dataset
from engine.datasets.classes import read_class_names
from engine.datasets.imagefile import decode_file
from engine.datasets.importer import ImportOptions, import_images
from engine.datasets.provenance import read_sources, sources_path
from engine.datasets.store import Dataset, oracle_labels, require_ground_truth
from engine.errors import DatasetError


def png(path: Path, seed: int, size: tuple[int, int] = (20, 16), mode: str = "RGB") -> Path:
    """A random image file (``size`` is width x height)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), "RGB" if mode == "RGB" else "L").save(path)
    return path


def opts(**kw: object) -> ImportOptions:
    return ImportOptions(**{"height": 8, "width": 8, "workers": 1, **kw})  # type: ignore[arg-type]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    clear_cache()
    return tmp_path / "data"


def test_class_folders_with_train_and_test_levels(tmp_path: Path, data: Path) -> None:
    for split, n in (("train", 3), ("test", 2)):
        for c in ("dog", "cat"):
            for i in range(n):
                png(tmp_path / "src" / split / c / f"{i}.png", zlib.crc32(f"{split}/{c}/{i}".encode()))
    r = import_images("pets", tmp_path / "src", opts(), root=data)
    ds = load_dataset("pets", data)
    assert (r.kind, r.classes, len(ds), ds.n_train) == ("folders", ["cat", "dog"], 10, 6)
    assert ds.targets.tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 1, 1]  # train rows first, sorted by path
    assert read_class_names("pets", 2, data) == ["cat", "dog"]
    rows = read_sources(sources_path("pets", data))
    assert [r.path for r in rows][:2] == ["train/cat/0.png", "train/cat/1.png"]
    assert rows[6].path == "test/cat/0.png"
    assert rows[0].sha256 == hashlib.sha256((tmp_path / "src/train/cat/0.png").read_bytes()).hexdigest()
    assert not ds.unknown_targets and ds.has_ground_truth


def test_flat_nested_folder_is_unlabelled(tmp_path: Path, data: Path) -> None:
    png(tmp_path / "src" / "a.png", 1)
    png(tmp_path / "src" / "x" / "y" / "b.png", 2)
    with pytest.raises(DatasetError, match="--classes"):
        import_images("u", tmp_path / "src", opts(), root=data)
    import_images("u", tmp_path / "src", opts(classes=["cat", "dog"]), root=data)
    ds = load_dataset("u", data)
    assert ds.targets.tolist() == [-1, -1] and ds.unknown_targets and not ds.has_ground_truth
    with pytest.raises(DatasetError, match=r"true class of every image.*2 of the 2 images"):
        oracle_labels(ds, 1)
    with pytest.raises(DatasetError, match="simulate"):
        require_ground_truth(ds, "simulate")


def test_unknown_label_needs_the_flag(tmp_path: Path) -> None:
    images = np.zeros((3, 8, 8), np.uint8)
    ds = Dataset("x", images, np.array([0, -1, 1]), 3, 2)
    with pytest.raises(DatasetError, match="negative label at row 1"):
        save_dataset(ds, tmp_path / "x.npz")
    ds.unknown_targets = True
    save_dataset(ds, tmp_path / "data" / "x" / "x.npz")
    back = load_dataset("x", tmp_path / "data")
    assert back.unknown_targets and back.targets.tolist() == [0, -1, 1]
    bad = Dataset("y", images, np.array([0, -2, 1]), 3, 2, unknown_targets=True)
    with pytest.raises(DatasetError, match="negative label at row 1"):
        save_dataset(bad, tmp_path / "y.npz")


def test_manifest_columns_splits_and_numeric_classes(tmp_path: Path, data: Path) -> None:
    for i in range(4):
        png(tmp_path / "m" / "img" / f"{i}.png", i)
    (tmp_path / "m" / "list.csv").write_text("img/0.png,10,train\nimg/1.png,2\nimg/2.png,,test\nimg/3.png,2,train\n")
    r = import_images("m", tmp_path / "m" / "list.csv", opts(), root=data)
    ds = load_dataset("m", data)
    assert r.classes == ["2", "10"]  # whole numbers sort as numbers
    assert ds.targets.tolist() == [1, 0, 0, -1] and ds.n_train == 3
    (tmp_path / "m" / "h.csv").write_text("split,extra,path\ntest,x,img/0.png\n,y,img/1.png\n")
    import_images("h", tmp_path / "m" / "h.csv", opts(classes=["a", "b"]), root=data)
    h = load_dataset("h", data)
    assert h.n_train == 1 and h.targets.tolist() == [-1, -1]


def _decode(im: Image.Image, fmt: str = "PNG", mode: str = "rgb", fit: str = "stretch", **save: object) -> np.ndarray:
    buf = io.BytesIO()
    im.save(buf, fmt, **save)
    path = Path(os.environ["PYTEST_TMP"]) / f"img.{fmt.lower()}"
    path.write_bytes(buf.getvalue())
    _, pixels, _, error = decode_file(str(path), 4, 4, mode, fit)  # type: ignore[arg-type]
    assert not error and pixels is not None
    return pixels


@pytest.fixture(autouse=True)
def _tmp_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_TMP", str(tmp_path))


def test_conversion_rule() -> None:
    rgba = Image.new("RGBA", (4, 4), (200, 100, 50, 0))  # fully transparent: black (the background)
    assert _decode(rgba).max() == 0
    opaque = Image.new("RGBA", (4, 4), (200, 100, 50, 255))
    assert _decode(opaque)[0, 0].tolist() == [200, 100, 50]
    la = Image.new("LA", (4, 4), (90, 255))
    assert _decode(la, mode="gray")[0, 0] == 90
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert _decode(pal)[0, 0].tolist() == [10, 20, 30]
    sixteen = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    assert _decode(sixteen, mode="gray")[0, 0] == 255
    mid = Image.fromarray(np.full((4, 4), 257 * 100, np.uint16))
    assert _decode(mid, mode="gray")[0, 0] == 100
    cmyk = Image.new("CMYK", (4, 4), (0, 0, 0, 0))  # no ink: white
    assert _decode(cmyk, fmt="JPEG", quality=100).min() >= 250
    gray_of_rgb = _decode(Image.new("RGB", (4, 4), (255, 0, 0)), mode="gray")
    assert gray_of_rgb[0, 0] == 76  # BT.601: 0.299 * 255


def test_gif_first_frame_and_exif_orientation() -> None:
    frames = [Image.new("L", (4, 4), v) for v in (40, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    path = Path(os.environ["PYTEST_TMP"]) / "a.gif"
    path.write_bytes(buf.getvalue())
    assert decode_file(str(path), 4, 4, "gray", "stretch")[1][0, 0] == 40  # type: ignore[index]
    im = Image.new("L", (8, 4), 0)  # wide, white left half
    im.paste(255, (0, 0, 4, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    pixels = _decode(im, fmt="JPEG", mode="gray", exif=exif.tobytes(), quality=100)
    assert pixels[0].mean() > 200 and pixels[-1].mean() < 50  # turned upright: the white half on top


def test_fit_crop_pad_stretch() -> None:
    wide = Image.new("L", (8, 4), 255)
    pad = _decode(wide, mode="gray", fit="pad")
    assert pad[0].max() == 0 and pad[3].max() == 0 and pad[1:3].min() > 200  # black bars above and below
    assert _decode(wide, mode="gray", fit="crop").min() > 200
    assert _decode(wide, mode="gray", fit="stretch").min() > 200


def _jpeg(im: Image.Image, **save: object) -> str:
    path = Path(os.environ["PYTEST_TMP"]) / "big.jpg"
    im.save(path, "JPEG", quality=90, **save)
    return str(path)


def test_large_jpeg_decodes_at_a_reduced_scale_close_to_full_resolution() -> None:
    """A JPEG much larger than its target is decoded at 1/2, 1/4 or 1/8 scale first, down to twice
    the target (the speed of the import, docs/datasets.md): close to Lanczos from the full image,
    not equal to it, with the fit's geometry and the EXIF orientation kept."""
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    photo = photo.resize((256, 256), Image.Resampling.BICUBIC)
    ImageDraw.Draw(photo).rectangle((40, 60, 150, 140), fill=(250, 20, 90))
    path = _jpeg(photo)
    _, got, colour, _ = decode_file(path, 64, 64, "rgb", "crop")
    assert got is not None and got.shape == (64, 64, 3) and colour
    full = np.asarray(Image.open(path).resize((64, 64), Image.Resampling.LANCZOS), np.int16)
    assert 0 < np.abs(got - full).mean() < 1  # gray levels of 255: reduced, and close
    half = Image.open(path)
    half.draft("RGB", (128, 128))
    assert half.size == (128, 128)
    want = np.asarray(half.resize((64, 64), Image.Resampling.LANCZOS))
    assert np.array_equal(got, want)  # 256 -> 64: decoded at 1/2 scale, then Lanczos
    wide = Image.new("RGB", (512, 256), (255, 255, 255))
    pad = decode_file(_jpeg(wide), 64, 64, "rgb", "pad")[1]
    assert pad is not None and pad[:16].max() == 0 and pad[48:].max() == 0 and pad[17:47].min() > 240
    wide.paste((0, 0, 0), (256, 0, 512, 256))  # white left half, turned upright: the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    crop = decode_file(_jpeg(wide, exif=exif.tobytes()), 64, 64, "gray", "crop")[1]
    assert crop is not None and crop[:28].min() > 200 and crop[36:].max() < 50


def test_auto_mode_picks_rgb_only_for_colour(tmp_path: Path, data: Path) -> None:
    for i, c in enumerate(("a", "b")):
        Image.new("RGB", (10, 10), (50 + i, 50 + i, 50 + i)).save(png(tmp_path / "g" / c / "0.png", i))
    import_images("g", tmp_path / "g", opts(), root=data)
    assert load_dataset("g", data).images.shape == (2, 8, 8)
    png(tmp_path / "c" / "a" / "0.png", 1, mode="L")
    png(tmp_path / "c" / "b" / "0.png", 2)
    import_images("c", tmp_path / "c", opts(), root=data)
    assert load_dataset("c", data).images.shape == (2, 8, 8, 3)


def test_duplicates_once_and_parallel_equals_serial(tmp_path: Path, data: Path) -> None:
    for i in range(12):
        png(tmp_path / "s" / ("a" if i % 2 else "b") / f"{i}.png", i)
    (tmp_path / "s" / "b" / "copy.png").write_bytes((tmp_path / "s" / "a" / "1.png").read_bytes())
    r = import_images("one", tmp_path / "s", opts(), root=data)
    import_images("two", tmp_path / "s", opts(workers=2), root=data)
    assert r.duplicates == [("b/copy.png", "a/1.png")] and r.added == 12
    assert (data / "one" / "one.npz").read_bytes() != b""
    assert np.array_equal(load_dataset("one", data).images, load_dataset("two", data).images)


def test_memmap_layout_holds_the_same_rows(tmp_path: Path, data: Path) -> None:
    for i in range(6):
        png(tmp_path / "s" / ("a" if i % 2 else "b") / f"{i}.png", i)
    (tmp_path / "s" / "flat.png").write_bytes(b"")  # unclassed and empty: the layout must not care
    import_images("npz", tmp_path / "s", opts(no_classes=True, classes=["a", "b"]), root=data)
    import_images("npy", tmp_path / "s", opts(no_classes=True, classes=["a", "b"], layout="npy"), root=data)
    a, b = load_dataset("npz", data), load_dataset("npy", data)
    assert (data / "npy" / "dataset.json").exists() and b.unknown_targets
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)


def test_append_keeps_serials_and_reports_changes(tmp_path: Path, data: Path) -> None:
    src = tmp_path / "s"
    for i, (split, c) in enumerate([("train", "a"), ("train", "b"), ("test", "a"), ("test", "b")]):
        png(src / split / c / "0.png", 10 + 20 * i)  # distinct content: equal files would be imported once
    import_images("p", src, opts(), root=data)
    before = load_dataset("p", data)
    old_train = np.array(before.images[: before.n_train])
    (data / "p" / "labels.csv").write_text("Serial,label\n1,0\n")
    png(src / "train" / "a" / "1.png", 77)  # new
    png(src / "train" / "b" / "0.png", 78)  # changed
    (src / "test" / "a" / "0.png").unlink()  # vanished
    r = import_images("p", src, opts(append=True, height=None, width=None), root=data)
    clear_cache()
    after = load_dataset("p", data)
    assert (r.added, r.changed, r.vanished) == (1, ["train/b/0.png"], ["test/a/0.png"])
    assert np.array_equal(after.images[:2], old_train)  # existing Serials and pixels unchanged
    assert after.n_train == 3 and len(after) == 5 and after.targets[2] == 0
    assert np.array_equal(after.images[3:], before.images[2:])  # test rows moved up by one
    assert [s.path for s in read_sources(sources_path("p", data))] == [
        "train/a/0.png", "train/b/0.png", "train/a/1.png", "test/a/0.png", "test/b/0.png"
    ]  # fmt: skip
    assert (data / "p" / "labels.csv").read_text() == "Serial,label\n1,0\n"
    again = import_images("p", src, opts(append=True, height=None, width=None), root=data)
    assert again.added == 0 and again.changed == ["train/b/0.png"]


def test_interrupted_import_leaves_nothing(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.datasets import importer

    for i in range(6):
        png(tmp_path / "s" / ("a" if i % 2 else "b") / f"{i}.png", i)
    calls = [0]
    real = importer.decode_file

    def interrupted(*a: object) -> object:
        calls[0] += 1
        if calls[0] == 4:
            raise KeyboardInterrupt
        return real(*a)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "decode_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_images("x", tmp_path / "s", opts(), root=data)
    assert list(data.iterdir()) == []  # neither the dataset nor a staging folder


def test_test_accuracy_counts_only_known_targets(tiny_cfg) -> None:
    """Evaluation scores the test rows whose true class is known (a -1 would count as wrong)."""
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer

    ds = load_dataset("synth")
    targets = np.array(ds.targets)
    targets[ds.n_train :: 2] = -1  # every other test image: class unknown
    partial = Dataset("synth", ds.images, targets, ds.n_train, ds.num_classes, unknown_targets=True)
    store = label_store_for("synth", ds.n_train, ds.num_classes)
    e = Trainer(tiny_cfg, partial, store).evaluate()
    assert e.n_test == ds.n_test // 2
    targets[ds.n_train :] = -1
    none = Dataset("synth", ds.images, targets, ds.n_train, ds.num_classes, unknown_targets=True)
    e = Trainer(tiny_cfg, none, store).evaluate()
    assert e.n_test == 0 and np.isnan(e.test_acc)


def test_checkpoints_of_the_version_before_append_stay_valid(tmp_path: Path, data: Path) -> None:
    from functools import partial

    from engine.datasets.attributes import images_sha256
    from engine.datasets.provenance import appended_from
    from engine.training.checkpoints import dataset_mismatch

    for c in ("a", "b"):
        png(tmp_path / "s" / c / "0.png", ord(c))
    import_images("p", tmp_path / "s", opts(), root=data)
    old_sha = images_sha256(load_dataset("p", data).images)
    assert appended_from("p", data) == []
    png(tmp_path / "s" / "a" / "1.png", 5)
    import_images("p", tmp_path / "s", opts(append=True, height=None, width=None), root=data)
    clear_cache()
    new_sha = images_sha256(load_dataset("p", data).images)
    assert appended_from("p", data) == [old_sha] != [new_sha]
    meta = {"dataset": "p", "dataset_sha256": old_sha}
    assert dataset_mismatch("ck", meta, "p", lambda: new_sha, partial(appended_from, "p", data)) is None
    assert "another version" in str(dataset_mismatch("ck", meta, "p", lambda: new_sha))
    other = {"dataset": "p", "dataset_sha256": "0" * 64}
    assert "another version" in str(
        dataset_mismatch("ck", other, "p", lambda: new_sha, partial(appended_from, "p", data))
    )
