"""EmbeddingCache: the model's view of every sample, one immutable version per refresh.

Each version holds the latent means, class probabilities and component responsibilities from the
trainer, the 2-D map coordinates from one persistent :class:`~engine.analysis.projection.Projector` (so the
map keeps its orientation from version to version), and the small per-point arrays every colour
mode needs, computed once here so the browser can switch modes without asking the server.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.analysis.projection import Projector

COLOUR_MODES = ("label", "pred", "true", "certainty", "component", "quality", "probe")
COLOUR_MODE_NAMES = {
    "label": "User label",
    "pred": "Predicted",
    "true": "True class",
    "certainty": "Certainty",
    "component": "Component",
    "quality": "Label quality",
    "probe": "Probe",  # a probe's target or prediction (app/services/probes.py)
}


@dataclass(frozen=True)
class MapVersion:
    """Everything the dashboard shows for one embedding version (arrays are read-only)."""

    version: int  # app-level map version (1, 2, ...), bumped on every refresh
    step: int  # training step of the weights
    trained: bool  # False: the weights are an untrained initialisation
    n_train: int
    xy: np.ndarray  # float32 [M, 2], normalised to about [-1, 1]; M map rows (== Serials)
    probs: np.ndarray  # float32 [N, C] for every dataset row
    mu: np.ndarray  # float32 [N, D]
    resp: np.ndarray  # float32 [N, K]
    pred: np.ndarray  # uint8/uint16 [M] predicted class
    certainty: np.ndarray  # uint8 [M], max probability in percent
    component: np.ndarray  # uint8/uint16 [M] most responsible mixture component
    true: np.ndarray  # uint8/uint16 [M] ground truth (0 where unknown: see true_known)
    created: float = field(default_factory=time.time)
    true_known: np.ndarray | None = None  # bool [M]: which rows have a true class; None: every row

    def truth_or(self, labels: np.ndarray | None) -> np.ndarray:
        """int64 [M]: the true class, or where the dataset does not know it the user's label in
        ``labels`` (-1: neither), so nothing reads a -1 target as a class."""
        ref = self.true.astype(np.int64)
        if self.true_known is None:
            return ref
        lab = np.full(len(ref), -1, np.int64)
        if labels is not None:
            m = min(len(ref), len(labels))
            lab[:m] = np.asarray(labels)[:m]
        return np.where(self.true_known, ref, lab)

    @property
    def n_points(self) -> int:
        return int(self.xy.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.probs.shape[1])

    @property
    def components(self) -> int:
        return int(self.resp.shape[1])


def _small_int(a: np.ndarray) -> np.ndarray:
    """uint8 when it fits (1 byte per point in the browser), else uint16."""
    a = np.asarray(a)
    return a.astype(np.uint8 if a.size == 0 or int(a.max()) < 256 else np.uint16)


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


class EmbeddingCache:
    """Versioned embeddings for a dataset; ``current`` is replaced atomically on :meth:`update`.

    ``n_points``: map rows, the first ``n_points`` dataset rows (training split, or all rows).
    """

    def __init__(self, targets: np.ndarray, n_train: int, n_points: int, seed: int = 0) -> None:
        self.targets = np.asarray(targets)
        self.n_train = int(n_train)
        self.n_points = int(n_points)
        self.projector = Projector(seed=seed)
        self._lock = threading.Lock()
        self._current: MapVersion | None = None
        self._derived: dict[tuple[int, str], Any] = {}  # per-version payloads built on demand

    @property
    def current(self) -> MapVersion | None:
        return self._current

    @property
    def version(self) -> int:
        cur = self._current
        return cur.version if cur else 0

    def update(self, mu: np.ndarray, probs: np.ndarray, resp: np.ndarray, step: int, trained: bool) -> MapVersion:
        """Add a version from the trainer's outputs for every dataset row; returns it."""
        mu = np.asarray(mu, np.float32)
        probs = np.asarray(probs, np.float32)
        resp = np.asarray(resp, np.float32)
        m = self.n_points
        with self._lock:
            # Fit on the map rows so the layout is about the points the user sees.
            xy = self._normalise(self.projector.fit_transform(mu[:m]))
            pred = _small_int(probs[:m].argmax(1))
            cert = np.rint(probs[:m].max(1) * 100).astype(np.uint8)
            comp = _small_int(resp[:m].argmax(1))
            targets = self.targets[:m]
            known = None if bool((targets >= 0).all()) else targets >= 0  # unknown targets (an import)
            true = _small_int(np.maximum(targets, 0))
            xy = np.ascontiguousarray(xy, np.float32)
            _readonly(xy, pred, cert, comp, true, mu, probs, resp, *([] if known is None else [known]))
            v = MapVersion(
                self.version + 1, int(step), bool(trained), self.n_train, xy, probs, mu, resp, pred, cert, comp, true,
                true_known=known,
            )  # fmt: skip
            self._current = v
            self._derived = {k: val for k, val in self._derived.items() if k[0] == v.version}
            return v

    def reproject(self, base: MapVersion, xy: np.ndarray) -> MapVersion:
        """Publish ``base``'s model outputs with other map coordinates (a UMAP map, or the PCA one
        again) as a new version, so every tab redraws as for a refresh."""
        xy = np.ascontiguousarray(xy, np.float32)
        if xy.shape != base.xy.shape:
            raise ValueError(f"map coordinates {xy.shape}, expected {base.xy.shape}")
        _readonly(xy)
        with self._lock:
            v = dataclasses.replace(base, version=self.version + 1, xy=xy, created=time.time())
            self._current = v
            self._derived = {}
            return v

    @staticmethod
    def _normalise(raw: np.ndarray) -> np.ndarray:
        # The projector keeps the orientation (rotation/reflection aligned to the previous map).
        # Its least-squares scale shrinks the map when the latent space reorganises (early
        # training), so centre and scale are re-fitted for display: uniform, so the orientation
        # and the shape of the map are untouched.
        if not len(raw):
            return raw.astype(np.float32)
        lo, hi = np.percentile(raw, [1.0, 99.0], axis=0)
        half = float(np.max(hi - lo)) / 2.0
        return ((raw - (lo + hi) / 2.0) / (half if half > 0 else 1.0)).astype(np.float32)

    def derived(self, key: str, version: MapVersion, build: Callable[[MapVersion], Any]) -> Any:
        """Memoise ``build(version)`` per (version, key): payloads are built once, not per client."""
        k = (version.version, key)
        with self._lock:
            hit = self._derived.get(k)
        if hit is not None:
            return hit
        value = build(version)
        with self._lock:
            if self._current is not None and self._current.version == version.version:
                self._derived[k] = value
        return value
