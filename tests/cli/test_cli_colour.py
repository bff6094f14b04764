"""The model commands on a colour, non-square dataset (issue 23): train, infer, label issues,
experiment and simulate on RGB 24x32 images; a config or a checkpoint of another image shape is
refused, naming both shapes, and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from latentloop.cli import main
from tests.helpers import rgb_config_dict, rgb_dataset, tree_bytes

pytest.importorskip("torch")


@pytest.fixture
def rgb_cfg(home: Path) -> Path:
    """data/rgb (120 + 40 RGB images of 24x32, 4 classes) and a config file whose model fits it."""
    from engine.datasets import dataset_path, save_dataset

    save_dataset(rgb_dataset(), dataset_path("rgb", home / "data"))
    p = home / "rgb.yaml"
    p.write_text(yaml.safe_dump(rgb_config_dict(steps=20, eval_every=10)))
    return p


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_infer_and_label_issues_on_colour(home, rgb_cfg, capsys):
    assert run(capsys, "label", "seed", "--dataset", "rgb", "--per-class", "3")[0] == 0
    code, out, err = run(capsys, "train", "-c", str(rgb_cfg), "--no-progress")
    assert code == 0, err
    assert "test accuracy" in out and "12 labels" in out
    meta = json.loads((home / "artifacts/checkpoints/ssvae.ckpt/meta.json").read_text())
    assert meta["model"]["image_shape"] == [24, 32, 3] and meta["dataset"] == "rgb" and meta["step"] == 20

    code, out, err = run(capsys, "infer", "-c", str(rgb_cfg))
    assert code == 0, err
    import pandas as pd

    df = pd.read_csv(home / "artifacts/predictions/rgb-ssvae.csv")
    assert len(df) == 160 and set(df["predicted"]) <= {0, 1, 2, 3} and df["label"].notna().sum() == 12
    # without -c: the checkpoint's own config (its image shape) reads the dataset
    code, _, err = run(capsys, "infer", "--dataset", "rgb", "--format", "npz")
    assert code == 0, err
    assert (home / "artifacts/predictions/rgb-ssvae.npz").exists()

    code, out, err = run(capsys, "label", "issues", "--dataset", "rgb", "-c", str(rgb_cfg), "--all", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["labelled"] == 12


def test_a_config_of_another_image_shape_is_refused_naming_both(home, rgb_cfg, capsys):
    raw = rgb_config_dict(height=32, width=24)  # the transposed shape
    bad = home / "tall.yaml"
    bad.write_text(yaml.safe_dump(raw))
    before = tree_bytes(home / "data")
    code, _, err = run(capsys, "train", "-c", str(bad), "--no-progress")
    assert code == 2
    assert "images of shape [24, 32, 3]" in err and "model.image_shape is [32, 24, 3]" in err and "'rgb'" in err
    assert not (home / "artifacts/checkpoints").exists() or not any((home / "artifacts/checkpoints").iterdir())
    assert tree_bytes(home / "data") == before


def test_a_checkpoint_of_another_image_shape_is_refused_naming_both(home, rgb_cfg, capsys):
    assert run(capsys, "train", "-c", str(rgb_cfg), "--no-progress", "--steps", "3")[0] == 0
    for force in ([], ["--force"]):
        for command in ("infer", "suggest"):
            code, _, err = run(capsys, command, "--dataset", "synth", *force)
            assert code == 2, err
            assert "checkpoint 'ssvae' was trained on images of shape [24, 32, 3]" in err
            assert "dataset 'synth' has images of shape [28, 28, 1]" in err
        code, _, err = run(capsys, "train", "--dataset", "synth", "--resume", "--no-progress", *force)
        assert code == 2 and "[24, 32, 3]" in err and "[28, 28, 1]" in err
    assert not (home / "artifacts/predictions").exists()
    assert json.loads((home / "artifacts/checkpoints/ssvae.ckpt/meta.json").read_text())["step"] == 3


def test_a_dataset_rewritten_at_another_shape_is_refused_by_its_checkpoint(home, rgb_cfg, capsys):
    """The same name, other images: the shape is named, not just the other hash (and --force
    does not get past it)."""
    from engine.datasets import clear_cache, dataset_path, save_dataset, synthetic_dataset

    raw = rgb_config_dict(steps=3)
    raw["tasks"] = [{"name": "cls", "kind": "classification", "input": "z"}]
    cfg = home / "tasks.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    assert run(capsys, "train", "-c", str(cfg), "--no-progress")[0] == 0
    save_dataset(synthetic_dataset(120, 40, size=16, num_classes=4, name="rgb"), dataset_path("rgb", home / "data"))
    clear_cache()
    for argv in (
        ["infer"],
        ["infer", "--force"],
        ["probe", "--checkpoint", "ssvae"],
        ["probe", "--checkpoint", "ssvae", "--force"],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 2, err
        assert "images of shape [24, 32, 3]" in err and "dataset 'rgb' has images of shape [16, 16, 1]" in err
    assert not (home / "artifacts/predictions").exists() and not (home / "artifacts/probes").exists()


def test_experiment_and_simulate_on_colour(home, rgb_cfg, capsys):
    argv = ["experiment", "-c", str(rgb_cfg), "--name", "c", "--labels-per-class", "2", "--no-progress"]
    code, _, err = run(capsys, *argv)
    assert code == 0, err
    run_dir = next((home / "artifacts/experiments").glob("c-*"))
    assert "labels: 8" in (run_dir / "REPORT.md").read_text()
    import numpy as np

    with np.load(run_dir / "report.npz") as a:
        assert a["gallery_images"].shape[1:] == (24, 32, 3)
    from matplotlib.image import imread

    gallery = imread(run_dir / "components.png")[..., :3]
    assert (np.abs(gallery[..., 0] - gallery[..., 1]) > 0.3).any()  # drawn in colour

    out_dir = home / "sim"
    args = ["simulate", "-c", str(rgb_cfg), "-s", "entropy", "--seed-labels", "8", "--per-round", "4"]
    args += ["--rounds", "1", "--first-steps", "10", "--round-steps", "5", "--out", str(out_dir)]
    code, _, err = run(capsys, *args)
    assert code == 0, err
    import pandas as pd

    assert list(pd.read_csv(out_dir / "curve.csv")["labels"]) == [8, 12]
