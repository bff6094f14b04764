"""Held-out user labels (engine/stores/holdout.py) and the wording of accuracies (engine/reports/accuracy.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import from_dict
from engine.datasets import Dataset, dataset_path, save_dataset, synthetic_dataset
from engine.errors import DatasetError
from engine.reports.accuracy import describe_accuracy, wilson_interval
from engine.stores import holdout
from engine.stores.labels import label_store_for
from engine.training.trainer import Trainer
from tests.helpers import tiny_config_dict


def test_held_out_is_a_function_of_the_serial_and_grows_with_the_fraction():
    s = np.arange(20000)
    a, b = holdout.held_out(s, 0.2), holdout.held_out(s, 0.3)
    assert 0.19 < a.mean() < 0.21 and 0.29 < b.mean() < 0.31
    assert not (a & ~b).any()  # raising the fraction only adds
    assert (holdout.held_out(s[::-1], 0.2) == a[::-1]).all()  # per Serial, not per position
    assert not holdout.held_out(s, 0.0).any()
    # a known answer, so a change of the hash (which would move users' held-out labels) fails here
    assert np.flatnonzero(holdout.held_out(np.arange(30), 0.2)).tolist() == KNOWN_HELD_OUT


KNOWN_HELD_OUT = [3, 10, 18, 21]


def test_fraction_file_round_trip_and_bad_values(tmp_path):
    assert holdout.read_fraction(tmp_path) == holdout.DEFAULT_FRACTION
    holdout.write_fraction(tmp_path, 0.3)
    assert holdout.read_fraction(tmp_path) == 0.3
    for bad in (-0.1, 0.9, float("nan"), True):
        with pytest.raises(ValueError):
            holdout.write_fraction(tmp_path, bad)
    assert holdout.read_fraction(tmp_path) == 0.3  # a refused value changes nothing
    for text in ('{"fraction": "a lot"}', "not json", '{"fraction": 2}'):
        (tmp_path / holdout.HOLDOUT_FILE).write_text(text)
        with pytest.raises(DatasetError, match=r"holdout\.json"):
            holdout.read_fraction(tmp_path)


def test_wilson_interval_known_answers():
    lo, hi = wilson_interval(44, 48)  # 91.7%
    assert lo == pytest.approx(0.8046, abs=1e-3) and hi == pytest.approx(0.9672, abs=1e-3)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-3)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_describe_accuracy_names_the_split():
    assert describe_accuracy(44 / 48, 48, "held-out") == "92% ± 11 on 48 held-out labels"
    assert describe_accuracy(0.9712, 10000, "test") == "97.1% on 10000 test images"
    assert describe_accuracy(float("nan"), 0, "held-out") == "n/a (no held-out labels yet)"
    assert describe_accuracy(None, 0, "validation") == "n/a (0 validation images)"


def _no_truth(home, n_test: int = 0) -> Dataset:
    """synth's images with every true class unknown, and no test truth."""
    ds = synthetic_dataset(600, n_test, seed=0) if n_test else synthetic_dataset(600, 1, seed=0)
    targets = ds.targets.copy()
    truth = targets.copy()
    targets[:] = -1
    out = Dataset("mine", ds.images[:600], targets[:600], 600, ds.num_classes, unknown_targets=True)
    save_dataset(out, dataset_path("mine", home / "data"))
    out.truth = truth[:600]  # type: ignore[attr-defined]
    return out


def test_trainer_scores_held_out_labels_and_never_trains_on_them(home):
    ds = _no_truth(home)
    store = label_store_for("mine", 600, 10)
    store.set_many({i: int(ds.truth[i]) for i in range(0, 600, 3)}, source="test")  # 200 labels
    cfg = from_dict({**tiny_config_dict(), "data": {"name": "mine"}})
    from engine.datasets import load_dataset

    tr = Trainer(cfg, load_dataset("mine"), store)
    held = tr.held_out_rows
    assert 25 < len(held) < 60 and tr.n_labels == 200 - len(held)
    assert not np.isin(held, tr._lab_idx).any()
    e = tr.evaluate()
    assert e.split == "held-out" and e.n_test == len(held)
    tr.run(steps=150)
    assert tr.last_eval["split"] == "held-out" and tr.last_eval["test_acc"] > 0.5
    # the fraction file is picked up at the next poll, and the held-out labels follow it
    holdout.write_fraction(home / "data" / "mine", 0.4)
    assert tr.reload_labels()
    assert len(tr.held_out_rows) > len(held) and set(held.tolist()) <= set(tr.held_out_rows.tolist())


def test_a_dataset_with_test_truth_holds_nothing_out(home):
    from engine.datasets import load_dataset, oracle_labels

    ds = load_dataset("synth")
    store = label_store_for("synth", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 5, 0), source="test")
    tr = Trainer(from_dict(tiny_config_dict()), ds, store)
    assert len(tr.held_out_rows) == 0 and tr.n_labels == 50
    assert tr.evaluate().split == "test"


def test_validation_on_a_dataset_without_true_classes_is_refused(home):
    from engine.config import ConfigError
    from engine.datasets import load_dataset

    _no_truth(home)
    store = label_store_for("mine", 600, 10)
    raw = {**tiny_config_dict(), "data": {"name": "mine", "validation": 100}}
    with pytest.raises(ConfigError, match="knows none of them"):
        Trainer(from_dict(raw), load_dataset("mine"), store)
