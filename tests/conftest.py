"""Shared fixtures: a tiny synthetic dataset in a temporary project directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TINY_MODEL = {
    "latent_dim": 8,
    "components": 10,
    "num_classes": 10,
    "enc_channels": [8, 16],
    "hidden": 64,
    "dropout": 0.1,
}


def tiny_config_dict(**train) -> dict:
    """A config small enough for tests: tiny model, short curriculum, synthetic data."""
    t = {
        "steps": 150,
        "batch_unlabeled": 32,
        "batch_labeled": 16,
        "log_every": 10,
        "eval_every": 50,
        "tau_every": 10,
        "snapshot_every_s": 0.0,
    }
    t.update(train)
    return {
        "seed": 0,
        "data": {"name": "synth"},
        "model": dict(TINY_MODEL),
        "curriculum": {"warmup_steps": 10, "anneal_steps": 30},
        "train": t,
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with data/synth/synth.npz (600 train + 200 test) as LATENTLOOP_HOME."""
    from engine.datasets import dataset_path, save_dataset, synthetic_dataset

    monkeypatch.setenv("LATENTLOOP_HOME", str(tmp_path))
    save_dataset(synthetic_dataset(600, 200, seed=0), dataset_path("synth", tmp_path / "data"))
    return tmp_path


@pytest.fixture
def tiny_cfg(home: Path):
    from engine.config import from_dict

    return from_dict(tiny_config_dict())
