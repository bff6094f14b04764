"""Acquisition: which unlabelled samples are most worth labelling next.

Pure numpy over probability arrays (docs/architecture.md section 3), so every backend, the CLI and the
dashboard share one implementation. Every score follows one convention: **higher = more worth
labelling**. The formulas and advice on when to use each strategy are in ``docs/acquisition.md``.

Over 400 lines: every strategy sits in one table (:data:`STRATEGIES`) next to the scores it
combines, so a new strategy is one function and one row. Entry point: :func:`select`. Building blocks: the
score functions, :func:`k_center_greedy`,
:data:`STRATEGIES`, :func:`describe` and :func:`required_inputs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.analysis import coldstart
from engine.errors import LatentLoopError

__all__ = [
    "EPS",
    "STRATEGIES",
    "AcquisitionError",
    "Selection",
    "bald",
    "describe",
    "entropy",
    "k_center_greedy",
    "least_confidence",
    "margin",
    "random_scores",
    "required_inputs",
    "select",
    "variation_ratios",
]

#: Probabilities are clipped to [EPS, 1] before taking logs, so p = 0 contributes 0 * log(EPS) = 0.
EPS = 1e-12


class AcquisitionError(LatentLoopError, ValueError):
    """Bad acquisition input. A ValueError for library callers; a LatentLoopError so the CLI
    prints the message and exits with status 2 instead of a traceback."""


# -- input checks --------------------------------------------------------------------------------


def _as_probs(p: np.ndarray, ndim: int, name: str) -> np.ndarray:
    """Validate a probability array of the given rank and return it as float64."""
    arr = np.asarray(p, dtype=np.float64)  # float16 inputs (forecast payload) are common
    if arr.ndim != ndim:
        shape = "[N, C]" if ndim == 2 else "[T, N, C]"
        raise AcquisitionError(f"{name} must have shape {shape}, got shape {arr.shape}")
    if arr.shape[-1] < 1:
        raise AcquisitionError(f"{name} must have at least one class, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise AcquisitionError(f"{name} contains NaN or infinite values")
    return arr


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) along the last axis."""
    # "+ 0.0" turns the -0.0 of a one-hot row into 0.0 (prints and serialises cleanly).
    return -np.sum(p * np.log(np.clip(p, EPS, 1.0)), axis=-1) + 0.0


# -- score functions -----------------------------------------------------------------------------


def entropy(p: np.ndarray) -> np.ndarray:
    """Predictive entropy ``-sum_c p_c ln p_c`` per row of ``p [N, C]`` (nats), shape ``[N]``."""
    return _entropy_rows(_as_probs(p, 2, "probs"))


def margin(p: np.ndarray) -> np.ndarray:
    """``1 - (p_top1 - p_top2)`` per row of ``p [N, C]``: near 1 when the top two classes tie."""
    arr = _as_probs(p, 2, "probs")
    if arr.shape[1] == 1:  # a single class has no runner-up: treat it as probability 0
        return 1.0 - arr[:, 0]
    top2 = np.partition(arr, arr.shape[1] - 2, axis=1)[:, -2:]  # O(C), no full sort
    return 1.0 - (top2[:, 1] - top2[:, 0])


def least_confidence(p: np.ndarray) -> np.ndarray:
    """``1 - max_c p_c`` per row of ``p [N, C]``."""
    return 1.0 - _as_probs(p, 2, "probs").max(axis=1)


def bald(p_mc: np.ndarray) -> np.ndarray:
    """BALD mutual information from ``T`` stochastic passes ``p_mc [T, N, C]``, shape ``[N]``.

    ``H(mean_t p_t) - mean_t H(p_t)``: high where the passes are individually confident but
    disagree with each other (epistemic uncertainty), not where every pass is unsure.
    """
    arr = _as_probs(p_mc, 3, "probs_mc")
    mi = _entropy_rows(arr.mean(axis=0)) - _entropy_rows(arr).mean(axis=0)
    return np.maximum(mi, 0.0)  # MI >= 0 by Jensen; clipping only removes rounding noise


