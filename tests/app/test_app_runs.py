"""The Runs page without a browser: RunBrowser (app/services/runs.py) on a real experiment run and on
fabricated run directories (good, malformed, simulated), and the bodies of app/callbacks/runs.py."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml
from dash import no_update

from app.callbacks.runs import (
    runs_compare_outputs,
    runs_fork_outputs,
    runs_open_outputs,
    runs_sort_outputs,
    runs_table_outputs,
)
from app.testing import app_state
from engine.errors import CheckpointError
from engine.images import png_bytes
from engine.reports.curves import pyplot, save_figure, write_csv
from engine.reports.rundir import RunDirError
from engine.stores.checkpoints import CheckpointExistsError, CheckpointStore
from latentloop.cli import main
from tests.helpers import tiny_config_dict

GOOD = "experiments/good-20260101-120000"
BROKEN = "experiments/broken-20250101-120000"
SIM = "simulate/20260102-080000"


def write_experiment(
    root: Path, rid: str, labels: int, acc: float, backend: str, steps: int, plot: bool = False
) -> Path:
    """A run directory as `latentloop experiment` writes it, without the training (or checkpoint);
    ``plot``: a real loss plot (matplotlib) instead of a tiny grey PNG."""
    d = root / rid
    d.mkdir(parents=True)
    ticks = range(10, steps + 1, 10)
    evals = [{"step": s, "test_acc": acc * (1 - np.exp(-s / (steps / 4))), "tau_acc": acc * s / steps} for s in ticks]
    metrics = {"step": steps, "test_acc": acc, "split": "validation", "labels": labels, "backend": backend}
    (d / "metrics.json").write_text(json.dumps({**metrics, "evaluations": evals}))
    history = [{"step": s, "loss": 5 / s**0.5, "rec": 2 / s**0.5, "sup": 1 / s} for s in ticks]
    write_csv(d / "history.csv", history)
    if plot:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot(ticks, [r["loss"] for r in history])
        save_figure(plt, fig, d / "loss.png")
    else:
        (d / "loss.png").write_bytes(png_bytes(np.linspace(0, 1, 64).reshape(8, 8)))
    (d / "REPORT.md").write_text(f"# Experiment {rid}\n\n![losses](loss.png)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    return d


def write_simulation(root: Path, rid: str) -> Path:
    d = root / rid
    d.mkdir(parents=True)
    rows = [
        (s, r, 10 + 5 * r, 0.3 + 0.1 * r + (0.05 if s == "entropy" else 0))
        for s in ("random", "entropy")
        for r in range(3)
    ]
    (d / "curve.csv").write_text(
        "seed,strategy,round,labels,test_acc,tau_acc,step,seconds\n"
        + "".join(f"0,{s},{r},{n},{a},{a},{20 + 10 * r},1.0\n" for s, r, n, a in rows)
    )
    (d / "summary.json").write_text(json.dumps({"entropy": {"final_acc": {"mean": 0.55}}}))
    (d / "curve.png").write_bytes(png_bytes(np.zeros((4, 4))))
    return d


def tree_digest(path: Path) -> str:
    """A hash of every file under ``path`` (names and bytes): "untouched" means equal digests."""
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.name != ".lock":
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """An AppState whose artifacts/ holds a real tiny experiment run ("real") and fabricated runs."""
    from engine.config import from_dict

    home = tmp_path_factory.mktemp("runs")
    cfg = tiny_config_dict(steps=40, eval_every=20)
    with app_state(home, 300, 100, from_dict(cfg)) as st:
        (home / "tiny.yaml").write_text(yaml.safe_dump(cfg))
        assert (
            main(
                [
                    "experiment",
                    "-c",
                    str(home / "tiny.yaml"),
                    "--name",
                    "real",
                    "--labels-per-class",
                    "2",
                    "--no-progress",
                ]
            )
            == 0
        )
        root = home / "artifacts"
        write_experiment(root, GOOD, 50, 0.9, "jax", 100)
        broken = write_experiment(root, BROKEN, 10, 0.5, "torch", 30)
        (broken / "metrics.json").write_text('{"step": 30, "test_acc": ')  # cut off mid-write
        (broken / "notes.png").write_text("not a png")
        write_simulation(root, SIM)
        yield st


def _real(state) -> str:
    return next(r.id for r in state.runs.scan() if r.name == "real")


def test_rows_read_every_kind_and_sort_by_every_column(state):
    rows = {r.id: r for r in state.runs.rows()}
    real = rows[_real(state)]
    assert (real.kind, real.labels, real.steps, real.backend, real.accuracy_of) == (
        "experiment",
        20,
        40,
        "torch",
        "test",
    )
    assert 0.0 <= real.accuracy <= 1.0 and not real.error
    good = rows[GOOD]
    assert (good.name, good.date, good.accuracy, good.accuracy_of) == ("good", "2026-01-01 12:00:00", 0.9, "validation")
    sim = rows[SIM]
    assert (sim.kind, sim.name, sim.labels, sim.steps, sim.backend) == ("simulate", "random vs entropy", 20, 40, None)
    assert sim.accuracy == pytest.approx(0.55) and sim.accuracy_of == "test, entropy final"

    def order(by: str, desc: bool) -> list[str]:
        return [r.id for r in state.runs.rows(by, desc)]

    real_id = _real(state)
    assert order("name", False) == [BROKEN, GOOD, SIM, real_id] and order("name", True) == [real_id, SIM, GOOD, BROKEN]
    by_acc = sorted((GOOD, SIM, real_id), key=lambda i: rows[i].accuracy, reverse=True)
    assert order("accuracy", True) == [*by_acc, BROKEN] and order("accuracy", False) == [*by_acc[::-1], BROKEN]
    assert order("labels", True) == [GOOD, real_id, SIM, BROKEN] and order("labels", False) == [
        SIM,
        real_id,
        GOOD,
        BROKEN,
    ]
    assert order("steps", True) == [GOOD, real_id, SIM, BROKEN] and order("steps", False) == [
        SIM,
        real_id,
        GOOD,
        BROKEN,
    ]
    assert order("backend", False) == [GOOD, real_id, SIM, BROKEN] and order("backend", True)[:2] == [real_id, GOOD]
    assert order("date", True)[0] == _real(state) and order("date", False)[0] == BROKEN
    with pytest.raises(RunDirError, match="cannot sort"):
        state.runs.rows("path")


def test_rows_are_cached_by_modification_time(state):
    first = {r.id: r for r in state.runs.scan()}
    assert all(first[r.id] is r for r in state.runs.scan())  # nothing changed: nothing re-read
    good = Path(first[GOOD].path) / "metrics.json"
    data = json.loads(good.read_text())
    try:
        good.write_text(json.dumps({**data, "labels": 77}))  # in place: the directory's time may stay
        assert {r.id: r for r in state.runs.scan()}[GOOD].labels == 77
        assert {r.id: r for r in state.runs.scan(force=True)}[SIM] is not first[SIM]
    finally:
        good.write_text(json.dumps(data))


def test_a_malformed_run_is_shown_with_its_problem_and_the_rest_still_listed(state):
    rows = {r.id: r for r in state.runs.rows()}
    assert "metrics.json is malformed" in rows[BROKEN].error and rows[BROKEN].accuracy is None
    assert all(not rows[i].error for i in (GOOD, SIM, _real(state)))
    view = state.runs.open(BROKEN)
    assert any("metrics.json is malformed" in p for p in view.problems)
    assert any(p.startswith("notes.png: not a PNG") for p in view.problems)
    assert [name for name, _ in view.plots] == ["loss.png"] and view.plots[0][1].startswith("data:image/png;base64,")
    out = runs_table_outputs(state, "url", "/runs", {"by": "accuracy", "desc": True}, [])
    assert "metrics.json is malformed" in str(out["table"]) and "1 with problems" in out["status"]
    series, notes = state.runs.curves([BROKEN, GOOD], "accuracy")
    assert [s.name.split(" ·")[0] for s in series] == ["good"] and "metrics.json is malformed" in notes[0]
    # a simulation whose curve.csv went bad
    bad_sim = Path(rows[SIM].path).parent / "20260103-080000"
    bad_sim.mkdir()
    try:
        (bad_sim / "curve.csv").write_text("seed,strategy,labels,test_acc\n0,random,ten,0.5\n")
        row = {r.id: r for r in state.runs.rows()}["simulate/20260103-080000"]
        assert row.error == "curve.csv line 2: labels is not a number" and row.name == "20260103-080000"
    finally:
        (bad_sim / "curve.csv").unlink()
        bad_sim.rmdir()
    with pytest.raises(RunDirError, match="no run"):
        state.runs.open("experiments/../../etc")


def test_open_shows_plots_config_metrics_and_the_report(state):
    view = state.runs.open(_real(state))
    figures = ["calibration.png", "components.png", "confusion.png", "curves.png", "latent_map.png", "tau.png"]
    assert [n for n, _ in view.plots] == figures and view.checkpoint == "real"
    assert json.loads(view.config)["model"]["latent_dim"] == 8
    metrics = dict(view.metrics)
    assert metrics["labels"] == "20" and metrics["evaluations"] == "2 entries" and metrics["backend"] == "torch"
    assert (
        "# Experiment real" in view.report and "](curves.png)" not in view.report and "plot curves.png" in view.report
    )
    sim = state.runs.open(SIM)
    assert sim.checkpoint is None and sim.config == "" and dict(sim.metrics)["entropy.final_acc.mean"] == "0.55"
    out = runs_open_outputs(
        state, {"type": "runs-open", "run": _real(state)}, [1], [{"type": "runs-open", "run": _real(state)}]
    )
    assert out["run"] == _real(state) and out["name"] == "real-fork" and "data:image/png;base64," in str(out["view"])
    assert out["fork"] is False
    assert runs_open_outputs(state, {"type": "runs-open", "run": SIM}, [1], [{"type": "runs-open", "run": SIM}])["fork"]
    # the name buttons drawn again (no click yet) change nothing
    again = runs_open_outputs(state, {"type": "runs-open", "run": GOOD}, [None], [{"type": "runs-open", "run": GOOD}])
    assert all(v is no_update for v in again.values())


def test_compare_two_runs_gives_two_series(state):
    ids = [{"type": "runs-pick", "run": i} for i in (_real(state), GOOD, SIM)]
    out = runs_compare_outputs(state, [True, True, False], ids, "accuracy")
    assert out["selected"] == [_real(state), GOOD]
    fig = out["figure"]
    assert len(fig["data"]) == 2 and fig["data"][1]["x"] == [float(s) for s in range(10, 101, 10)]
    assert [t["name"].split(" ·")[0] for t in fig["data"]] == ["real", "good"] and out["note"] == ""
    loss = runs_compare_outputs(state, [True, True, True], ids, "loss")
    assert len(loss["figure"]["data"]) == 2 and "random vs entropy (simulate): no total loss" in loss["note"]
    by_labels = runs_compare_outputs(state, [False, False, True], ids, "labels")
    assert [t["name"].split(" ·")[0] for t in by_labels["figure"]["data"]] == ["random", "entropy"]
    assert by_labels["figure"]["data"][1]["x"] == [10.0, 15.0, 20.0] and "tick two or more" in by_labels["note"]
    assert runs_compare_outputs(state, [], [], "accuracy")["figure"]["data"] == []


def test_table_callback_reads_on_the_runs_page_only_and_sort_headers_toggle(state):
    assert all(v is no_update for v in runs_table_outputs(state, "url", "/", None, []).values())
    assert all(v is no_update for v in runs_table_outputs(state, None, "/model", None, []).values())
    out = runs_table_outputs(state, "runs-refresh", "/", {"by": "name", "desc": False}, [GOOD])
    assert out["status"].startswith("4 runs: 3 experiments, 1 simulations") and "Name ▲" in str(out["table"])
    head = {"type": "runs-sort", "col": "accuracy"}
    ids = [{"type": "runs-sort", "col": c} for c in ("name", "accuracy")]
    assert runs_sort_outputs(head, [None, 1], ids, {"by": "name", "desc": False}) == {"by": "accuracy", "desc": True}
    assert runs_sort_outputs(head, [None, 2], ids, {"by": "accuracy", "desc": True}) == {
        "by": "accuracy",
        "desc": False,
    }
    assert runs_sort_outputs({"type": "runs-sort", "col": "name"}, [1, 2], ids, None) == {"by": "name", "desc": False}
    assert runs_sort_outputs(head, [None, None], ids, None) is no_update  # headers redrawn, not clicked


def test_fork_copies_under_a_new_name_loads_it_and_touches_nothing_else(state):
    real = _real(state)
    src = Path(state.runs.open(real).row.path)
    store = CheckpointStore()
    state.ckpt.save(state.session.checkpoint)  # the shared checkpoint the app started with
    shared_name = state.session.checkpoint
    before_src, before_shared = tree_digest(src), tree_digest(store.path(shared_name))

    out = runs_fork_outputs(state, real, "from-run")
    assert "loaded checkpoint 'from-run' (step 40)" in str(out["message"]) and "text-success" in str(out["message"])
    assert out["value"] == "from-run" and out["version"] == {"version": state.cache.version}
    assert any(o["value"] == "from-run" for o in out["options"])
    fork = store.load("from-run")
    source = CheckpointStore(src / "checkpoints").load("real")
    assert fork.meta["parent"] == f"artifacts/{real}" and fork.meta["name"] == "from-run"
    assert all(np.array_equal(fork.weights[k], source.weights[k]) for k in source.weights)
    assert state.session.checkpoint == "from-run" and state.session.step == 40  # Save now writes the fork

    # an existing name is refused, the fork and the shared checkpoint stay as they were
    fork_digest = tree_digest(store.path("from-run"))
    for taken in ("from-run", shared_name):
        with pytest.raises(CheckpointExistsError, match="already exists"):
            state.runs.fork(real, taken)
    refused = runs_fork_outputs(state, real, shared_name)
    assert "already exists" in str(refused["message"]) and "text-danger" in str(refused["message"])
    assert refused["version"] is no_update
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        state.runs.fork(real, "../x")
    with pytest.raises(RunDirError, match="no checkpoint"):
        state.runs.fork(GOOD, "good-fork")
    assert "open a run first" in str(runs_fork_outputs(state, None, "x")["message"])
    assert tree_digest(src) == before_src and tree_digest(store.path(shared_name)) == before_shared
    assert tree_digest(store.path("from-run")) == fork_digest


def test_fork_while_training_runs_says_so_and_leaves_no_copy(state):
    stop = threading.Event()
    state.session._thread = threading.Thread(target=stop.wait, daemon=True)  # a run in progress
    state.session._thread.start()
    try:
        out = runs_fork_outputs(state, _real(state), "while-training")
    finally:
        stop.set()
        state.session._thread.join()
        state.session._thread = None
    assert "stop training first" in str(out["message"]) and out["version"] is no_update
    assert not CheckpointStore().exists("while-training")


def test_fork_of_a_run_with_another_model_is_refused_and_leaves_no_copy(state):
    import shutil

    src = Path(state.runs.open(_real(state)).row.path)
    other = src.parent / "wider-20260105-000000"
    shutil.copytree(src, other)
    try:
        meta_file = other / "checkpoints" / "real.ckpt" / "meta.json"
        meta = json.loads(meta_file.read_text())
        meta["model"]["hidden"] = 65
        meta_file.write_text(json.dumps(meta))
        out = runs_fork_outputs(state, "experiments/wider-20260105-000000", "wider")
        assert "different model config" in str(out["message"]) and out["version"] is no_update
        assert not CheckpointStore().exists("wider")
    finally:
        shutil.rmtree(other)
