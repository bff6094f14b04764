"""engine.analysis.mixture: component statistics, sample rankings, traversals, interpolation and ECE."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis.mixture import (
    SURE,
    component_stats,
    dominant,
    expected_calibration_error,
    interpolation,
    mixture_metrics,
    top_responsibility,
    traversal_latents,
)

# 4 components, 3 classes: 0 and 1 both sure of class 0 (redundant), 2 unsure of class 2,
# 3 sure of class 1 but almost never responsible (dead).
TAU = np.array([[0.90, 0.05, 0.05], [0.85, 0.10, 0.05], [0.20, 0.30, 0.50], [0.05, 0.90, 0.05]])
RESP = np.array(
    [
        [0.70, 0.10, 0.19, 0.01],
        [0.10, 0.80, 0.09, 0.01],
        [0.10, 0.10, 0.79, 0.01],
        [0.60, 0.30, 0.09, 0.01],
        [0.20, 0.10, 0.69, 0.01],
    ]
)
LABELS = np.array([0, -1, 2, 0, -1])


def test_component_stats_on_a_hand_made_mixture():
    stats = component_stats(TAU, RESP, LABELS)
    assert [s.component for s in stats] == [0, 1, 2, 3]
    assert [s.tau_class for s in stats] == [0, 0, 2, 1]
    assert [s.certainty for s in stats] == pytest.approx([0.90, 0.85, 0.50, 0.90])
    assert [s.usage for s in stats] == pytest.approx([0.34, 0.28, 0.37, 0.01])
    assert [s.labelled for s in stats] == [2, 0, 1, 0]  # rows 0 and 3 -> component 0, row 2 -> 2
    assert [s.dead for s in stats] == [False, False, False, True]  # 1 / (4 K) = 0.0625
    assert [s.redundant for s in stats] == [True, True, False, False]


def test_redundancy_needs_two_sure_components():
    tau = TAU.copy()
    tau[1] = [SURE - 0.01, 0.11, 0.10]  # just below SURE: component 0 is alone in being sure of class 0
    assert [s.redundant for s in component_stats(tau, RESP, LABELS)] == [False] * 4


def test_component_stats_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not fit"):
        component_stats(TAU, RESP[:, :3], LABELS)


def test_dominant_rows_by_responsibility():
    assert dominant(RESP, 0).tolist() == [0, 3]
    assert dominant(RESP, 2).tolist() == [2, 4]
    assert dominant(RESP, 3).tolist() == []


def test_top_responsibility_matches_a_brute_force_sort():
    rng = np.random.default_rng(0)
    resp = rng.dirichlet(np.ones(6), size=500)
    resp[10, 2] = resp[20, 2] = 0.999  # a tie: the lower index comes first
    for c in range(6):
        brute = sorted(range(len(resp)), key=lambda i: (-resp[i, c], i))[:16]
        assert top_responsibility(resp, c).tolist() == brute
    assert top_responsibility(resp, 2)[:2].tolist() == [10, 20]
    assert len(top_responsibility(resp, 0, k=3)) == 3


def test_mixture_metrics():
    m = mixture_metrics(np.full((8, 4), 0.25), TAU)
    assert m["resp_entropy"] == pytest.approx(np.log(4))
    assert m["resp_entropy_max"] == pytest.approx(np.log(4))
    assert m["tau_certainty"] == pytest.approx((0.90 + 0.85 + 0.50 + 0.90) / 4)
    assert m["usage"] == pytest.approx([0.25] * 4)
    one = mixture_metrics(np.tile([1.0, 0.0, 0.0, 0.0], (8, 1)), TAU)
    assert one["resp_entropy"] == pytest.approx(0.0)


def test_traversal_latents_walk_one_dimension_at_a_time():
    mu = np.array([0.5, -1.0, 2.0])
    logvar = np.log(np.array([0.25, 1.0, 4.0]))  # sigma 0.5, 1, 2
    z = traversal_latents(mu, logvar, steps=5, span=2.0)
    assert z.shape == (3 * 5, 3)
    sigma = np.array([0.5, 1.0, 2.0])
    for d in range(3):
        block = z[d * 5 : (d + 1) * 5]
        assert block[0, d] == pytest.approx(mu[d] - 2.0 * sigma[d])
        assert block[-1, d] == pytest.approx(mu[d] + 2.0 * sigma[d])
        assert block[2, d] == pytest.approx(mu[d])
        others = np.delete(block, d, axis=1)
        assert np.allclose(others, np.delete(mu, d))


def test_interpolation_ends_at_both_samples():
    za, zb = np.array([0.0, 1.0]), np.array([2.0, -1.0])
    qa, qb = np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.5, 0.5])
    z, q = interpolation(za, zb, qa, qb, steps=5)
    assert z.shape == (5, 2) and q.shape == (5, 3)
    assert np.allclose(z[0], za) and np.allclose(z[-1], zb)
    assert np.allclose(q[0], qa) and np.allclose(q[-1], qb)
    assert np.allclose(z[2], [1.0, 0.0])
    assert np.allclose(q.sum(1), 1.0)


def test_ece_of_a_perfectly_calibrated_model_is_zero():
    # 10 samples at confidence 0.8 with 8 right, 10 at 0.6 with 6 right
    probs = np.array([[0.8, 0.2]] * 10 + [[0.4, 0.6]] * 10)
    y = np.array([0] * 8 + [1] * 2 + [1] * 6 + [0] * 4)
    ece, bins = expected_calibration_error(probs, y, bins=10)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert sum(bins["count"]) == 20
    assert len(bins["edges"]) == 11


def test_ece_of_a_confident_always_wrong_model_is_its_confidence():
    probs = np.tile([0.9, 0.1], (50, 1))
    y = np.ones(50, int)
    ece, bins = expected_calibration_error(probs, y)
    assert ece == pytest.approx(0.9)
    full = [i for i, n in enumerate(bins["count"]) if n]
    assert len(full) == 1
    assert bins["confidence"][full[0]] == pytest.approx(0.9)
    assert bins["accuracy"][full[0]] == 0.0
