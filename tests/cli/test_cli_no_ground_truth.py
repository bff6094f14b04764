"""The no-ground-truth path end to end on real images (issue 24, outcome 7): scikit-learn's
handwritten digits in one flat folder (no classes on disk), imported with class names, labelled as
a user would (`label import`), trained, scored on the held-out user labels, and exported with
their class names. benchmarks/bench_real_images.py runs the same path on all 1,797 digits."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentloop.cli import main
from tests.helpers import exit_code

pytestmark = [pytest.mark.slow]

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
IMAGES = 300
PER_CLASS = 15  # 150 user labels: 23 of them held out at the default fraction of one in five


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = exit_code(main, list(argv))
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    return out.out + out.err


def test_flat_digits_imported_labelled_trained_scored_on_held_out_labels_and_exported(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sklearn.datasets import load_digits

    from engine.stores.holdout import DEFAULT_FRACTION, held_out

    digits = load_digits()
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(digits.target))[:IMAGES]
    src = tmp_path / "scans"
    src.mkdir()
    truth = {}
    for j, i in enumerate(rows):  # shuffled names: nothing on disk says the class
        Image.fromarray(np.round(digits.images[i] * (255 / 16)).astype(np.uint8)).save(src / f"scan_{j:03d}.png")
        truth[f"scan_{j:03d}.png"] = int(digits.target[i])

    out = run(capsys, "data", "import", "scans", str(src), "--size", "8", "--classes", ",".join(NAMES),
              "--workers", "1", "--no-progress")  # fmt: skip
    assert f"{IMAGES} new image(s)" in out and f"unlabelled {IMAGES}" in out, out
    with open(home / "data" / "scans" / "sources.csv", newline="") as f:
        path_of = {int(r["Serial"]): r["path"] for r in csv.DictReader(f)}
    classes = np.array([truth[path_of[s]] for s in range(IMAGES)])
    # a user's labels: PER_CLASS images of every class, by Serial (the oracle refuses here: no truth)
    labels = {int(s): c for c in range(10) for s in np.flatnonzero(classes == c)[:PER_CLASS]}
    user = tmp_path / "mine.csv"
    user.write_text("Serial,label\n" + "".join(f"{s},{y}\n" for s, y in sorted(labels.items())))
    run(capsys, "label", "import", str(user), "--dataset", "scans")
    assert exit_code(main, ["label", "seed", "--dataset", "scans", "--per-class", "5"]) == 2
    assert "needs the true class of every image" in capsys.readouterr().err

    out = run(capsys, "train", "--dataset", "scans", "--steps", "800", "--checkpoint", "scans", "--no-progress")
    serials = np.array(sorted(labels))
    n_held = int(held_out(serials, DEFAULT_FRACTION).sum())
    assert 15 <= n_held <= 45
    final = next(line for line in out.splitlines() if "checkpoint" in line and "labels after" in line)
    # "accuracy 87% ± 19 on 23 held-out labels with 127 labels after 800 steps ..." (seed 0, one thread)
    assert f"on {n_held} held-out labels with {len(labels) - n_held} labels after 800 steps" in final, final
    percent = int(final.split("accuracy ")[1].split("%")[0])
    assert percent >= 50, final  # chance is 10%

    exported = tmp_path / "export.csv"
    run(capsys, "label", "export", "--dataset", "scans", "-o", str(exported))
    with open(exported, newline="") as f:
        got = {Path(r["path"]).name: r["label"] for r in csv.DictReader(f)}
    assert got == {path_of[s]: NAMES[y] for s, y in labels.items()}
