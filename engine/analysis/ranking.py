"""Ranking the unlabelled training samples from a model's outputs: the one function behind the
CLI's ``latentloop suggest`` and the dashboard's candidate queue, so both show the same samples in
the same order for the same checkpoint and strategy. The strategies themselves are in
:mod:`engine.analysis.acquisition`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from engine.analysis.acquisition import AcquisitionError, Selection, entropy, required_inputs, select

#: The dashboard's queue ranks this many at once; ``latentloop suggest`` ranks as deep (or k, when
#: larger), so the first k of both are the same samples in the same order ("U+kcenter" depends on it).
RANK_DEPTH = 120
#: MC-dropout strategies score only this many most-entropic candidates (MC passes are costly).
MC_POOL = 2000


def rank_unlabelled(
    strategy: str,
    k: int,
    *,
    probs: np.ndarray,
    features: np.ndarray,
    labelled: np.ndarray,
    resp: np.ndarray | None = None,
    mc: Callable[[np.ndarray], np.ndarray] | None = None,
    pool: np.ndarray | None = None,
    mc_pool: int = MC_POOL,
    seed: int = 0,
) -> Selection:
    """The ``k`` training samples to label next, best first: the one ranking the CLI's ``suggest``
    and the dashboard's queue share.

    ``probs [N, C]``, ``features [N, D]``: the model's class probabilities and latent means for the
    N training samples (only the candidates' and the labelled samples' rows are read); ``resp
    [N, K]`` the mixture components' responsibilities ("mixture" and "auto").
    ``labelled``: bool ``[N]``; labelled samples are never chosen and are k-center's starting
    centres. ``pool``: candidate indices (default: every unlabelled sample). ``mc(indices)`` returns
    ``probs_mc [T, len(indices), C]`` for the MC-dropout strategies, which score only the ``mc_pool``
    (0 = all) most-entropic candidates. ``seed``: for "random" and a k-center start without labels.
    """
    lab = np.flatnonzero(labelled)
    free = np.flatnonzero(~labelled) if pool is None else np.setdiff1d(pool, lab)
    if "probs_mc" not in required_inputs(strategy):
        return select(
            strategy,
            k,
            probs=probs,
            features=features,
            resp=resp,
            exclude=lab,
            pool=free,
            rng=seed,
            n_samples=len(labelled),
        )
    if free.size == 0 or k == 0:
        return Selection(strategy, np.empty(0, np.int64), np.empty(0))
    if mc is None:
        raise AcquisitionError(f"strategy {strategy!r} needs MC-dropout predictions")
    if mc_pool and free.size > mc_pool:
        free = np.sort(free[np.argsort(-entropy(probs[free]), kind="stable")[:mc_pool]])
    idx = np.concatenate([free, lab])
    probs_mc = mc(free)
    # The labelled rows only seed k-center; their (unused) MC scores come from the mean prediction.
    probs_mc = np.concatenate([probs_mc, np.broadcast_to(probs[lab], (probs_mc.shape[0], *probs[lab].shape))], axis=1)
    sel = select(
        strategy, k, probs_mc=probs_mc, features=features[idx], exclude=np.arange(free.size, idx.size), rng=seed
    )
    return Selection(sel.strategy, idx[sel.indices], sel.scores, sel.distances)