def variation_ratios(p_mc: np.ndarray) -> np.ndarray:
    """``1 - (count of the modal argmax over T) / T`` from ``p_mc [T, N, C]``, shape ``[N]``."""
    arr = _as_probs(p_mc, 3, "probs_mc")
    t, n, c = arr.shape
    votes = arr.argmax(axis=2)  # [T, N]
    # One bincount over (sample, class) pairs instead of a Python loop over samples.
    flat = (votes + c * np.arange(n)[None, :]).ravel()
    counts = np.bincount(flat, minlength=n * c).reshape(n, c)
    return 1.0 - counts.max(axis=1) / float(t)


def random_scores(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` uniform scores in [0, 1): top-k of these is a uniform random sample."""
    if n < 0:
        raise AcquisitionError(f"n must be >= 0, got {n}")
    return _rng(rng).random(n)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    # None means seed 0, not OS entropy: the same call gives the same selection everywhere.
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)


# -- core-set diversity --------------------------------------------------------------------------


def _min_sq_dist(x: np.ndarray, centres: np.ndarray, block_elems: int = 1 << 18) -> np.ndarray:
    """Squared distance from each row of ``x`` to its nearest row of ``centres``.

    Works on blocks of rows of ``x`` against all centres, sized (~2 MB) to stay in cache: the
    cost is memory traffic, not flops, and cache-sized blocks are several times faster than
    big ones while keeping memory flat however many samples are labelled.
    """
    if centres.shape[0] == 0 or x.shape[0] == 0:
        return np.full(x.shape[0], np.inf)
    # |x - c|^2 = |x|^2 + (|c|^2 - 2 x.c): |x|^2 is constant per row, so it is added after the min.
    best = np.empty(x.shape[0])
    c_sq = np.einsum("ij,ij->i", centres, centres)
    c_t2 = -2.0 * centres.T
    rows = max(1, block_elems // centres.shape[0])
    for start in range(0, x.shape[0], rows):
        d = x[start : start + rows] @ c_t2
        d += c_sq
        d.min(axis=1, out=best[start : start + rows])
    best += np.einsum("ij,ij->i", x, x)
    return np.maximum(best, 0.0)  # the expansion can dip slightly below 0


def _k_center(
    features: np.ndarray, k: int, candidates: np.ndarray, already_selected: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-center greedy over sorted, validated ``candidates``; returns (indices, distances)."""
    k = min(k, candidates.size)
    if k == 0:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    x = features[candidates]
    min_d = _min_sq_dist(x, features[already_selected])
    chosen = np.empty(k, np.int64)
    dists = np.empty(k, np.float64)
    start = 0
    if already_selected.size == 0:
        # Nothing to be far from yet: start at a seeded random candidate (distance undefined: inf).
        first = int(rng.integers(candidates.size))
        chosen[0], dists[0] = first, np.inf
        min_d = np.sum((x - x[first]) ** 2, axis=1)
        min_d[first] = -np.inf
        start = 1
    for i in range(start, k):
        j = int(np.argmax(min_d))  # first maximum = lowest dataset index: deterministic ties
        chosen[i], dists[i] = j, np.sqrt(max(min_d[j], 0.0))
        np.minimum(min_d, np.sum((x - x[j]) ** 2, axis=1), out=min_d)
        min_d[j] = -np.inf  # never re-pick, even when duplicates leave every distance at 0
    return candidates[chosen], dists


def _as_index(idx: np.ndarray | list[int] | None, n: int, name: str) -> np.ndarray | None:
    """Bool mask ``[n]`` or integer indices -> sorted unique int64 indices (None stays None)."""
    if idx is None:
        return None
    arr = np.asarray(idx)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise AcquisitionError(f"{name} mask must have shape ({n},), got {arr.shape}")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size == 0:
        return np.empty(0, np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise AcquisitionError(f"{name} must be a boolean mask or 1-D integer indices")
    if arr.min() < 0 or arr.max() >= n:
        raise AcquisitionError(f"{name} has indices outside [0, {n})")
    return np.unique(arr).astype(np.int64)


def k_center_greedy(
    features: np.ndarray,
    k: int,
    candidates: np.ndarray | list[int] | None = None,
    already_selected: np.ndarray | list[int] | None = None,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Core-set selection (Sener & Savarese 2018): repeatedly pick the candidate furthest
    (Euclidean) from everything selected so far.

    ``features [N, D]``; ``candidates`` / ``already_selected`` are indices (or bool masks) into
    it. Distances start from ``already_selected`` (typically the labelled samples), which are
    never returned; with none, the first pick is a seeded random candidate. Returns up to ``k``
    int64 dataset indices in selection order (fewer when the candidates run out).
    """
    idx, _ = _k_center_checked(features, k, candidates, already_selected, rng)
    return idx


def _as_features(features: np.ndarray | None, n: int) -> np.ndarray:
    """Validated float64 latent means [n, D]."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2:
        raise AcquisitionError(f"features must have shape [N, D], got shape {feats.shape}")
    if feats.shape[0] != n:
        raise AcquisitionError(f"inputs disagree on the number of samples N: features={feats.shape[0]}, N={n}")
    if not np.all(np.isfinite(feats)):
        raise AcquisitionError("features contains NaN or infinite values")
    return feats


def _k_center_checked(
    features: np.ndarray,
    k: int,
    candidates: np.ndarray | list[int] | None,
    already_selected: np.ndarray | list[int] | None,
    rng: np.random.Generator | int | None,
) -> tuple[np.ndarray, np.ndarray]:
    feats = _as_features(features, np.shape(features)[0] if np.ndim(features) else -1)
    _check_k(k)
    n = feats.shape[0]
    cand = _as_index(candidates, n, "candidates")
    sel = _as_index(already_selected, n, "already_selected")
    cand = np.arange(n, dtype=np.int64) if cand is None else cand
    sel = np.empty(0, np.int64) if sel is None else sel
    cand = np.setdiff1d(cand, sel, assume_unique=True)  # selected points are never re-picked
    return _k_center(feats, k, cand, sel, _rng(rng))


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise AcquisitionError(f"k must be a non-negative integer, got {k!r}")


# -- strategy registry ---------------------------------------------------------------------------

# Uncertainty scores: name -> (function, which input it reads).
_UNCERTAINTY: dict[str, tuple[Callable[[np.ndarray], np.ndarray], str]] = {
    "entropy": (entropy, "probs"),
    "margin": (margin, "probs"),
    "least_confidence": (least_confidence, "probs"),
    "bald": (bald, "probs_mc"),
    "variation_ratios": (variation_ratios, "probs_mc"),
}

_DESCRIPTIONS: dict[str, str] = {
    "random": "uniform random sample of the unlabelled pool (baseline)",
    "entropy": "highest predictive entropy -sum p ln p (unsure across all classes)",
    "margin": "smallest gap between the top two class probabilities (score 1 - (p1 - p2))",
    "least_confidence": "lowest top-class probability (score 1 - max p)",
    "bald": "largest mutual information between prediction and weights over MC passes (BALD)",
    "variation_ratios": "most disagreement of the MC passes' predicted classes (1 - modal count / T)",
    "kcenter": "core-set: greedily the sample furthest in latent space from all labelled/chosen ones",
    "typical": "TypiClust: the most typical sample of each of the largest k-means clusters no label covers",
    "mixture": "the most typical sample of each mixture component holding the fewest labels (fills tau)",
    "auto": "typical while there are fewer than AUTO_PER_CLASS labels per class, then margin+kcenter",
}
for _u in _UNCERTAINTY:
    _DESCRIPTIONS[f"{_u}+kcenter"] = f"top shortlist*k by {_u}, then k-center greedy among them (uncertain and diverse)"

#: Every strategy name :func:`select` accepts, in the order a menu should show them.
STRATEGIES: tuple[str, ...] = (
    "auto",
    "random",
    *_UNCERTAINTY,
    "kcenter",
    *(f"{u}+kcenter" for u in _UNCERTAINTY),
    "typical",
    "mixture",
)
#: The dashboard's queue and ``latentloop suggest`` rank by this unless told otherwise.
DEFAULT_STRATEGY = "auto"
#: ``auto`` covers the data's typical clusters (cold start) until the labels reach this many per
#: class, then ranks by margin+kcenter (docs/acquisition.md says how the number was chosen).
AUTO_PER_CLASS = 6
_AUTO_PHASES = ("typical", "margin+kcenter")  # typical beat mixture and random on validation (docs/acquisition.md)


def auto_phase(n_labelled: int, num_classes: int) -> str:
    """The strategy ``auto`` uses with ``n_labelled`` labels on ``num_classes`` classes."""
    return _AUTO_PHASES[0] if n_labelled < AUTO_PER_CLASS * num_classes else _AUTO_PHASES[1]


def _normalise_name(strategy: str) -> str:
    name = str(strategy).strip().lower().replace("-", "_").replace(" ", "")
    if name not in _DESCRIPTIONS:
        raise AcquisitionError(f"unknown acquisition strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    return name


def describe(strategy: str) -> str:
    """One-line description of a strategy (for ``--help`` and the dashboard dropdown)."""
    return _DESCRIPTIONS[_normalise_name(strategy)]


def required_inputs(strategy: str) -> frozenset[str]:
    """Inputs :func:`select` needs for a strategy, from {"probs", "probs_mc", "features", "resp"}.

    Lets a caller skip expensive work (e.g. MC passes) that the chosen strategy does not use.
    "probs" strategies also accept ``probs_mc`` (its mean over T is used).
    """
    name = _normalise_name(strategy)
    if name == "auto":
        return frozenset().union(*(required_inputs(p) for p in _AUTO_PHASES))
    needs: set[str] = {"features", "resp"} if name == "mixture" else {"features"} if name == "typical" else set()
    base, _, div = name.partition("+")
    if base in _UNCERTAINTY:
        needs.add(_UNCERTAINTY[base][1])
    if base == "kcenter" or div == "kcenter":
        needs.add("features")
    return frozenset(needs)


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select`.

    ``indices``: int64 dataset indices, best first. ``scores``: float64, the strategy's score for
    each (uncertainty for score strategies and for the uncertainty part of "U+kcenter"; the
    k-center distance at selection time for "kcenter", ``inf`` for a random first centre).
    ``distances``: the k-center distances for strategies that use k-center, else None.
    """

    strategy: str
    indices: np.ndarray
    scores: np.ndarray
    distances: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.indices.size)


def _infer_n(
    probs: np.ndarray | None,
    probs_mc: np.ndarray | None,
    features: np.ndarray | None,
    exclude: np.ndarray | list[int] | None,
    n_samples: int | None,
    strategy: str,
) -> int:
    """The pool size N, checking that every given input agrees on it."""
    sizes: dict[str, int] = {}
    if n_samples is not None:
        sizes["n_samples"] = int(n_samples)
    if probs is not None:
        sizes["probs"] = int(np.shape(probs)[0]) if np.ndim(probs) >= 1 else -1
    if probs_mc is not None:
        sizes["probs_mc"] = int(np.shape(probs_mc)[1]) if np.ndim(probs_mc) >= 2 else -1
    if features is not None:
        sizes["features"] = int(np.shape(features)[0]) if np.ndim(features) >= 1 else -1
    if exclude is not None and np.asarray(exclude).dtype == np.bool_:
        sizes["exclude"] = int(np.asarray(exclude).shape[0]) if np.ndim(exclude) == 1 else -1
    if not sizes:
        raise AcquisitionError(
            f"strategy {strategy!r} needs the number of samples: pass n_samples, probs, "
            "probs_mc, features or a boolean exclude mask"
        )
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k}={v}" for k, v in sizes.items())
        raise AcquisitionError(f"inputs disagree on the number of samples N: {detail}")
    return next(iter(sizes.values()))


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest scores; ties go to the lower position (stable sort)."""
    return np.argsort(-scores, kind="stable")[:k]


def select(
    strategy: str,
    k: int,
    *,
    probs: np.ndarray | None = None,
    probs_mc: np.ndarray | None = None,
    features: np.ndarray | None = None,
    resp: np.ndarray | None = None,
    exclude: np.ndarray | list[int] | None = None,
    pool: np.ndarray | list[int] | None = None,
    shortlist: int = 10,
    rng: np.random.Generator | int | None = None,
    n_samples: int | None = None,
) -> Selection:
    """Choose ``k`` samples to label with ``strategy`` (one of :data:`STRATEGIES`).

    ``probs [N, C]`` class probabilities; ``probs_mc [T, N, C]`` stochastic passes (BALD and
    variation ratios); ``features [N, D]`` latent means (k-center, typical, mixture); ``resp [N, K]``
    the mixture components' responsibilities (mixture). ``exclude``: already-labelled
    samples (bool mask or indices) - never selected, and the starting centres for k-center.
    ``pool``: the eligible samples (bool mask or indices; default all). ``shortlist``: a
    "U+kcenter" strategy runs k-center on the ``shortlist * k`` most uncertain samples by U.
    ``rng``: Generator or seed (None = seed 0) for "random" and a k-center start without labels.
    ``n_samples``: N, only needed for "random" when no other input tells it.

    Returns fewer than ``k`` samples only when the eligible pool is smaller than ``k``.
    Raises :class:`AcquisitionError` (a ValueError) for unknown strategies or missing inputs.
    """
    name = _normalise_name(strategy)
    _check_k(k)
    if isinstance(shortlist, bool) or not isinstance(shortlist, (int, np.integer)) or shortlist < 1:
        raise AcquisitionError(f"shortlist must be an integer >= 1, got {shortlist!r}")
    given = {"probs": probs, "probs_mc": probs_mc, "features": features, "resp": resp}
    for need in sorted(required_inputs(name)):
        # "probs" strategies can fall back on the MC mean; everything else is strict.
        if given[need] is None and not (need == "probs" and probs_mc is not None):
            raise AcquisitionError(f"strategy {name!r} needs {need}, which was not given")

    n = _infer_n(probs, probs_mc, features, exclude, n_samples, name)
    excluded = _as_index(exclude, n, "exclude")
    excluded = np.empty(0, np.int64) if excluded is None else excluded
    eligible = _as_index(pool, n, "pool")
    eligible = np.arange(n, dtype=np.int64) if eligible is None else eligible
    eligible = np.setdiff1d(eligible, excluded, assume_unique=True)  # sorted ascending
    gen = _rng(rng)

    if name == "auto":
        c = (probs if probs is not None else np.asarray(probs_mc)[0]).shape[1]
        phase = auto_phase(excluded.size, c)
        sel = select(phase, k, probs=probs, probs_mc=probs_mc, features=features, resp=resp, exclude=excluded,
                     pool=eligible, shortlist=shortlist, rng=gen, n_samples=n)  # fmt: skip
        return Selection(name, sel.indices, sel.scores, sel.distances)
    if name in ("typical", "mixture"):
        f = _as_features(features, n)
        if name == "typical":
            idx, sc = coldstart.typical_select(f, k, eligible, excluded, gen)
        else:
            r = _as_probs(resp, 2, "resp")  # type: ignore[arg-type]
            if r.shape[0] != n:
                raise AcquisitionError(f"inputs disagree on the number of samples N: resp={r.shape[0]}, N={n}")
            idx, sc = coldstart.mixture_select(f, r, k, eligible, excluded, gen)
        return Selection(name, idx, sc)

    base, _, div = name.partition("+")
    if base == "random":
        s = gen.random(eligible.size)
        top = _top_k(s, k)
        return Selection(name, eligible[top], s[top])

    if base == "kcenter":
        idx, dist = _k_center_checked(features, k, eligible, excluded, gen)  # type: ignore[arg-type]
        return Selection(name, idx, dist, dist.copy())

    fn, src = _UNCERTAINTY[base]
    if src == "probs":
        p = probs if probs is not None else _as_probs(probs_mc, 3, "probs_mc").mean(axis=0)  # type: ignore[arg-type]
        all_scores = fn(p)
    else:
        all_scores = fn(probs_mc)  # type: ignore[arg-type]
    s = all_scores[eligible]

    if not div:
        top = _top_k(s, k)
        return Selection(name, eligible[top], s[top])

    # Diversity on top of uncertainty: k-center inside the most uncertain shortlist*k samples,
    # so a batch is not k near-copies of the same confusing digit.
    short = eligible[np.sort(_top_k(s, shortlist * k))]
    idx, dist = _k_center_checked(features, k, short, excluded, gen)  # type: ignore[arg-type]
    return Selection(name, idx, all_scores[idx], dist)
