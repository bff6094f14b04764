"""Same seed, backend and thread count: the same run, to the last digit that matters (1e-6).

A result that moves when nothing was changed cannot be compared with anything, so every seed a
run draws from (oracle labels, initial weights, batches, dropout, augmentation) must come from
the config's ``seed``. Synthetic data keeps these runs to seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from engine import events as ev
from engine.config import from_dict
from engine.datasets import load_dataset, oracle_labels
from engine.stores.labels import LabelStore
from engine.training.trainer import Trainer
from tests.helpers import ROOT, tiny_config_dict


def _train(home: Path, backend: str, seed: int, tag: str) -> tuple[dict[str, Any], list[dict[str, float]]]:
    raw = tiny_config_dict(steps=60, eval_every=30)
    raw.update(backend=backend, seed=seed, threads=1)
    cfg = from_dict(raw)
    ds = load_dataset("synth")
    labels = LabelStore(home / f"labels-{tag}.csv", ds.n_train, ds.num_classes)
    labels.set_many(oracle_labels(ds, 3, seed), source="oracle")
    tr = Trainer(cfg, ds, labels)
    losses: list[dict[str, float]] = []
    tr.listeners.append(lambda e: losses.append(dict(e.losses)) if isinstance(e, ev.Metrics) else None)
    return tr.run(), losses


@pytest.mark.parametrize("backend", ["torch", "tensorflow", "jax"])
def test_same_seed_same_run(home: Path, backend: str) -> None:
    a, losses_a = _train(home, backend, 3, "a")
    b, losses_b = _train(home, backend, 3, "b")
    assert abs(a["test_acc"] - b["test_acc"]) <= 1e-6 and abs(a["tau_acc"] - b["tau_acc"]) <= 1e-6
    assert len(losses_a) == len(losses_b) > 0
    for la, lb in zip(losses_a, losses_b, strict=True):
        assert la.keys() == lb.keys()
        np.testing.assert_allclose([la[k] for k in la], [lb[k] for k in la], rtol=0, atol=1e-6)


def test_another_seed_is_another_run(home: Path) -> None:
    """The check above could pass because nothing depends on the seed; it does."""
    _, losses_a = _train(home, "torch", 3, "a")
    _, losses_b = _train(home, "torch", 4, "b")
    assert losses_a[-1]["loss"] != losses_b[-1]["loss"]


def test_experiment_runs_repeat_across_processes(home: Path) -> None:
    """What benchmarks/bench_accuracy.py relies on: `latentloop experiment` in two fresh processes."""
    cfg = home / "tiny.yaml"
    raw = tiny_config_dict(steps=40, eval_every=20)
    raw["threads"] = 1
    cfg.write_text(yaml.safe_dump(raw))
    accs = []
    for name in ("one", "two"):
        cmd = [sys.executable, "-m", "latentloop", "--home", str(home), "experiment", "-c", str(cfg), "--seed", "5",
               "--labels-per-class", "3", "--name", name, "--no-progress"]  # fmt: skip
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr
        (run_dir,) = (home / "artifacts" / "experiments").glob(f"{name}-*")
        accs.append(json.loads((run_dir / "metrics.json").read_text()))
    assert abs(accs[0]["test_acc"] - accs[1]["test_acc"]) <= 1e-6
    assert accs[0]["evaluations"] == accs[1]["evaluations"]
