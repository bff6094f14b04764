"""`latentloop data synth --colour / --size / --height / --width` and `latentloop data patches`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import shapes
from latentloop.cli import main
from tests.helpers import exit_code


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LATENTLOOP_HOME", str(tmp_path))
    datasets.clear_cache()
    return tmp_path


def run(home: Path, *argv: str) -> int:
    return exit_code(main, ["--home", str(home), *argv])


def test_synth_colour_writes_shapes_with_factors(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "data", "synth", "shapes", "--colour", "--n-train", "48", "--n-test", "12") == 0
    out = capsys.readouterr().out
    assert "60 colour-shape images 32x32x3 (npz), 48 train, 12 test, 12 classes, factors shape, hue" in out
    ds = datasets.load_dataset("shapes")
    assert ds.image_shape == (32, 32, 3) and ds.num_classes == 12 and set(ds.factors) == set(shapes.FACTORS)
    np.testing.assert_array_equal(ds.images, shapes.shapes_dataset(48, 12).images)
    # --rgb is the same option; non-square, plain background, memory-mapped: the same rows and factors
    argv = ["--n-train", "48", "--n-test", "12", "--height", "24", "--width", "40", "--background", "plain"]
    assert run(home, "data", "synth", "wide", "--rgb", *argv, "--num-classes", "8", "--layout", "npy") == 0
    assert run(home, "data", "synth", "wide2", "--rgb", *argv, "--num-classes", "8") == 0
    capsys.readouterr()
    wide, wide2 = datasets.load_dataset("wide"), datasets.load_dataset("wide2")
    assert wide.image_shape == (24, 40, 3) and wide.num_classes == 8
    np.testing.assert_array_equal(wide.images, wide2.images)
    np.testing.assert_array_equal(wide.factors["hue"], wide2.factors["hue"])
    assert run(home, "data", "info", "--dataset", "wide") == 0
    out = capsys.readouterr().out
    assert "60 x 24x40x3 uint8" in out and "factors   hue, rotation, scale, shape, x, y" in out


def test_synth_gray_sizes(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "data", "synth", "g", "--n-train", "20", "--n-test", "0", "--height", "16", "--width", "24") == 0
    assert "20 synthetic images 16x24 (npz)" in capsys.readouterr().out
    assert datasets.load_dataset("g").images.shape == (20, 16, 24)
    assert run(home, "data", "synth", "s", "--n-train", "20", "--n-test", "0", "--size", "32") == 0
    assert datasets.load_dataset("s").images.shape == (20, 32, 32)
    capsys.readouterr()
    assert run(home, "data", "info", "--dataset", "s", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["image_shape"] == [32, 32] and info["factors"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["synth", "x", "--size", "30"], "argument --size: an image side must be a multiple of 4 from 8 to 256"),
        (["synth", "x", "--colour", "--size", "4"], "argument --size: an image side must be a multiple of 4"),
        (["synth", "x", "--width", "260"], "argument --width: an image side must be a multiple of 4"),
        (["synth", "x", "--height", "ten"], "argument --height: expected a whole number, got 'ten'"),
        (["synth", "x", "--size", "32", "--height", "16"], "give --size, or --height and --width, not both"),
        (["synth", "x", "--colour", "--num-classes", "25"], "--colour makes 2 to 24 classes, got 25"),
        (["synth", "x", "--num-classes", "1"], "at least 2 classes, got 1"),
        (["synth", "x", "--background", "plain"], "--background is an option of --colour"),
        (["synth", "x", "--colour", "--background", "stripes"], "argument --background: invalid choice"),
        (["patches", "x", "--size", "33"], "argument --size: an image side must be a multiple of 4"),
    ],
)
def test_bad_values_are_usage_errors(home: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str) -> None:
    assert run(home, "data", *argv) == 2
    err = capsys.readouterr().err
    assert "usage: latentloop data" in err and message in err, err
    assert not (home / "data" / "x").exists()


def test_patches_command(home: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("skimage")
    assert run(home, "data", "patches", "photos", "--height", "16", "--width", "24") == 0
    cap = capsys.readouterr()
    assert "photo patches 16x24x3 (npz)" in cap.out and "11 classes (astronaut, chelsea" in cap.out
    assert "astronaut:" in cap.err  # the per-photo counts go to stderr
    ds = datasets.load_dataset("photos")
    assert ds.image_shape == (16, 24, 3) and ds.num_classes == 11 and set(ds.factors) == {"x", "y"}
    assert run(home, "data", "patches", "photos") == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
