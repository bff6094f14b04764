"""Low-budget acquisition: which samples to label first, before the model's probabilities mean anything.

Uncertainty picks poorly while the model is poor (the cold-start problem: Hacohen, Dekel and
Weinshall 2022, "Active learning on a budget"). These strategies pick *typical* samples of parts of
the data no label covers yet, and are the first phase of ``auto`` (:mod:`engine.analysis.acquisition`):

- ``typical`` (TypiClust): cluster the latent means into (labelled + k) clusters and take, from
  each of the largest clusters that hold no label, its most typical sample (the highest density:
  the inverse mean distance to its nearest neighbours in the cluster);
- ``mixture``: the model's own clusters, its mixture components, in place of k-means: each
  component holding the fewest labels (the largest first) gives its most typical sample among the
  samples it claims. Labelling them fills tau's rows directly.

Both score a chosen sample by its typicality (higher = more typical). Pure numpy plus
scikit-learn's k-means; seeded, so the same inputs give the same picks.
"""

from __future__ import annotations

import numpy as np

NEIGHBOURS = 20  # TypiClust's k for the typicality density
TYPICALITY_SAMPLE = 1000  # the density of a cluster is estimated on at most this many of its samples
MAX_CLUSTERS = 500  # as TypiClust: more clusters than this cost much and change little
KMEANS_FIT = 20_000  # k-means fits its centres on at most this many rows


def typicality(x: np.ndarray, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """``1 / mean distance to the nearest neighbours`` (within ``x``) of each row of ``x [n, D]``."""
    n = x.shape[0]
    if n <= 1:
        return np.ones(n)
    sq = np.einsum("ij,ij->i", x, x)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    np.fill_diagonal(d2, np.inf)
    m = min(neighbours, n - 1)
    near = np.sqrt(np.partition(d2, m - 1, axis=1)[:, :m])
    return 1.0 / (near.mean(axis=1) + 1e-12)


def _by_typicality(
    features: np.ndarray, members: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``members`` (dataset indices; at most :data:`TYPICALITY_SAMPLE` of them, drawn at random)
    ordered most typical first, with their typicality."""
    pick = members if members.size <= TYPICALITY_SAMPLE else np.sort(rng.choice(members, TYPICALITY_SAMPLE, False))
    t = typicality(np.asarray(features[pick], np.float64))
    order = np.argsort(-t, kind="stable")
    return pick[order], t[order]


def _cover(
    groups: np.ndarray,
    n_groups: int,
    features: np.ndarray,
    k: int,
    eligible: np.ndarray,
    labelled: np.ndarray,
    rng: np.random.Generator,
    weight: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``k`` of ``eligible``: repeatedly the group with the fewest labels (then the most
    weight: its size by default) gives its most typical eligible sample not yet picked. ``groups
    [N]``: each sample's group (-1: none). A group's typicality is computed once, on its eligible
    members, so k picks cost one density per group touched."""
    labels_in = np.bincount(groups[labelled][groups[labelled] >= 0], minlength=n_groups).astype(np.float64)
    g_elig = groups[eligible]
    size = np.bincount(g_elig[g_elig >= 0], minlength=n_groups).astype(np.float64)
    w = size.copy() if weight is None else weight
    ranked: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    taken = np.zeros(n_groups, np.int64)
    chosen: list[int] = []
    scores: list[float] = []
    while len(chosen) < k:
        open_ = np.flatnonzero(size > 0)
        if open_.size == 0:
            break
        # fewest labels first, then the heaviest group; ties to the lower group (stable)
        g = int(open_[np.lexsort((-w[open_], labels_in[open_]))[0]])
        if g not in ranked:
            ranked[g] = _by_typicality(features, eligible[g_elig == g], rng)
        order, t = ranked[g]
        chosen.append(int(order[taken[g]]))
        scores.append(float(t[taken[g]]))
        taken[g] += 1
        # a group sampled down to TYPICALITY_SAMPLE closes once its ranked members are used up
        size[g] = 0 if taken[g] >= order.size else size[g] - 1
        labels_in[g] += 1
    return np.asarray(chosen, np.int64), np.asarray(scores, np.float64)


def typical_select(
    features: np.ndarray, k: int, eligible: np.ndarray, labelled: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """TypiClust: k-means of the eligible and labelled samples into ``labelled + k`` clusters
    (at most :data:`MAX_CLUSTERS`), then :func:`_cover` by cluster; returns (indices, typicality)."""
    from sklearn.cluster import KMeans

    k = min(k, eligible.size)
    if k == 0:
        return np.empty(0, np.int64), np.empty(0)
    rows = np.union1d(eligible, labelled)
    n_clusters = int(min(MAX_CLUSTERS, labelled.size + k, rows.size))
    seed = int(rng.integers(2**31 - 1))
    x = np.asarray(features[rows], np.float64)
    # the centres are fitted on at most KMEANS_FIT rows (a random subset), then every row is assigned
    fit = x if len(x) <= KMEANS_FIT else x[np.sort(rng.choice(len(x), KMEANS_FIT, replace=False))]
    km = KMeans(n_clusters, random_state=seed, n_init=1, max_iter=50).fit(fit)
    groups = np.full(len(features), -1, np.int64)
    groups[rows] = km.predict(x)
    return _cover(groups, n_clusters, features, k, eligible, labelled, rng)


def mixture_select(
    features: np.ndarray, resp: np.ndarray, k: int, eligible: np.ndarray, labelled: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The mixture's components as the clusters: each sample belongs to the component with its
    highest responsibility (``resp [N, K]``); the components holding the fewest labels, the
    heaviest first (total responsibility), give their most typical sample; returns (indices, typicality)."""
    k = min(k, eligible.size)
    if k == 0:
        return np.empty(0, np.int64), np.empty(0)
    r = np.asarray(resp, np.float64)
    groups = r.argmax(axis=1).astype(np.int64)
    return _cover(groups, r.shape[1], features, k, eligible, labelled, rng, weight=r[eligible].sum(axis=0))
