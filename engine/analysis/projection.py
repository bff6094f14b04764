"""2-D map of the latent means that keeps its orientation between refreshes.

PCA gives a fresh basis each time the latent space changes, with arbitrary signs and order of
axes, so a naive re-projection makes the whole map flip or spin while the user is looking at it.
:class:`Projector` therefore aligns every new projection to the previous one with an orthogonal
Procrustes fit (rotation/reflection + uniform scale + translation) on the samples both share
(:func:`fit_alignment`). :class:`UmapProjector` is the dashboard's other map: UMAP (umap-learn,
imported only when used), aligned the same way. Otherwise pure numpy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.errors import LatentLoopError

__all__ = [
    "ProjectionError",
    "Projector",
    "UmapParams",
    "UmapProjector",
    "align_procrustes",
    "check_ids",
    "fit_alignment",
    "normalise_for_plot",
    "umap_embed",
]


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


def check_mu(mu: np.ndarray) -> np.ndarray:
    """``mu`` as float64 ``[N, D]`` (D >= 1, finite values); else ProjectionError."""
    arr = np.asarray(mu, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 1:
        raise ProjectionError(f"mu must have shape [N, D] with D >= 1, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ProjectionError("mu contains NaN or infinite values")
    return arr


def check_ids(ids: np.ndarray | None, n: int) -> np.ndarray:
    """``ids`` as ``n`` unique int64 sample ids (default ``arange(n)``); else ProjectionError."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.shape != (n,) or not (np.issubdtype(arr.dtype, np.integer) or n == 0):
        raise ProjectionError(f"ids must be {n} integers (one per row of mu), got shape {arr.shape}")
    arr = arr.astype(np.int64)
    if np.unique(arr).size != n:
        raise ProjectionError("ids must be unique")
    return arr


def fit_alignment(
    xy: np.ndarray, ids: np.ndarray, prev_xy: np.ndarray | None, prev_ids: np.ndarray | None
) -> tuple[float, np.ndarray, np.ndarray]:
    """The similarity transform ``(s, R, t)`` (:func:`align_procrustes`) that puts the map ``xy [N, 2]``
    of samples ``ids [N]`` onto the previous map ``prev_xy`` of ``prev_ids``, fitted on the samples both
    share. The identity when there is no previous map or fewer than 3 shared samples (nothing reliable
    to align to). The one alignment of every projection (PCA, UMAP)."""
    d = xy.shape[1]
    if prev_xy is None or prev_ids is None:
        return 1.0, np.eye(d), np.zeros(d)
    if np.array_equal(prev_ids, ids):  # the usual refresh: same samples, same order
        src, dst = xy, prev_xy
    else:
        _, i_new, i_old = np.intersect1d(ids, prev_ids, assume_unique=True, return_indices=True)
        src, dst = xy[i_new], prev_xy[i_old]
    if src.shape[0] < 3:
        return 1.0, np.eye(d), np.zeros(d)
    return align_procrustes(src, dst)


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
        arr = check_mu(mu)
        n = arr.shape[0]
        id_arr = check_ids(ids, n)
        if n == 0:
            return np.zeros((0, 2), np.float32)
        mean, comps = self._pca(arr)
        raw = (arr - mean) @ comps.T
        s, r, t = fit_alignment(raw, id_arr, self._prev_xy, self._prev_ids)
        self._mean, self._components = mean, comps
        self._scale, self._rotation, self._translation = s, r, t
        xy = s * (raw @ r) + t
        self._prev_xy, self._prev_ids = xy, id_arr
        return xy.astype(np.float32)

    def transform(self, mu: np.ndarray) -> np.ndarray:
        """Project extra rows with the last fitted map (no refit, no change of state)."""
        if self._components is None or self._mean is None:
            raise ProjectionError("Projector.transform called before fit_transform")
        arr = check_mu(mu)
        if arr.shape[1] != self._mean.shape[0]:
            raise ProjectionError(f"mu has D={arr.shape[1]}, the map was fitted with D={self._mean.shape[0]}")
        raw = (arr - self._mean) @ self._components.T
        return (self._scale * (raw @ self._rotation) + self._translation).astype(np.float32)

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


