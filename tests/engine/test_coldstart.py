"""Low-budget acquisition (engine/analysis/coldstart.py) and ``auto`` (engine/analysis/acquisition.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis import acquisition as acq
from engine.analysis.coldstart import typicality


def _blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three 2-D blobs: 300 points at (0, 0), 200 at (10, 0), 100 at (0, 10); blob labels."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    sizes = (300, 200, 100)
    x = np.concatenate([c + rng.normal(size=(n, 2)) for c, n in zip(centres, sizes, strict=True)])
    return x, np.repeat(np.arange(3), sizes)


def test_typicality_is_highest_in_the_dense_middle():
    x = np.concatenate([np.random.default_rng(1).normal(size=(200, 2)), [[8.0, 8.0]]])
    t = typicality(x)
    assert t.argmin() == 200  # the outlier
    assert np.linalg.norm(x[t.argmax()]) < 0.7  # the densest point sits near the centre


def test_typical_covers_the_largest_unlabelled_clusters_with_their_middles():
    x, blob = _blobs()
    s = acq.select("typical", 3, features=x, rng=0)
    assert sorted(blob[s.indices].tolist()) == [0, 1, 2]  # one per blob
    assert np.all(np.linalg.norm(x[s.indices] - x[s.indices].round(-1), axis=1) < 1.0)  # near each centre
    # with the largest blob labelled, two picks go to the two others
    s = acq.select("typical", 2, features=x, exclude=np.arange(5), rng=0)
    assert sorted(blob[s.indices].tolist()) == [1, 2]


def test_mixture_picks_in_the_components_with_fewest_labels():
    x, blob = _blobs()
    resp = np.eye(3)[blob] * 0.9 + 0.1 / 3
    labelled = np.concatenate([np.arange(3), 300 + np.arange(2)])  # blob 0: 3 labels, blob 1: 2, blob 2: none
    s = acq.select("mixture", 3, features=x, resp=resp, exclude=labelled, rng=0)
    # fewest labels first (blob 2 twice), then at a tie (2 and 2) the heavier component (blob 1)
    assert blob[s.indices].tolist() == [2, 2, 1]
    assert not np.isin(s.indices, labelled).any()
    with pytest.raises(acq.AcquisitionError, match="resp"):
        acq.select("mixture", 2, features=x, rng=0)


def test_auto_switches_from_covering_to_uncertainty_at_the_stated_count():
    x, blob = _blobs()
    resp = np.eye(3)[blob]
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=len(x))
    switch = acq.AUTO_PER_CLASS * 3
    assert acq.auto_phase(switch - 1, 3) == "typical" and acq.auto_phase(switch, 3) == "margin+kcenter"
    for n_lab, phase in ((switch - 1, "typical"), (switch, "margin+kcenter")):
        lab = np.arange(n_lab)
        got = acq.select("auto", 4, probs=probs, features=x, resp=resp, exclude=lab, rng=0)
        want = acq.select(phase, 4, probs=probs, features=x, resp=resp, exclude=lab, rng=0)
        assert got.strategy == "auto" and got.indices.tolist() == want.indices.tolist()
    assert acq.required_inputs("auto") == {"probs", "features"}
