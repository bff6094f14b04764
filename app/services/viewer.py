"""The viewer model: a second model instance for reconstructions and MC-dropout predictions.

The trainer's own model belongs to the training thread, so the page asks this one, fed with a copy
of the weights of the map version it shows (set by the refresh pump, loaded lazily on first use).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.config import Config

if TYPE_CHECKING:  # annotations only
    from engine.backends.base import Backend


class ViewerModel:
    """Thread-safe; built on first use from the app's config (``cfg.backend``, ``cfg.model``, ...)."""

    def __init__(self, cfg: Config, images: Callable[[np.ndarray], np.ndarray]) -> None:
        self.cfg = cfg
        self.images = images  # callable: serials -> float images (the dataset's float_images)
        self._backend: Backend | None = None
        self._weights: dict[str, np.ndarray] | None = None
        self._version = -1
        self._loaded = -1
        self._lock = threading.Lock()

    def set_config(self, cfg: Config) -> None:
        """A loaded branch's config: its model may have other auxiliary heads (a new backend then)."""
        with self._lock:
            if cfg.model != self.cfg.model or cfg.backend != self.cfg.backend:
                self._backend = None
                self._loaded = -1
            self.cfg = cfg

    def set_weights(self, weights: dict[str, np.ndarray], version: int) -> None:
        """The weights of map version ``version`` (copied by the caller; loaded when next used)."""
        with self._lock:
            self._weights = weights
            self._version = version

    def _model(self) -> Backend:
        if self._backend is None:
            from engine.backends.registry import create_backend

            c = self.cfg
            self._backend = create_backend(c.backend, c.model, c.device, c.threads)
            self._backend.init(c.seed)
        if self._loaded != self._version and self._weights is not None:
            self._backend.set_weights(self._weights)
            self._loaded = self._version
        return self._backend

    def outputs(self, serials: np.ndarray) -> dict[Any, np.ndarray] | None:
        """Every model output (engine.backends.base.Out) for ``serials``, or None if the model cannot
        give them (no weights yet, a failing backend)."""
        with self._lock:
            try:
                return self._model().predict(self.images(np.asarray(serials)))
            except Exception:
                return None

    def reconstruct(self, serial: int) -> np.ndarray | None:
        """The reconstruction of one sample, or None if the model cannot give one."""
        from engine.backends.base import Out

        out = self.outputs(np.array([serial]))
        return None if out is None else out[Out.RECON][0]

    def decode(self, z: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Images [N, H, W] in [0, 1] decoded from latents ``z`` [N, D] and responsibilities ``q`` [N, K]."""
        with self._lock:
            return self._model().decode(np.asarray(z, np.float32), np.asarray(q, np.float32))

    def prior_means(self) -> np.ndarray | None:
        """The mixture components' prior means [K, D] of the shown version (None before any)."""
        with self._lock:
            if self._weights is None:
                return None
            return np.asarray(self._model().prior_params()[0], np.float32)

    def mc_probs(self, serials: np.ndarray, n: int = 10) -> np.ndarray:
        """``n`` MC-dropout passes of class probabilities for ``serials`` ([n, len, C])."""
        with self._lock:
            return self._model().predict_mc(self.images(serials), n, seed=self.cfg.seed)
