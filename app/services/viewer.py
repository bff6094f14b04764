"""The viewer model: a second model instance for reconstructions and MC-dropout predictions.

The trainer's own model belongs to the training thread, so the page asks this one, fed with a copy
of the weights of the map version it shows (set by the refresh pump, loaded lazily on first use).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np


class ViewerModel:
    """Thread-safe; built on first use from the app's config (``cfg.backend``, ``cfg.model``, ...)."""

    def __init__(self, cfg: Any, images: Any) -> None:
        self.cfg = cfg
        self.images = images  # callable: serials -> float images (the dataset's float_images)
        self._backend: Any = None
        self._weights: dict[str, np.ndarray] | None = None
        self._version = -1
        self._loaded = -1
        self._lock = threading.Lock()

    def set_weights(self, weights: dict[str, np.ndarray], version: int) -> None:
        """The weights of map version ``version`` (copied by the caller; loaded when next used)."""
        with self._lock:
            self._weights = weights
            self._version = version

    def _model(self) -> Any:
        if self._backend is None:
            from engine.backends.base import create_backend

            c = self.cfg
            self._backend = create_backend(c.backend, c.model, c.device, c.threads)
            self._backend.init(c.seed)
        if self._loaded != self._version and self._weights is not None:
            self._backend.set_weights(self._weights)
            self._loaded = self._version
        return self._backend

    def reconstruct(self, serial: int) -> np.ndarray | None:
        """The reconstruction of one sample, or None if the model cannot give one."""
        from engine.backends.base import Out

        with self._lock:
            try:
                out = self._model().predict(self.images(np.array([serial])))
            except Exception:
                return None
        return out[Out.RECON][0]

    def mc_probs(self, serials: np.ndarray, n: int = 10) -> np.ndarray:
        """``n`` MC-dropout passes of class probabilities for ``serials`` ([n, len, C])."""
        with self._lock:
            return self._model().predict_mc(self.images(serials), n, seed=self.cfg.seed)
