"""Branches on the Runs page (app/services/branches.py): checkpoints listed as runs, their curves
from meta.json's history, what a fork changed, and probe results side by side."""

from __future__ import annotations

import json
import time

import pytest
from dash import no_update

from app.callbacks.runs import runs_compare_outputs, runs_open_outputs, runs_probe_outputs
from app.testing import app_state
from engine.config import from_dict
from engine.stores.checkpoints import CheckpointStore
from engine.training.fork import fork_branch
from tests.helpers import tiny_config_dict

PICK = {"type": "runs-pick"}


def _probe_doc(name: str, step: int, r2: float, acc: float) -> dict:
    return {
        "checkpoint": name,
        "step": step,
        "probes": [
            {"name": "ink", "kind": "regression", "metrics": {"r2": r2, "mae": 0.1, "cv_score": r2}},
            {"name": "digit", "kind": "classification", "metrics": {"accuracy": acc, "cv_score": acc}},
        ],
    }


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    home = tmp_path_factory.mktemp("branches")
    with app_state(home, 300, 100, from_dict(tiny_config_dict(steps=20, eval_every=10))) as st:
        st.session.start_from_panel(
            {"steps": 20, "lr": 0.001, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 1, "refresh_every": 10}
        )
        assert st.session.wait(120)
        st.ckpt.save("trunk")
        store = CheckpointStore()
        cfg = from_dict({**tiny_config_dict(steps=20, eval_every=10), "loss": {"alpha": 3.0}})
        fork_branch(store, "trunk", "twig", cfg)
        probes = home / "artifacts" / "probes"
        probes.mkdir(parents=True)
        (probes / "trunk-step20.json").write_text(json.dumps(_probe_doc("trunk", 20, 0.4, 0.7)))
        (probes / "trunk-step10.json").write_text(json.dumps(_probe_doc("trunk", 10, 0.1, 0.5)))  # older
        (probes / "twig-step20.json").write_text(json.dumps(_probe_doc("twig", 20, 0.8, 0.9)))
        yield st


def _ids(state) -> dict[str, str]:
    return {r.name: r.id for r in state.runs.scan() if r.kind == "branch"}


def test_checkpoints_are_listed_as_branch_runs(state):
    rows = {r.name: r for r in state.runs.scan() if r.kind == "branch"}
    assert set(rows) == {"ssvae", "trunk", "twig"}  # ssvae: saved at the end of the run
    assert rows["trunk"].steps == 20 and rows["trunk"].backend == "torch" and rows["trunk"].accuracy is not None
    assert rows["twig"].id == "checkpoints/twig.ckpt" and not rows["twig"].error


def test_a_branch_opens_with_its_fork_record_and_newest_probes(state):
    ids = _ids(state)
    view = state.runs.open(ids["twig"])
    assert "A branch of **trunk** forked at step 20." in view.report
    assert "`loss.alpha`: 1.0 -> 3.0" in view.report
    metrics = dict(view.metrics)
    assert metrics["probes.ink.r2"] == "0.8" and metrics["fork.parent"] == "trunk"
    assert '"alpha": 3.0' in view.config
    assert dict(state.runs.open(ids["trunk"]).metrics)["probes.ink.r2"] == "0.4"  # step 20, not 10
    out = runs_open_outputs(
        state, {"type": "runs-open", "run": ids["twig"]}, [1], [{"type": "runs-open", "run": ids["twig"]}]
    )
    assert out["fork"] is True and "twig" in str(out["view"])


def test_two_branches_compare_curves_and_probes_side_by_side(state):
    ids = _ids(state)
    picks = [{"type": "runs-pick", "run": ids["trunk"]}, {"type": "runs-pick", "run": ids["twig"]}]
    out = runs_compare_outputs(state, [True, True], picks, "loss")
    traces = out["figure"]["data"]
    assert len(traces) == 2 and all(len(t["x"]) >= 2 for t in traces)
    assert traces[0]["y"] == traces[1]["y"]  # the branch's curve is its parent's up to the fork
    names, rows = state.runs.probe_table([ids["trunk"], ids["twig"]])
    assert names == ["trunk", "twig"]
    assert dict(rows)["ink.r2"] == [0.4, 0.8] and dict(rows)["digit.accuracy"] == [0.7, 0.9]
    table = str(out["probes"])
    assert "ink.r2" in table and "0.8" in table and "0.4" in table
    acc = runs_compare_outputs(state, [True, True], picks, "accuracy")["figure"]["data"]
    assert len(acc) == 2 and acc[0]["x"][-1] == 20


def test_probe_button_runs_in_the_background_and_the_table_follows(state, tmp_path):
    ids = _ids(state)
    probes = CheckpointStore().root.parent / "probes"
    calls = []

    def fake_probe(name: str) -> None:
        calls.append(name)
        time.sleep(0.2)
        if name == "twig":
            raise RuntimeError("no tasks in twig")
        (probes / f"{name}-step99.json").write_text(json.dumps(_probe_doc(name, 99, 0.95, 0.99)))

    state.runs.prober.probe = fake_probe
    out = runs_probe_outputs(state, "runs-probe", [ids["trunk"], ids["twig"]])
    assert "probing trunk, twig" in out["status"] and out["poll"] is False and out["probes"] is no_update
    assert "already probing" in runs_probe_outputs(state, "runs-probe", [ids["trunk"]])["status"]
    for _ in range(100):
        out = runs_probe_outputs(state, "runs-probe-poll", [ids["trunk"], ids["twig"]])
        if out["poll"]:
            break
        time.sleep(0.05)
    assert out["poll"] is True and calls == ["trunk", "twig"]
    assert "probed trunk" in out["status"] and "twig: RuntimeError: no tasks in twig" in out["status"]
    assert "0.95" in str(out["probes"])
    assert "tick one or more" in state.runs.probe([])
