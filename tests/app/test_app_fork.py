"""Fork and steer from the dashboard: the Checkpoints panel branches with changes, loads the branch
(a new auxiliary head means a new backend), shows the tree, and Start continues the branch."""

from __future__ import annotations

import numpy as np
import pytest

from app.callbacks.checkpoints import checkpoint_outputs
from app.testing import app_state
from engine.stores.checkpoints import CheckpointStore
from tests.helpers import tiny_config_dict

CHANGES = "loss.alpha=2.5\ntasks=[{name: ink, kind: regression, target: ink, input: 'z[0:2]', weight: 1}]"
TRAIN = {"steps": 20, "lr": 0.001, "alpha": 2.5, "beta": 1, "gamma": 1, "consistency": 1, "refresh_every": 10}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(tmp_path_factory.mktemp("home"), 300, 100, from_dict(tiny_config_dict(steps=20))) as st:
        yield st


def test_fork_with_changes_loads_the_branch_and_training_continues_it(state):
    assert "saved" in str(checkpoint_outputs(state, "btn-ckpt-save", None, "root")["message"])
    parent_files = CheckpointStore().load("root").weights
    out = checkpoint_outputs(state, "btn-ckpt-fork", "root", "inky", CHANGES)
    msg = str(out["message"])
    assert "branched 'root'" in msg and "loss.alpha: 1.0 -> 2.5" in msg and "tasks.ink" in msg, msg
    assert out["alpha"] == 2.5  # the training form shows the branch's weights
    tr = state.session.trainer
    assert tr.cfg.loss.alpha == 2.5 and [h.name for h in tr.cfg.model.aux] == ["ink"]
    assert "task.ink.out.weight" in tr.backend.get_weights()
    tree = str(out["tree"])
    assert tree.index("root") < tree.index("inky") and "1em" in tree
    assert state.session.start_from_panel(TRAIN) == {}
    assert state.session.wait(120)
    state.session.drain()
    assert state.session.state == "finished", state.session.error
    meta = CheckpointStore().load("inky").meta
    assert meta["step"] == tr.step > 0 and meta["fork"]["diff"]["loss.alpha"] == {"from": 1.0, "to": 2.5}
    assert meta["config"]["tasks"][0]["name"] == "ink"
    for k, v in CheckpointStore().load("root").weights.items():
        np.testing.assert_array_equal(parent_files[k], v)  # the parent is untouched
    # The viewer follows the branch's model (its reconstructions need the head-carrying weights).
    assert state.viewer.reconstruct(0) is not None


def test_fork_refuses_an_architecture_change_and_keeps_the_model(state):
    out = checkpoint_outputs(state, "btn-ckpt-fork", "root", "wide", "model.latent_dim=12")
    assert "architecture" in str(out["message"]) and "text-danger" in str(out["message"])
    assert "wide" not in CheckpointStore().names()
    out = checkpoint_outputs(state, "btn-ckpt-fork", "root", "bad", "loss.alpha")
    assert "KEY=VALUE" in str(out["message"])