# -- UMAP ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UmapParams:
    """Settings of the UMAP map (umap-learn's meaning; docs/dashboard.md, "Projection").

    ``n_neighbors`` (15, umap's default): how many neighbours define a point's neighbourhood;
    larger keeps more of the global layout, smaller splits clusters into fragments. ``min_dist``
    (0.1, umap's default): how tightly points may pack in 2-D; small values give dense class blobs
    with clear gaps between them, the useful picture for picking samples. ``max_fit_rows``: UMAP is
    fitted on a seeded subsample of at most this many rows and the other rows are placed with
    ``transform`` (nearest neighbours in the fitted graph, a short optimisation of the new points
    only). Measured on 60,000 MNIST latent means (docs/benchmarks/projection.json): fitting all
    rows takes 34 s and keeps 12.8% of each point's 10 latent neighbours among its 10 nearest on
    the map, a 20,000-row fit plus transform 18 s and 9.9% (PCA: 1.1%); the dashboard computes in
    the background, so the default fits up to 100,000 rows at once and subsamples bigger maps.
    ``seed`` makes the map deterministic (it also makes umap run single-threaded, which the
    dashboard wants anyway). ``n_epochs``: None is
    umap's default (200 above 10,000 fitted rows, else 500).
    """

    seed: int = 0
    n_neighbors: int = 15
    min_dist: float = 0.1
    max_fit_rows: int = 100_000
    # Rows per transform call (progress messages, bounded memory). Above 10,000 new rows umap runs
    # 30 optimisation epochs per call instead of 100, so 20,000-row chunks cost a third of 10,000.
    transform_chunk: int = 20_000
    n_epochs: int | None = None


def umap_embed(mu: np.ndarray, params: UmapParams, progress: Callable[[str], None] | None = None) -> np.ndarray:
    """UMAP of ``mu [N, D]`` to float64 ``[N, 2]`` (not aligned; see :class:`UmapProjector`).

    ``progress(message)`` is told what is being done (fitting, placing the other rows). umap-learn
    is imported here: its numba import takes seconds and only the UMAP map needs it.
    """
    arr = check_mu(mu).astype(np.float32)
    n = arr.shape[0]
    if n < 4:
        raise ProjectionError(f"UMAP needs at least 4 points, got {n}")
    say = progress or (lambda _msg: None)
    import umap

    if n > params.max_fit_rows:
        fit_rows = np.sort(np.random.default_rng(params.seed).choice(n, params.max_fit_rows, replace=False))
    else:
        fit_rows = np.arange(n)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(params.n_neighbors, len(fit_rows) - 1),
        min_dist=params.min_dist,
        n_epochs=params.n_epochs,
        random_state=params.seed,
        transform_seed=params.seed,
        n_jobs=1,
    )
    say(f"fitting on {len(fit_rows):,} of {n:,} points")
    out = np.zeros((n, 2))
    out[fit_rows] = reducer.fit_transform(arr[fit_rows])
    rest = np.setdiff1d(np.arange(n), fit_rows)
    for start in range(0, len(rest), params.transform_chunk):
        say(f"placing the other {len(rest):,} points ({start:,} done)")
        rows = rest[start : start + params.transform_chunk]
        out[rows] = reducer.transform(arr[rows])
    return out


class UmapProjector:
    """UMAP to 2-D, aligned to the previous map like :class:`Projector` (:func:`fit_alignment`).

    UMAP layouts of two versions differ in orientation and scale for no reason the user cares
    about, so each new one is rotated/reflected, scaled and shifted onto the previous one over the
    samples both share. The first one is aligned to ``reference`` when given (the PCA map on screen),
    so swapping PCA for UMAP keeps the picture's orientation as far as the two agree.
    The embedding and the alignment are separate steps (:func:`umap_embed` may run in another
    process; :meth:`align` is cheap).
    """

    def __init__(self, params: UmapParams | None = None) -> None:
        self.params = params or UmapParams()
        self.reset()

    def reset(self) -> None:
        """Forget the previous map: the next one is aligned to its reference, or not at all."""
        self._prev_xy: np.ndarray | None = None  # [M, 2] float64, last output
        self._prev_ids: np.ndarray | None = None

    def align(self, raw: np.ndarray, ids: np.ndarray | None = None, reference: np.ndarray | None = None) -> np.ndarray:
        """Align ``raw [N, 2]`` (a :func:`umap_embed` output) to the previous map, else to
        ``reference [N, 2]`` (same rows); returns float32 and keeps it as the previous map."""
        xy = np.asarray(raw, dtype=np.float64)
        if xy.ndim != 2 or xy.shape[1] != 2:
            raise ProjectionError(f"raw must have shape [N, 2], got {xy.shape}")
        id_arr = check_ids(ids, xy.shape[0])
        if self._prev_xy is not None:
            s, r, t = fit_alignment(xy, id_arr, self._prev_xy, self._prev_ids)
        elif reference is not None:
            ref = np.asarray(reference, dtype=np.float64)
            if ref.shape != xy.shape:
                raise ProjectionError(f"reference must have shape {xy.shape}, got {ref.shape}")
            s, r, t = fit_alignment(xy, id_arr, ref, id_arr)
        else:
            s, r, t = 1.0, np.eye(2), np.zeros(2)
        out = s * (xy @ r) + t
        self._prev_xy, self._prev_ids = out, id_arr
        return out.astype(np.float32)

    def fit_transform(
        self,
        mu: np.ndarray,
        ids: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> np.ndarray:
        """UMAP of ``mu [N, D]``, aligned (:meth:`align`); float32 ``[N, 2]``."""
        return self.align(umap_embed(mu, self.params, progress), ids, reference)
