"""Fork and steer (engine/training/fork.py, `latentloop ckpt fork/tree`, `train --resume` of a branch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.errors import CheckpointError
from engine.stores.checkpoints import CheckpointStore
from engine.training.fork import apply_sets, branch_tree, config_diff
from latentloop.cli import main
from tests.helpers import tiny_config_dict

INK = {"name": "ink", "kind": "regression", "target": "ink", "input": "z[0:2]", "weight": 2.0}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _files(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


@pytest.fixture
def parent(home: Path, capsys) -> Path:
    cfg = home / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_config_dict(steps=30, eval_every=1000), "tasks": [{**INK, "weight": 0.0}]}))
    assert run(capsys, "label", "seed", "--dataset", "synth", "--per-class", "3")[0] == 0
    assert run(capsys, "train", "-c", str(cfg), "--checkpoint", "base", "--no-progress")[0] == 0
    return home / "artifacts/checkpoints/base.ckpt"


def test_fork_changes_a_weight_and_continues_leaving_the_parent_alone(home, parent, capsys):
    before = _files(parent)
    code, out, _ = run(capsys, "ckpt", "fork", "base", "strong", "--set", "loss.alpha=3", "--set", "train.lr=0.002")
    assert code == 0 and "loss.alpha: 1.0 -> 3" in out
    meta = json.loads((home / "artifacts/checkpoints/strong.ckpt/meta.json").read_text())
    assert meta["parent"] == "base"
    assert meta["fork"] == {
        "parent": "base",
        "step": 30,
        "diff": {"loss.alpha": {"from": 1.0, "to": 3.0}, "train.lr": {"from": 0.001, "to": 0.002}},
    }
    assert meta["config"]["loss"]["alpha"] == 3.0 and meta["config"]["train"]["checkpoint"] == "strong"
    code, out, _ = run(capsys, "train", "--checkpoint", "strong", "--resume", "--steps", "45", "--no-progress")
    assert code == 0 and "steps 30 -> 45" in out
    meta = json.loads((home / "artifacts/checkpoints/strong.ckpt/meta.json").read_text())
    assert meta["step"] == 45 and meta["config"]["loss"]["alpha"] == 3.0 and meta["fork"]["step"] == 30
    steps = [r["step"] for r in meta["history"]]
    assert steps == sorted(steps) and steps[0] <= 30 < steps[-1] == 45  # the parent's curve, then the branch's
    assert meta["evaluations"][-1]["step"] == 45 and "test_acc" in meta["evaluations"][-1]
    assert _files(parent) == before  # the parent is never written


def test_fork_adds_and_removes_an_auxiliary_head(home, parent, capsys):
    store = CheckpointStore()
    tasks = yaml.safe_dump([INK], default_flow_style=True).strip()
    assert run(capsys, "ckpt", "fork", "base", "aux", "--set", f"tasks={tasks}")[0] == 0
    ck = store.load("aux")
    assert ck.meta["fork"]["diff"] == {"tasks.ink.weight": {"from": 0.0, "to": 2.0}}
    assert ck.weights["task.ink.out.weight"].shape == (1, 2)
    assert not ck.optimizer["adam.m.task.ink.out.weight"].any()
    base = store.load("base")
    for k, v in base.weights.items():
        np.testing.assert_array_equal(ck.weights[k], v)
    code, _, _ = run(capsys, "train", "--checkpoint", "aux", "--resume", "--steps", "40", "--no-progress")
    assert code == 0
    trained = store.load("aux")
    assert np.abs(trained.weights["task.ink.out.weight"] - ck.weights["task.ink.out.weight"]).max() > 0
    # and back: a branch of the branch without the task has no head
    assert run(capsys, "ckpt", "fork", "aux", "plain", "--set", "tasks=[]")[0] == 0
    plain = store.load("plain")
    assert not [k for k in plain.weights if k.startswith("task.")]
    assert not [k for k in plain.optimizer if ".task." in k]
    assert plain.meta["fork"]["diff"]["tasks.ink"]["to"] is None
    assert run(capsys, "train", "--checkpoint", "plain", "--resume", "--steps", "45", "--no-progress")[0] == 0


def test_fork_refuses_another_architecture_and_bad_settings(home, parent, capsys):
    code, _, err = run(capsys, "ckpt", "fork", "base", "wide", "--set", "model.latent_dim=12")
    assert code == 2 and "architecture" in err and "model.latent_dim" in err
    code, _, err = run(capsys, "ckpt", "fork", "base", "bad", "--set", "loss.alpha")
    assert code == 2 and "KEY=VALUE" in err
    code, _, err = run(capsys, "ckpt", "fork", "base", "bad", "--set", "loss.alpha=-1")
    assert code == 2 and "loss.alpha" in err
    code, _, err = run(capsys, "ckpt", "fork", "base", "base")
    assert code == 2 and "onto itself" in err
    assert sorted(CheckpointStore().names()) == ["base"]


def test_tree_lists_branches_under_their_parents(home, parent, capsys):
    assert run(capsys, "ckpt", "fork", "base", "b1", "--set", "loss.alpha=2")[0] == 0
    assert run(capsys, "ckpt", "fork", "b1", "b11", "--set", "loss.alpha=4")[0] == 0
    assert run(capsys, "ckpt", "fork", "base", "b2")[0] == 0
    code, out, _ = run(capsys, "ckpt", "tree")
    names = [line.strip().removeprefix("└ ").split()[0] for line in out.splitlines()]
    assert code == 0 and names == ["base", "b1", "b11", "b2"]
    depth = {line.strip().removeprefix("└ ").split()[0]: len(line) - len(line.lstrip()) for line in out.splitlines()}
    assert depth["base"] == 0 and depth["b1"] == depth["b2"] == 2 and depth["b11"] == 4


def test_branch_tree_orphans_and_cycles_still_listed() -> None:
    rows = [
        {"name": "a", "parent": None, "created": "1"},
        {"name": "c", "parent": "gone", "created": "0"},
        {"name": "x", "parent": "y", "created": "2"},
        {"name": "y", "parent": "x", "created": "3"},
        {"name": "b", "parent": "a", "created": "4"},
    ]
    got = [(d, r["name"]) for d, r in branch_tree(rows)]
    assert got[:3] == [(0, "c"), (0, "a"), (1, "b")]
    assert sorted(n for _, n in got) == ["a", "b", "c", "x", "y"]


def test_config_diff_compares_tasks_by_name() -> None:
    old = {"loss": {"alpha": 1.0}, "model": {"aux": []}, "tasks": [INK, {**INK, "name": "gone"}]}
    new = {"loss": {"alpha": 1.0}, "model": {"aux": ["x"]}, "tasks": [{**INK, "input": "q"}, {**INK, "name": "new"}]}
    assert config_diff(old, new) == {
        "tasks.gone": {"from": {**INK, "name": "gone"}, "to": None},
        "tasks.ink.input": {"from": "z[0:2]", "to": "q"},
        "tasks.new": {"from": None, "to": {**INK, "name": "new"}},
    }


def test_apply_sets_copies_and_parses_yaml() -> None:
    raw = {"loss": {"alpha": 1.0}}
    out = apply_sets(raw, ["loss.alpha=2.5", "curriculum.phase_weights={refinement: {alpha: 3}}"])
    assert raw == {"loss": {"alpha": 1.0}}
    assert out == {"loss": {"alpha": 2.5}, "curriculum": {"phase_weights": {"refinement": {"alpha": 3}}}}
    with pytest.raises(Exception, match="not a section"):
        apply_sets(raw, ["loss.alpha.x=1"])


def test_fork_of_a_missing_checkpoint_is_a_clear_error(home) -> None:
    from engine.config import from_dict
    from engine.training.fork import fork_branch

    with pytest.raises(CheckpointError, match="not found"):
        fork_branch(CheckpointStore(), "nope", "x", from_dict(tiny_config_dict()))
