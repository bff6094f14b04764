"""The Probes panel below the browser: probe runs at each map version on the service's own thread,
metrics per step, adding / changing / removing probes through the trainer's command queue while a
run is alive, errors shown without losing anything, and the "Probe" colour mode's payload."""

from __future__ import annotations

import base64
import dataclasses
import queue
import threading
import time

import numpy as np
import pytest

from app.callbacks import probes as probes_cb
from app.callbacks import sync as sync_cb
from app.layouts import probes as layout
from app.testing import app_state
from engine import events as ev
from engine.training.trainer import Embeddings
from tests.helpers import tiny_config_dict

N_TRAIN, N_TEST = 400, 100
TASKS = [
    {"name": "digit", "kind": "classification", "input": "z"},
    {"name": "ink_lo", "kind": "regression", "target": "ink", "input": "z[0:4]"},
    {"name": "ink_aux", "kind": "regression", "target": "ink", "input": "z[4:6]", "weight": 0.5},
]


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    cfg = from_dict({**tiny_config_dict(), "tasks": TASKS})
    with app_state(tmp_path_factory.mktemp("home"), N_TRAIN, N_TEST, cfg) as st:
        assert st.probes.wait(120)
        yield st


def publish(state, step: int, seed: int) -> None:
    """A new map version through the refresh pump, as a training refresh makes one: the digit class
    sits in mu's first dimensions, ink in its third, so the probes have something to find."""
    rng = np.random.default_rng(seed)
    y = state.dataset.targets
    n, d, k, c = len(y), state.ckpt.config.model.latent_dim, state.ckpt.config.model.components, state.num_classes
    from engine.datasets.attributes import dataset_attributes

    ink = dataset_attributes(state.dataset)["ink"]
    mu = rng.normal(0, 0.3, (n, d)).astype(np.float32)
    mu[:, 0] += y
    mu[:, 1] += (y % 3) * 2
    mu[:, 2] += (ink - ink.mean()) / ink.std() * 2
    resp = rng.dirichlet(np.ones(k), n).astype(np.float32)
    probs = np.eye(c, dtype=np.float32)[y] * 0.9 + 0.01
    state.pump.offer(Embeddings(step, step, mu, probs, resp), None, True)
    assert state.pump.wait(60)
    assert state.probes.wait(120)


def rows(state) -> dict:
    return {r.task.name: r for r in state.probes.view().rows}


def test_probes_run_on_each_new_map_version_on_their_own_thread(state, monkeypatch):
    import engine.analysis.probes

    threads: list[str] = []
    real = engine.analysis.probes.run_probes

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        assert kwargs.get("max_train") == state.probes.max_train
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.analysis.probes, "run_probes", spy)
    publish(state, 100, 1)
    publish(state, 200, 2)
    assert threads and set(threads) == {"probes"}  # never the pump, the training or a request thread
    view = state.probes.view()
    assert view.status == "idle" and view.step == 200 and view.version == state.cache.version
    r = rows(state)
    assert list(r) == ["digit", "ink_lo", "ink_aux"]  # every task, auxiliary ones too
    assert r["digit"].result.metrics["accuracy"] > 0.9
    assert r["ink_lo"].result.metrics["r2"] > 0.5 and "mae" in r["ink_lo"].result.metrics
    assert r["ink_aux"].result.metrics["r2"] < 0.5  # z[4:6] holds no ink
    steps, values = r["digit"].history["accuracy"]
    assert steps[-2:] == [100, 200] and len(values) == len(steps)
    assert "psnr" not in r["digit"].history


def test_a_newer_version_replaces_a_pending_run(state, monkeypatch):
    import engine.analysis.probes

    gate, seen = threading.Event(), []
    real = engine.analysis.probes.run_probes

    def slow(tasks, ds, mu, resp, **kw):
        seen.append(float(mu[0, 3]))
        gate.wait(30)
        return real(tasks, ds, mu, resp, **kw)

    monkeypatch.setattr(engine.analysis.probes, "run_probes", slow)
    v = state.cache.current
    marks = []
    for i in range(3):
        mu = np.array(v.mu)
        mu[0, 3] = 1000.0 + i
        marks.append(1000.0 + i)
        state.probes.submit(dataclasses.replace(v, version=v.version + 10 + i, mu=mu))
        deadline = time.time() + 60
        while i == 0 and not seen:  # the first run has started and blocks
            assert time.time() < deadline
            time.sleep(0.01)
        time.sleep(0.05)  # the second, still waiting, is then replaced by the third
    gate.set()
    assert state.probes.wait(120)
    assert marks[1] not in seen and marks[0] in seen and marks[2] in seen
    publish(state, 300, 3)  # back to a real version for the next tests


