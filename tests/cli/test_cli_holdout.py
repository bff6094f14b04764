"""`latentloop label holdout [FRACTION]`: the held-out labels of a dataset without test truth, seen
and set from the CLI; a dataset with test truth says why nothing is held out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.datasets import Dataset, dataset_path, save_dataset, synthetic_dataset
from engine.stores import holdout
from engine.stores.labels import label_store_for
from latentloop.cli import main
from tests.helpers import exit_code


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = exit_code(main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def no_truth(home: Path) -> np.ndarray:
    """A 300-image dataset "mine" with every class unknown, no test split, 100 labels."""
    src = synthetic_dataset(300, 1, seed=0)
    ds = Dataset("mine", src.images[:300], np.full(300, -1, np.int64), 300, 10, unknown_targets=True)
    save_dataset(ds, dataset_path("mine", home / "data"))
    labels = {int(s): int(src.targets[s]) for s in range(0, 300, 3)}
    label_store_for("mine", 300, 10).set_many(labels, source="test")
    return np.array(sorted(labels))


def test_show_and_set_the_fraction(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serials = no_truth(home)
    held = int(holdout.held_out(serials, 0.2).sum())
    code, out = run(capsys, "label", "holdout", "--dataset", "mine")
    assert code == 0, out
    assert "held-out fraction 0.2 (default, no holdout.json)" in out
    assert f"{held} of 100 label(s) held out, never trained on" in out and "holdout.py" in out
    code, out = run(capsys, "label", "holdout", "30%", "--dataset", "mine")
    assert code == 0, out
    assert "held-out fraction 0.2 -> 0.3" in out and "holdout.json" in out
    assert f"{int(holdout.held_out(serials, 0.3).sum())} of 100 label(s)" in out
    assert holdout.read_fraction(home / "data" / "mine") == 0.3


@pytest.mark.parametrize(("value", "says"), [("lots", "is not a number"), ("0.7", "outside 0..0.5"), ("-1", "outside")])
def test_a_bad_fraction_is_refused_and_changes_nothing(home: Path, capsys, value: str, says: str) -> None:
    no_truth(home)
    code, out = run(capsys, "label", "holdout", "--dataset", "mine", "--", value)
    assert code == 2 and says in out and "Traceback" not in out
    assert not holdout.holdout_path(home / "data" / "mine").exists()


def test_a_dataset_with_test_truth_holds_nothing_out(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(capsys, "label", "holdout", "--dataset", "synth")
    assert code == 0 and "no labels are held out" in out and "200 image(s) with a true class" in out
    code, out = run(capsys, "label", "holdout", "0.3", "--dataset", "synth")
    assert code == 2 and "no fraction to set" in out
    assert not holdout.holdout_path(home / "data" / "synth").exists()
