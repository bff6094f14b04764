"""2-D map of the latent means that keeps its orientation between refreshes.

PCA gives a fresh basis each time the latent space changes, with arbitrary signs and order of
axes, so a naive re-projection makes the whole map flip or spin while the user is looking at it.
:class:`Projector` therefore aligns every new projection to the previous one with an orthogonal
Procrustes fit (rotation/reflection + uniform scale + translation) on the samples both share.
Pure numpy.
"""

from __future__ import annotations

import numpy as np

from engine.errors import LatentLoopError

__all__ = ["ProjectionError", "Projector", "align_procrustes", "normalise_for_plot"]


class ProjectionError(LatentLoopError, ValueError):
    """Bad projection input or state."""


def align_procrustes(src: np.ndarray, dst: np.ndarray, scale: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity transform mapping ``src [M, d]`` onto ``dst [M, d]`` in the least-squares sense.

    Returns ``(s, R, t)`` with ``R`` orthogonal (reflections allowed) such that
    ``s * src @ R + t`` ~ ``dst``. Degenerate input (all ``src`` rows equal) gives ``s = 1``.
    """
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ProjectionError(f"src and dst must have the same [M, d] shape, got {a.shape}, {b.shape}")
    d = a.shape[1]
    if a.shape[0] == 0:
        return 1.0, np.eye(d), np.zeros(d)
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    u, sig, vt = np.linalg.svd(ac.T @ bc)
    r = u @ vt
    norm = float(np.sum(ac * ac))
    s = float(sig.sum() / norm) if scale and norm > 0 else 1.0
    return s, r, mb - s * (ma @ r)


def normalise_for_plot(xy: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> np.ndarray:
    """Centre and scale ``xy [N, 2]`` into roughly [-1, 1] using the ``lo``/``hi`` percentiles.

    Percentiles instead of min/max so a few outliers do not squash the map; one scale for both
    axes so the aspect ratio (and hence distances) is preserved. Returns float32.
    """
    arr = np.asarray(xy, dtype=np.float64)
    if arr.ndim != 2:
        raise ProjectionError(f"xy must have shape [N, 2], got {arr.shape}")
    if arr.shape[0] == 0:
        return arr.astype(np.float32)
    p_lo, p_hi = np.percentile(arr, [lo, hi], axis=0)
    half = float(np.max(p_hi - p_lo)) / 2.0
    return ((arr - (p_lo + p_hi) / 2.0) / (half if half > 0 else 1.0)).astype(np.float32)


class Projector:
    """PCA to 2-D, Procrustes-aligned to the previous call so the map keeps its orientation.

    ``seed`` fixes the PCA subsample; ``max_fit_rows`` bounds the rows the SVD sees (all rows are
    projected). Deterministic: the same inputs in the same order give the same coordinates.
    """

    def __init__(self, seed: int = 0, max_fit_rows: int = 10_000) -> None:
        if max_fit_rows < 2:
            raise ProjectionError(f"max_fit_rows must be >= 2, got {max_fit_rows}")
        self.seed = int(seed)
        self.max_fit_rows = int(max_fit_rows)
        self.reset()

    def reset(self) -> None:
        """Forget the previous map: the next call starts a fresh orientation."""
        self._mean: np.ndarray | None = None  # [D]
        self._components: np.ndarray | None = None  # [2, D], rows = principal axes
        self._scale = 1.0
        self._rotation = np.eye(2)
        self._translation = np.zeros(2)
        self._prev_xy: np.ndarray | None = None  # [M, 2] float64, last output
        self._prev_ids: np.ndarray | None = None  # [M] int64, sample ids of _prev_xy

    @property
    def fitted(self) -> bool:
        return self._components is not None

    # -- fitting -------------------------------------------------------------------------------

    def _check_mu(self, mu: np.ndarray) -> np.ndarray:
        arr = np.asarray(mu, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise ProjectionError(f"mu must have shape [N, D] with D >= 1, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ProjectionError("mu contains NaN or infinite values")
        return arr

    def _pca(self, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and top-2 principal axes from a seeded subsample (the SVD is the slow part)."""
        n, d = mu.shape
        if n > self.max_fit_rows:
            rows = np.sort(np.random.default_rng(self.seed).choice(n, self.max_fit_rows, replace=False))
            sub = mu[rows]
        else:
            sub = mu
        mean = sub.mean(axis=0)
        _, _, vt = np.linalg.svd(sub - mean, full_matrices=False)
        comps = np.zeros((2, d))
        m = min(2, vt.shape[0])
        comps[:m] = vt[:m]  # D == 1 or a single row: the missing axis stays 0
        # SVD signs are arbitrary; fix them (largest loading positive) so the first map is stable.
        for i in range(m):
            j = int(np.argmax(np.abs(comps[i])))
            if comps[i, j] < 0:
                comps[i] = -comps[i]
        return mean, comps

    def fit_transform(self, mu: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Refit PCA on ``mu [N, D]`` and return float32 ``[N, 2]`` coordinates.

        ``ids`` (default ``arange(N)``): unique sample ids of the rows, e.g. dataset indices.
        From the second call on, the coordinates are aligned (rotation/reflection, uniform scale,
        translation) to the previous output over the ids both calls share; with fewer than 3
        shared samples there is nothing reliable to align to and the raw PCA map is returned.
        """
        arr = self._check_mu(mu)
        n = arr.shape[0]
        id_arr = self._check_ids(ids, n)
        if n == 0:
            return np.zeros((0, 2), np.float32)
        mean, comps = self._pca(arr)
        raw = (arr - mean) @ comps.T
        s, r, t = 1.0, np.eye(2), np.zeros(2)
        if self._prev_xy is not None and self._prev_ids is not None:
            if np.array_equal(self._prev_ids, id_arr):  # the usual refresh: same samples, same order
                src, dst = raw, self._prev_xy
            else:
                _, i_new, i_old = np.intersect1d(id_arr, self._prev_ids, assume_unique=True, return_indices=True)
                src, dst = raw[i_new], self._prev_xy[i_old]
            if src.shape[0] >= 3:
                s, r, t = align_procrustes(src, dst)
        self._mean, self._components = mean, comps
        self._scale, self._rotation, self._translation = s, r, t
        xy = s * (raw @ r) + t
        self._prev_xy, self._prev_ids = xy, id_arr
        return xy.astype(np.float32)

    def transform(self, mu: np.ndarray) -> np.ndarray:
        """Project extra rows with the last fitted map (no refit, no change of state)."""
        if self._components is None or self._mean is None:
            raise ProjectionError("Projector.transform called before fit_transform")
        arr = self._check_mu(mu)
        if arr.shape[1] != self._mean.shape[0]:
            raise ProjectionError(f"mu has D={arr.shape[1]}, the map was fitted with D={self._mean.shape[0]}")
        raw = (arr - self._mean) @ self._components.T
        return (self._scale * (raw @ self._rotation) + self._translation).astype(np.float32)

    @staticmethod
    def _check_ids(ids: np.ndarray | None, n: int) -> np.ndarray:
        if ids is None:
            return np.arange(n, dtype=np.int64)
        arr = np.asarray(ids)
        if arr.shape != (n,) or not (np.issubdtype(arr.dtype, np.integer) or n == 0):
            raise ProjectionError(f"ids must be {n} integers (one per row of mu), got shape {arr.shape}")
        arr = arr.astype(np.int64)
        if np.unique(arr).size != n:
            raise ProjectionError("ids must be unique")
        return arr

    # -- persistence ---------------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """The map's state as numpy arrays (safetensors/npz-friendly); empty arrays when unfitted."""
        fitted = self._components is not None
        return {
            "seed": np.asarray(self.seed, dtype=np.int64),
            "max_fit_rows": np.asarray(self.max_fit_rows, dtype=np.int64),
            "mean": self._mean.copy() if fitted else np.zeros(0),  # type: ignore[union-attr]
            "components": self._components.copy() if fitted else np.zeros((0, 0)),  # type: ignore[union-attr]
            "scale": np.asarray(self._scale, dtype=np.float64),
            "rotation": self._rotation.copy(),
            "translation": self._translation.copy(),
            "prev_xy": self._prev_xy.copy() if self._prev_xy is not None else np.zeros((0, 2)),
            "prev_ids": self._prev_ids.copy() if self._prev_ids is not None else np.zeros(0, np.int64),
        }

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state_dict`, so the next refresh continues the saved orientation."""
        keys = {"seed", "max_fit_rows", "mean", "components", "scale", "rotation", "translation", "prev_xy", "prev_ids"}
        missing = keys - set(state)
        if missing:
            raise ProjectionError(f"projector state is missing {sorted(missing)}")
        mean = np.asarray(state["mean"], dtype=np.float64)
        comps = np.asarray(state["components"], dtype=np.float64)
        rot = np.asarray(state["rotation"], dtype=np.float64)
        trans = np.asarray(state["translation"], dtype=np.float64)
        prev_xy = np.asarray(state["prev_xy"], dtype=np.float64)
        prev_ids = np.asarray(state["prev_ids"]).astype(np.int64)
        fitted = mean.size > 0
        if fitted and (comps.shape != (2, mean.shape[0]) or mean.ndim != 1):
            raise ProjectionError(f"projector state: components {comps.shape} do not match mean {mean.shape}")
        if rot.shape != (2, 2) or trans.shape != (2,):
            raise ProjectionError("projector state: rotation must be [2, 2] and translation [2]")
        if prev_xy.ndim != 2 or prev_xy.shape[1] != 2 or prev_ids.shape != (prev_xy.shape[0],):
            raise ProjectionError("projector state: prev_xy must be [M, 2] with M prev_ids")
        self.seed = int(state["seed"])
        self.max_fit_rows = int(state["max_fit_rows"])
        self._mean, self._components = (mean, comps) if fitted else (None, None)
        self._scale = float(state["scale"])
        self._rotation, self._translation = rot, trans
        self._prev_xy, self._prev_ids = (prev_xy, prev_ids) if prev_xy.shape[0] > 0 else (None, None)
