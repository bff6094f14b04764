"""The tau classifier's counts, and its temperature (``train.tau_temperature``)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.config import ConfigError, ModelConfig, from_dict
from engine.training.tau import TauClassifier
from tests.helpers import tiny_config_dict


def test_temperature_sharpens_rows_by_the_power_one_over_t() -> None:
    cfg = ModelConfig(components=2, num_classes=2)
    plain, sharp = TauClassifier(cfg), TauClassifier(cfg, temperature=0.5)
    resp = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 1, 1])
    plain.update(resp, labels)
    sharp.update(resp, labels)
    counts = plain.counts
    p = counts / counts.sum(1, keepdims=True)
    want = p**2 / (p**2).sum(1, keepdims=True)
    np.testing.assert_allclose(sharp.matrix, want, rtol=1e-6)
    np.testing.assert_allclose(plain.matrix, p, rtol=1e-6)
    # same counts, same argmax: the temperature never changes which class a component stands for
    assert (sharp.matrix.argmax(1) == plain.matrix.argmax(1)).all()
    assert sharp.matrix.max(1).min() > plain.matrix.max(1).min()


def test_temperature_must_be_positive() -> None:
    raw = tiny_config_dict(tau_temperature=0.0)
    with pytest.raises(ConfigError, match=r"train\.tau_temperature"):
        from_dict(raw)