def test_add_change_remove_through_the_command_queue_while_training(state):
    from app.services.train_settings import TrainSettings

    sess, tr = state.session, state.session.trainer
    sent: list = []
    real_put = sess.commands.put
    sess.commands.put = lambda cmd, *a, **k: (sent.append(cmd), real_put(cmd, *a, **k))[1]
    try:
        sess.start(TrainSettings(steps=100_000, refresh_every=0, save_at_end=False))
        sess.pause()
        deadline = time.time() + 60
        while sess.drain() or sess.state != "paused":
            assert time.time() < deadline, sess.status()
            time.sleep(0.05)
        msg = state.probes.set_probe({"name": "slant_q", "kind": "regression", "target": "slant", "input": "q"})
        assert "added probe 'slant_q'" in msg and "sent to the training thread" in msg
        _until(lambda: [t.name for t in tr.cfg.tasks] == ["digit", "ink_lo", "ink_aux", "slant_q"])
        state.probes.set_probe({"name": "slant_q", "kind": "regression", "target": "slant", "input": "z[1:3]"})
        _until(lambda: tr.cfg.tasks[-1].input == "z[1:3]")
        msg = state.probes.remove_probe("slant_q")
        assert "removed probe 'slant_q'" in msg and "training thread" in msg
        _until(lambda: [t.name for t in tr.cfg.tasks] == ["digit", "ink_lo", "ink_aux"])
        probe_cmds = [type(c) for c in sent if isinstance(c, (ev.SetProbe, ev.RemoveProbe))]
        assert probe_cmds == [ev.SetProbe, ev.SetProbe, ev.RemoveProbe]
        assert tr.cfg.model.aux == state.ckpt.config.model.aux  # probes have no head: the model is the same
    finally:
        sess.commands.put = real_put
        if sess.active:
            sess.stop()
        assert sess.wait(60)
        sess.drain()
        assert state.pump.wait(60) and state.probes.wait(120)  # the run's final map is probed
    assert tr.cfg.tasks == state.probes.tasks


def _until(cond, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


def test_a_change_without_training_applies_directly_and_reruns_at_once(state):
    version = state.probes.view().version
    msg = state.probes.set_probe({"name": "com", "kind": "regression", "target": "com_x", "input": "z[2]"})
    assert "applied to the config" in msg
    assert [t.name for t in state.session.trainer.cfg.tasks][-1] == "com"
    assert state.probes.wait(120)
    r = rows(state)["com"]
    assert r.result is not None and state.probes.view().version == version  # the same map, no refresh
    assert "unchanged" in state.probes.set_probe(
        {"name": "com", "kind": "regression", "target": "com_x", "input": "z[2]"}
    )
    assert "removed" in state.probes.remove_probe("com")
    assert "com" not in rows(state) and "com" not in {t.name for t in state.session.trainer.cfg.tasks}


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"name": "wide", "kind": "regression", "target": "ink", "input": "z[8:12]"}, "latent_dim 8"),
        ({"name": "wide", "kind": "regression", "target": "ink", "input": "z[9]"}, "out of range"),
        ({"name": "wide", "kind": "regression", "target": "ink", "input": "w[0]"}, "input 'w[0]'"),
        ({"name": "wide", "kind": "classification", "target": "ink", "input": "z"}, "target is one of label"),
        ({"name": "Bad Name", "kind": "regression", "target": "ink", "input": "z"}, "lower-case"),
        ({"name": "ink_aux", "kind": "regression", "target": "ink", "input": "z"}, "fork"),
        ({"name": "", "kind": "regression", "target": "ink", "input": "z"}, "name"),
    ],
)
def test_a_bad_probe_is_refused_with_a_message_and_nothing_is_lost(state, form, says):
    before, history = state.probes.tasks, rows(state)["digit"].history
    out = probes_cb.apply_outputs(state, head="linear", **form)
    text = out["message"].children
    assert says in text and out["message"].className == "text-danger", text
    assert state.probes.tasks == before == state.session.trainer.cfg.tasks
    assert rows(state)["digit"].history == history


def test_removing_an_auxiliary_task_or_an_unknown_one_is_refused(state):
    assert "fork" in probes_cb.remove_outputs(state, "ink_aux")["message"].children
    assert "no task 'nope'" in probes_cb.remove_outputs(state, "nope")["message"].children
    assert [t.name for t in state.probes.tasks] == ["digit", "ink_lo", "ink_aux"]


def test_a_probe_that_fails_to_fit_shows_its_error_on_its_row(state, monkeypatch):
    import engine.analysis.probes

    real = engine.analysis.probes.run_probes

    def failing(tasks, *a, **kw):
        if tasks[0].name == "ink_lo":
            raise engine.analysis.probes.ProbeError("the fit did not converge")
        return real(tasks, *a, **kw)

    monkeypatch.setattr(engine.analysis.probes, "run_probes", failing)
    publish(state, 400, 4)
    r = rows(state)
    assert "did not converge" in r["ink_lo"].error and r["ink_lo"].result is None
    assert r["digit"].result is not None and not r["digit"].error
    html = str(layout.probes_table(state.probes.view()).to_plotly_json())
    assert "did not converge" in html
    monkeypatch.setattr(engine.analysis.probes, "run_probes", real)
    publish(state, 500, 5)
    assert rows(state)["ink_lo"].result is not None


