"""The tau classifier: a [K, C] matrix mapping mixture components to classes.

tau[c, y] = normalised (prior + sum over labelled samples of q(c|x) * [label == y]) ** (1 / T),
with the temperature T (``train.tau_temperature``, 1 = the plain counts; below 1 sharpens each
component's row towards its majority class).
The counts are trainer state and are saved with every checkpoint: without them a reloaded
model would predict through the prior alone (the reference's collapse-to-one-class bug).
"""

from __future__ import annotations

import numpy as np

from engine.backends.base import initial_tau
from engine.config import ModelConfig


class TauClassifier:
    def __init__(self, cfg: ModelConfig, prior: float = 1.0, temperature: float = 1.0) -> None:
        self.temperature = temperature
        self.prior_counts = initial_tau(cfg).astype(np.float64) * prior
        # a small floor everywhere so an unused component predicts near-uniformly, not NaN
        self.prior_counts += 1e-3
        self.counts = self.prior_counts.copy()

    def update(self, resp: np.ndarray, labels: np.ndarray) -> None:
        """Recompute counts from the responsibilities [n, K] of all labelled samples."""
        onehot = np.zeros((len(labels), self.counts.shape[1]))
        onehot[np.arange(len(labels)), labels] = 1.0
        self.counts = self.prior_counts + resp.astype(np.float64).T @ onehot

    @property
    def matrix(self) -> np.ndarray:
        p = self.counts / self.counts.sum(1, keepdims=True)
        if self.temperature != 1.0:
            p = p ** (1.0 / self.temperature)
            p /= p.sum(1, keepdims=True)
        return p.astype(np.float32)

    def predict_hard(self, resp: np.ndarray) -> np.ndarray:
        """Class of each sample's most responsible component (the 'tau accuracy' route)."""
        return self.matrix.argmax(1)[resp.argmax(1)]
