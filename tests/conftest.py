"""Shared fixtures: a tiny synthetic dataset in a temporary project directory (helpers: tests/helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import tiny_config_dict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


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
