"""One ranking for `latentloop suggest` and the dashboard's queue (engine.analysis.ranking.rank_unlabelled)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from app.presenter import views
from app.testing import app_state
from engine.analysis.acquisition import STRATEGIES, entropy
from engine.analysis.ranking import rank_unlabelled
from latentloop.cli import main
from tests.helpers import tiny_config_dict


def test_suggest_and_the_dashboard_queue_rank_alike(home: Path, capsys):
    """Same checkpoint, same labels, same strategy: the same 20 Serials in the same order."""
    from engine.config import from_dict

    raw = tiny_config_dict(steps=30, eval_every=30)
    cfg_file = home / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))
    assert main(["label", "seed", "--dataset", "synth", "--per-class", "2"]) == 0
    assert main(["train", "-c", str(cfg_file), "--no-progress"]) == 0
    capsys.readouterr()
    cli = {}
    for strategy in STRATEGIES:
        assert main(["suggest", "-c", str(cfg_file), "-s", strategy, "-k", "20", "--format", "json"]) == 0
        cli[strategy] = [r["serial"] for r in json.loads(capsys.readouterr().out)]
    with app_state(home, 600, 200, from_dict(raw), workers=False, queue_size=20) as state:
        assert state.has_checkpoint
        for strategy in STRATEGIES:
            queue = [c.serial for c in views.queue_view(state, strategy).items]
            assert len(queue) == 20 and queue == cli[strategy], strategy


@pytest.fixture
def outputs():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.5, size=300)
    features = rng.normal(size=(300, 3))
    labelled = np.zeros(300, bool)
    labelled[rng.choice(300, 30, replace=False)] = True
    return probs, features, labelled


def test_mc_strategies_score_the_most_entropic_shortlist(outputs):
    probs, features, labelled = outputs
    asked = []

    def mc(serials):
        asked.append(serials)
        return np.stack([probs[serials]] * 3)

    sel = rank_unlabelled("bald+kcenter", 5, probs=probs, features=features, labelled=labelled, mc=mc, mc_pool=50)
    free = np.flatnonzero(~labelled)
    expected = np.sort(free[np.argsort(-entropy(probs[free]), kind="stable")[:50]])
    assert len(asked) == 1 and np.array_equal(asked[0], expected)
    assert len(sel) == 5 and set(sel.indices) <= set(expected)


@pytest.mark.parametrize("strategy", ["entropy", "kcenter", "random", "margin+kcenter"])
def test_never_ranks_labelled_samples_and_respects_the_pool(outputs, strategy):
    probs, features, labelled = outputs
    pool = np.arange(0, 300, 3)
    sel = rank_unlabelled(strategy, 20, probs=probs, features=features, labelled=labelled, pool=pool)
    assert len(sel) == 20 and not labelled[sel.indices].any() and set(sel.indices) <= set(pool)


def test_mc_strategies_need_mc_predictions(outputs):
    probs, features, labelled = outputs
    with pytest.raises(ValueError, match="MC-dropout"):
        rank_unlabelled("bald", 5, probs=probs, features=features, labelled=labelled)
    empty = rank_unlabelled("bald", 5, probs=probs, features=features, labelled=np.ones(300, bool))
    assert len(empty) == 0
