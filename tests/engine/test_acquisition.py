"""Acquisition scores against hand-computed values, k-center order, and select() contracts."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from engine.analysis import acquisition as acq
from engine.analysis.acquisition import AcquisitionError, Selection, select
from engine.errors import LatentLoopError

LN2 = math.log(2.0)  # 0.6931471805599453
LN3 = math.log(3.0)  # 1.0986122886681098


# -- scores ------------------------------------------------------------------------------------


def test_entropy_hand_values() -> None:
    np.testing.assert_allclose(acq.entropy([[0.5, 0.5], [1.0, 0.0]]), [LN2, 0.0], atol=1e-12)
    # [1/3]*3 -> ln 3; one-hot -> 0; [.5,.25,.25] -> .5 ln2 + .5 ln4 = 1.5 ln2 = 1.0397207708
    p = [[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.5, 0.25, 0.25]]
    np.testing.assert_allclose(acq.entropy(p), [LN3, 0.0, 1.0397207708399179], atol=1e-12)
    assert not np.signbit(acq.entropy([[1.0, 0.0]])).any()  # 0.0, not -0.0


def test_margin_hand_values() -> None:
    p = [[0.5, 0.25, 0.25], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2], [0.1, 0.3, 0.6]]
    # 1 - (p1 - p2): 1-.25, 1-.5, 1-1, 1-0, 1-.3
    np.testing.assert_allclose(acq.margin(p), [0.75, 0.5, 0.0, 1.0, 0.7], atol=1e-12)
    np.testing.assert_allclose(acq.margin([[1.0], [0.25]]), [0.0, 0.75])  # one class: p2 = 0


def test_least_confidence_hand_values() -> None:
    p = [[0.5, 0.25, 0.25], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2]]
    np.testing.assert_allclose(acq.least_confidence(p), [0.5, 0.3, 0.0, 0.6], atol=1e-12)


def test_bald_hand_values() -> None:
    # T=2 passes, N=3 samples, C=2.
    p_mc = np.array([[[1.0, 0.0], [0.5, 0.5], [0.8, 0.2]], [[0.0, 1.0], [0.5, 0.5], [0.4, 0.6]]])
    # sample 0: confident passes that disagree -> H([.5,.5]) - 0 = ln 2
    # sample 1: both passes unsure in the same way -> ln2 - ln2 = 0
    # sample 2: mean [.6,.4]: H = .6*.5108256 + .4*.9162907 = .6730117
    #           H([.8,.2]) = .8*.2231436 + .2*1.6094379 = .5004024; H([.4,.6]) = .6730117
    #           MI = .6730117 - (.5004024 + .6730117)/2 = .0863046
    np.testing.assert_allclose(acq.bald(p_mc), [LN2, 0.0, 0.0863046217], atol=1e-9)


def test_variation_ratios_hand_values() -> None:
    # T=3, N=3, C=3; votes per sample: [0,0,0], [0,1,0], [0,1,2]
    votes = np.array([[0, 0, 0], [0, 1, 1], [0, 0, 2]])  # [T, N]
    p_mc = np.eye(3)[votes] * 0.7 + 0.1  # argmax = vote, rows sum to 1
    np.testing.assert_allclose(acq.variation_ratios(p_mc), [0.0, 1 / 3, 2 / 3], atol=1e-12)


def test_random_scores_seeded() -> None:
    a = acq.random_scores(5, np.random.default_rng(3))
    b = acq.random_scores(5, np.random.default_rng(3))
    assert a.shape == (5,) and np.array_equal(a, b) and np.all((a >= 0) & (a < 1))


def test_scores_reject_bad_shapes() -> None:
    with pytest.raises(AcquisitionError, match="probs"):
        acq.entropy([0.5, 0.5])
    with pytest.raises(AcquisitionError, match="probs_mc"):
        acq.bald([[0.5, 0.5]])
    with pytest.raises(AcquisitionError, match="NaN"):
        acq.margin([[np.nan, 1.0]])


def test_scores_accept_float16() -> None:
    p = np.array([[0.5, 0.5], [1.0, 0.0]], dtype=np.float16)  # the forecast payload dtype
    np.testing.assert_allclose(acq.entropy(p), [LN2, 0.0], atol=1e-6)


# -- k-center ----------------------------------------------------------------------------------


def test_k_center_1d_order_and_tie() -> None:
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [5.0]])
    # from {0}: furthest 11 (idx 4); then 5 (idx 5, dist 5); then 2 (idx 2, dist 2);
    # then idx 1 and idx 3 both at distance 1 -> the lower index wins.
    got = acq.k_center_greedy(x, 4, already_selected=[0])
    assert got.tolist() == [4, 5, 2, 1]
    assert got.dtype == np.int64


def test_k_center_2d_order_and_distances() -> None:
    x = np.array([[0, 0], [10, 0], [0, 3], [10, 10], [6, 5]], dtype=float)
    s = select("kcenter", 4, features=x, exclude=[0])
    assert s.indices.tolist() == [3, 1, 4, 2]
    np.testing.assert_allclose(s.scores, [math.sqrt(200), 10.0, math.sqrt(41), 3.0])


def test_k_center_random_start_then_furthest() -> None:
    x = np.array([[0.0], [4.0], [9.0], [20.0]])
    a = acq.k_center_greedy(x, 2, rng=7)
    assert np.array_equal(a, acq.k_center_greedy(x, 2, rng=np.random.default_rng(7)))
    first = int(a[0])
    assert a[1] == int(np.argmax(np.abs(x[:, 0] - x[first, 0])))


def test_k_center_respects_candidates_and_duplicates() -> None:
    x = np.zeros((6, 2))  # all duplicates: every distance is 0, still no repeats
    got = acq.k_center_greedy(x, 10, candidates=[1, 3, 5], already_selected=[0, 3])
    assert sorted(got.tolist()) == [1, 5]


def test_k_center_on_many_points_picks_distinct_samples() -> None:
    feats = np.random.default_rng(0).normal(size=(60_000, 16))  # timing: benchmarks/bench_core.py
    idx = acq.k_center_greedy(feats, 20)
    assert idx.shape == (20,) and np.unique(idx).size == 20


# -- select ------------------------------------------------------------------------------------


def _probs(n: int, seed: int = 0, c: int = 4) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(c), size=n)


@pytest.mark.parametrize("strategy", acq.STRATEGIES)
def test_every_strategy_excludes_labelled(strategy: str) -> None:
    n = 50
    probs = _probs(n)
    probs[:10] = 0.25  # the labelled ones look maximally uncertain: they must still be skipped
    p_mc = np.stack([_probs(n, 1), _probs(n, 2), _probs(n, 3)])
    p_mc[:, :10] = np.eye(4)[np.arange(3)][:, None, :]  # passes disagree maximally
    feats = np.random.default_rng(0).normal(size=(n, 3))
    resp = np.random.default_rng(5).dirichlet(np.ones(5), size=n)
    mask = np.zeros(n, bool)
    mask[:10] = True
    for exclude in (mask, np.arange(10)):
        s = select(strategy, 8, probs=probs, probs_mc=p_mc, features=feats, resp=resp, exclude=exclude)
        assert isinstance(s, Selection) and s.strategy == strategy
        assert s.indices.dtype == np.int64 and s.indices.shape == (8,) and s.scores.shape == (8,)
        assert np.unique(s.indices).size == 8
        assert not np.isin(s.indices, np.arange(10)).any()


def test_select_matches_scores_and_order() -> None:
    probs = np.array([[0.9, 0.1], [0.5, 0.5], [0.6, 0.4], [1.0, 0.0], [0.55, 0.45]])
    s = select("least_confidence", 3, probs=probs)
    assert s.indices.tolist() == [1, 4, 2]
    np.testing.assert_allclose(s.scores, [0.5, 0.45, 0.4])
    s = select("entropy", 2, probs=probs, exclude=[1])
    assert s.indices.tolist() == [4, 2]
    np.testing.assert_allclose(s.scores, acq.entropy(probs)[[4, 2]])


def test_select_ties_are_broken_by_index() -> None:
    probs = np.full((10, 3), 1 / 3)
    s = select("margin", 4, probs=probs, exclude=[0, 2])
    assert s.indices.tolist() == [1, 3, 4, 5]


def test_select_pool_restricts() -> None:
    probs = _probs(30)
    pool = np.array([3, 7, 11, 19, 25])
    s = select("entropy", 10, probs=probs, pool=pool, exclude=[7])
    assert sorted(s.indices.tolist()) == [3, 11, 19, 25]  # fewer than k: the pool ran out
    pool_mask = np.isin(np.arange(30), pool)
    s2 = select("entropy", 2, probs=probs, pool=pool_mask, exclude=[7])
    assert set(s2.indices.tolist()) <= {3, 11, 19, 25}


@pytest.mark.parametrize(
    "strategy,kwargs,missing",
    [
        ("bald", {"probs": np.full((4, 2), 0.5)}, "probs_mc"),
        ("variation_ratios", {}, "probs_mc"),
        ("entropy", {"features": np.zeros((4, 2))}, "probs"),
        ("kcenter", {"probs": np.full((4, 2), 0.5)}, "features"),
        ("margin+kcenter", {"probs": np.full((4, 2), 0.5)}, "features"),
        ("bald+kcenter", {"features": np.zeros((4, 2))}, "probs_mc"),
    ],
)
def test_select_missing_input_errors(strategy: str, kwargs: dict, missing: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(strategy)) + ".*" + missing) as info:
        select(strategy, 2, **kwargs)
    assert isinstance(info.value, LatentLoopError)  # the CLI shows it as a clean error


def test_select_other_errors() -> None:
    with pytest.raises(AcquisitionError, match=r"unknown acquisition strategy.*entropy"):
        select("nope", 2, probs=np.full((4, 2), 0.5))
    with pytest.raises(AcquisitionError, match="disagree"):
        select("entropy+kcenter", 2, probs=np.full((4, 2), 0.5), features=np.zeros((5, 2)))
    with pytest.raises(AcquisitionError, match="n_samples"):
        select("random", 2)
    with pytest.raises(AcquisitionError, match="k must be"):
        select("entropy", -1, probs=np.full((4, 2), 0.5))
    with pytest.raises(AcquisitionError, match="exclude"):
        select("entropy", 1, probs=np.full((4, 2), 0.5), exclude=[9])
    with pytest.raises(AcquisitionError, match="shortlist"):
        select("entropy+kcenter", 1, probs=np.full((4, 2), 0.5), features=np.zeros((4, 2)), shortlist=0)


def test_combined_strategy_stays_in_shortlist_and_diversifies() -> None:
    n, k, shortlist = 200, 5, 3
    rng = np.random.default_rng(0)
    probs = _probs(n, 5, c=10)
    feats = rng.normal(size=(n, 4))
    ent = acq.entropy(probs)
    labelled = np.argsort(-ent)[:4]  # include some very uncertain labelled samples
    unl_order = [i for i in np.argsort(-ent, kind="stable") if i not in set(labelled.tolist())]
    top = {int(i) for i in unl_order[: shortlist * k]}
    s = select("entropy+kcenter", k, probs=probs, features=feats, exclude=labelled, shortlist=shortlist)
    assert set(s.indices.tolist()) <= top
    assert s.indices.size == k
    np.testing.assert_allclose(s.scores, ent[s.indices])  # scores = the uncertainty part
    assert s.distances is not None and np.all(np.diff(s.distances) <= 1e-12)  # greedy: non-increasing
    # Same answer as running k-center by hand inside the shortlist, seeded by the labelled set.
    expect = acq.k_center_greedy(feats, k, candidates=sorted(top), already_selected=labelled)
    assert s.indices.tolist() == expect.tolist()


def test_combined_with_duplicates_prefers_diversity() -> None:
    # Six most uncertain samples: three copies at one place, three at another. Pure entropy would
    # pick the three most uncertain (all copies); entropy+kcenter picks from both clusters.
    probs = np.array([[0.5, 0.5]] * 3 + [[0.52, 0.48]] * 3 + [[0.99, 0.01]] * 6)
    feats = np.array([[0.0, 0.0]] * 3 + [[5.0, 5.0]] * 3 + [[9.0, 9.0]] * 6)
    plain = select("entropy", 2, probs=probs)
    assert plain.indices.tolist() == [0, 1]
    mixed = select("entropy+kcenter", 2, probs=probs, features=feats, shortlist=3, exclude=[11])
    assert set(feats[mixed.indices, 0].tolist()) == {0.0, 5.0}


def test_probs_strategies_fall_back_on_mc_mean() -> None:
    p_mc = np.stack([_probs(20, 1), _probs(20, 2)])
    a = select("entropy", 5, probs_mc=p_mc)
    b = select("entropy", 5, probs=p_mc.mean(axis=0))
    assert a.indices.tolist() == b.indices.tolist()


def test_random_is_seeded_and_unique() -> None:
    a = select("random", 10, n_samples=100, exclude=np.arange(50), rng=1)
    b = select("random", 10, n_samples=100, exclude=np.arange(50), rng=np.random.default_rng(1))
    assert a.indices.tolist() == b.indices.tolist()
    assert np.unique(a.indices).size == 10 and a.indices.min() >= 50
    assert select("random", 3, probs=_probs(10)).indices.size == 3


def test_k_zero_and_empty_pool() -> None:
    probs = _probs(5)
    assert select("entropy", 0, probs=probs).indices.size == 0
    s = select("kcenter", 3, features=np.zeros((5, 2)), exclude=np.ones(5, bool))
    assert s.indices.size == 0 and s.scores.size == 0


def test_describe_and_required_inputs() -> None:
    assert len(set(acq.STRATEGIES)) == len(acq.STRATEGIES)
    for name in (
        "random",
        "entropy",
        "margin",
        "least_confidence",
        "bald",
        "variation_ratios",
        "kcenter",
        "entropy+kcenter",
    ):
        assert name in acq.STRATEGIES
    for name in acq.STRATEGIES:
        text = acq.describe(name)
        assert text and "\n" not in text
    assert acq.describe("Least-Confidence") == acq.describe("least_confidence")
    assert acq.required_inputs("random") == frozenset()
    assert acq.required_inputs("bald+kcenter") == {"probs_mc", "features"}
    assert acq.required_inputs("kcenter") == {"features"}
    with pytest.raises(ValueError, match="unknown"):
        acq.describe("bogus")