def test_the_panel_table_and_the_sync(state):
    publish(state, 600, 6)
    out = sync(state, {}, mode="label")
    assert out["probe_colours"] is sync_cb.no_update  # only the Probe mode needs it
    html = str(out["probes_table"].to_plotly_json())
    for name in ("digit", "ink_lo", "ink_aux"):
        assert name in html
    assert html.count("data:image/svg+xml") >= 4  # a sparkline per metric with a history
    assert html.count("'probe-remove'") == 2  # probes only: the auxiliary task changes by forking
    assert {o["value"] for o in out["probe_options"]} >= {"digit|pred", "digit|target", "ink_lo|target"}
    again = sync(state, out["view"], mode="label")
    assert again["probes_table"] is sync_cb.no_update  # nothing new: nothing re-sent


def sync(state, view, mode, choice=None):
    out = sync_cb.sync_outputs(
        state, {"client": "p", "events": []}, view, "entropy", {"log_id": 0}, None, mode, None, choice
    )
    assert out.keys() == sync_cb.OUTPUTS.keys()
    return out


def _decode(spec: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(spec["bdata"]), {"u1": np.uint8, "f4": np.float32}[spec["dtype"]])


def test_colour_payload_for_a_target_and_a_prediction(state):
    from engine.datasets.attributes import dataset_attributes

    view = sync(state, {}, mode="label")["view"]
    out = sync(state, view, mode="probe", choice="digit|target")
    payload = out["probe_colours"]
    assert payload["version"] == state.cache.version and payload["choice"] == "digit|target"
    marker = payload["marker"]
    assert marker["cmin"] == -0.5 and marker["cmax"] == state.num_classes - 0.5  # categorical palette
    assert _decode(marker["color"]).tolist() == state.dataset.targets[:N_TRAIN].tolist()
    same = sync(state, out["view"], mode="probe", choice="digit|target")
    assert same["probe_colours"] is sync_cb.no_update
    pred = sync(state, out["view"], mode="probe", choice="ink_lo|pred")["probe_colours"]["marker"]
    assert pred["colorscale"] == "Viridis"
    values = _decode(pred["color"])
    ink = dataset_attributes(state.dataset)["ink"][:N_TRAIN]
    assert len(values) == N_TRAIN and np.corrcoef(values, ink)[0, 1] > 0.7
    assert pred["cmin"] < float(np.median(ink)) < pred["cmax"]
    assert sync(state, {}, mode="probe", choice="gone|pred")["probe_colours"]["marker"] is None


def test_the_probes_follow_a_loaded_branch_config(state):
    tr, base = state.session.trainer, state.session.trainer.cfg
    tasks = [t.model_copy(update={"weight": 0.7}) if not t.is_probe else t for t in base.tasks]
    branch = base.model_copy(update={"tasks": [*tasks, base.tasks[0].model_copy(update={"name": "digit_b"})]})
    try:
        tr.cfg = branch  # as a checkpoint Load of a branch does, without telling the service
        publish(state, 700, 7)
        assert state.probes.tasks == branch.tasks  # the trainer's other auxiliary tasks: it follows
        assert rows(state)["digit_b"].result is not None
        assert rows(state)["digit"].history["accuracy"][0][-1] == 700  # an unchanged task keeps its history
        assert rows(state)["ink_aux"].history["r2"][0] == [700]  # a changed one starts again
    finally:
        tr.cfg = base
        state.probes.set_config(base)  # what AppState does when a Load adopts a config
    assert state.probes.tasks == base.tasks and "digit_b" not in rows(state)


def test_trainer_applies_probe_commands_from_its_queue(home):
    from engine.config import from_dict
    from engine.workspace import make_trainer, open_workspace

    cfg = from_dict({**tiny_config_dict(), "tasks": TASKS[:1]})
    tr = make_trainer(open_workspace(cfg=cfg))
    tr.commands = queue.Queue()
    for cmd in (
        ev.SetProbe({"name": "ink", "kind": "regression", "target": "ink", "input": "z[0:2]"}),
        ev.SetProbe({"name": "ink", "kind": "regression", "target": "ink", "input": "z[0:3]"}),
        ev.SetProbe({"name": "gone", "kind": "classification", "input": "q"}),
        ev.RemoveProbe("gone"),
    ):
        assert ev.from_dict(ev.to_dict(cmd)) == cmd
        tr.commands.put(cmd)
    tr.run(steps=2)
    assert [(t.name, t.input, t.weight) for t in tr.cfg.tasks] == [("digit", "z", 0.0), ("ink", "z[0:3]", 0.0)]
    assert tr.cfg.model.aux == ()


def test_sparkline_scales_values_into_its_box():
    uri = layout.sparkline([0.1, 0.5, 0.3])
    assert uri.startswith("data:image/svg+xml;utf8,") and "polyline" in uri
    assert layout.sparkline([]) == "" and layout.sparkline([float("nan")]) == ""
    from urllib.parse import unquote

    pts = unquote(uri).split('points="')[1].split('"')[0].split()
    ys = [float(p.split(",")[1]) for p in pts]
    assert ys[1] == min(ys) and ys[0] == max(ys)  # higher values are drawn higher
