"""The dashboard's saliency, feedback boxes, forecast queue and worker supervision, below the browser
(AppState, the plain endpoints and the callback bodies as plain functions, with the real child
processes)."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
from dash import no_update

from app import feedback_figures
from app.callbacks import explain
from app.callbacks import sync as sync_cb
from app.layouts.queue import queue_list
from app.presenter import views
from app.presenter.saliency import saliency_answer, saliency_view
from app.server import SALIENCY_PATH, create_app
from app.services.candidates import EXTERNAL
from app.testing import app_state
from tests.helpers import tiny_config_dict
from workers.forecast import ForecastResult

HOST = {"Host": "127.0.0.1:8050"}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    # snapshot_every_s 0 (tiny config): a snapshot after every step
    with app_state(
        tmp_path_factory.mktemp("home"), 400, 100, from_dict(tiny_config_dict(steps=40)), queue_size=8, xai_wait_ms=2000
    ) as st:
        yield st


def _wait(cond, timeout=60.0, what="condition"):
    t0 = time.monotonic()
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _ready(state, client, serial, target="pred"):
    """Saliency for ``serial``, asking again while the worker starts up."""

    def attempt():
        ans = state.xai.ask(client, serial, target, wait_s=1.0)
        if ans.state == "pending":
            ans = _wait(
                lambda: (a := state.xai.poll(client, 0.5)) and a.state != "pending" and a, 30, "a pending saliency"
            )
        return ans if ans.state == "ready" else None

    return _wait(attempt, 90, f"saliency of #{serial}")


def test_selection_gets_saliency_of_the_snapshot_with_all_three_maps(state):
    ans = _ready(state, "t1", 7)
    r = ans.result
    assert r.sample_idx == 7 and r.snapshot_step == state.session.trainer.step
    assert set(r.maps) == {"gradcam", "smoothgrad", "consensus"} and r.overlay_png_b64
    assert r.target == int(np.argmax(state.cache.current.probs[7]))  # "pred" by default
    assert set(r.agreement) == {"correlation", "top_overlap"}
    view = saliency_view(saliency_answer(state.xai, "t1", 7, "pred", False, 2.0), state.dataset.images[7])
    assert view["state"] == "ready" and view["serial"] == 7 and view["step"] == r.snapshot_step
    assert [i["method"] for i in view["images"]] == ["gradcam", "smoothgrad", "consensus"]
    assert all(i["src"].startswith("data:image/png;base64,") for i in view["images"])
    assert view["meta"].startswith("snapshot step") and "(predicted)" in view["explains"]
    with pytest.raises(ValueError, match="over its image"):
        saliency_view(ans, None)
    # the target selector: the true label and any class
    true = _ready(state, "t1", 7, "true").result
    assert true.target == int(state.dataset.targets[7]) and true.target_kind == "true"
    other = _ready(state, "t1", 7, 3).result
    assert other.target == 3 and other.target_kind == "class"


def test_a_selections_saliency_comes_from_the_plain_endpoint_not_the_sync(state, monkeypatch):
    _ready(state, "p0", 3)  # the worker is up
    sent = []
    real = state.hub.request_xai
    monkeypatch.setattr(state.hub, "request_xai", lambda c, s, t="pred": sent.append((c, s, t)) or real(c, s, t))
    select = {"client": "p1", "events": [{"seq": 1, "kind": "select", "serial": 9}]}
    out = sync_cb.sync_outputs(state, select, {}, "entropy", {"log_id": 0}, "ll-events")
    assert sent == [] and out["ack"] == 1  # the sync asks the worker nothing ...
    assert not {"xai_panel", "xai_want", "fb_figure"} & set(out)  # ... and draws no saliency or editor
    client = create_app(state).server.test_client()
    got = client.get(f"{SALIENCY_PATH}?client=p1&serial=9&target=true", headers=HOST)
    assert got.status_code == 200 and got.headers["Cache-Control"] == "no-store"
    ans = got.get_json()
    assert sent == [("p1", 9, "true")] and ans["asked"] == 9
    assert ans["state"] == "ready" and ans["serial"] == 9 and "(true label)" in ans["explains"]
    for raw in ("x", "-1", "99999999"):
        bad = client.get(f"{SALIENCY_PATH}?client=p1&serial={raw}", headers=HOST)
        assert bad.status_code == 400 and "serial" in bad.get_json()["error"]
    assert client.get(f"{SALIENCY_PATH}?client=p1&serial=9", headers={"Host": "evil.example"}).status_code == 403


def test_a_slow_saliency_says_computing_and_the_poll_brings_it(state, monkeypatch):
    _ready(state, "q0", 3)
    monkeypatch.setattr(state.settings, "xai_sync_wait_ms", 0)
    client = create_app(state).server.test_client()
    first = client.get(f"{SALIENCY_PATH}?client=q1&serial=5", headers=HOST).get_json()
    assert first["state"] in ("pending", "ready") and first["asked"] == 5
    got = _wait(
        lambda: (
            (a := client.get(f"{SALIENCY_PATH}?client=q1&serial=5&poll=1", headers=HOST).get_json())["state"] == "ready"
            and a
        ),
        30,
        "the polled saliency",
    )
    assert got["serial"] == 5 and len(got["images"]) == 3


def test_a_newer_request_supersedes_the_older_one(state):
    _ready(state, "t2", 1)  # the worker is up
    first = state.hub.request_xai("t2", 2)
    second = state.hub.request_xai("t2", 3)
    assert state.hub.wait_xai("t2", first, 0.5).state == "superseded"
    assert _wait(lambda: (a := state.hub.wait_xai("t2", second, 1.0)).state == "ready" and a).result.sample_idx == 3


def test_a_poll_that_finds_an_older_selections_answer_asks_for_the_shown_one(state):
    _ready(state, "t4", 7)  # the tab's newest answer is about #7 ...
    # ... but the page shows #9: a poll about it asks for it
    saliency_answer(state.xai, "t4", 9, "pred", True, 0.0)
    ans = _wait(lambda: (a := state.xai.poll("t4", 0.5)) and a.state == "ready" and a, 30, "#9's saliency")
    assert ans.result.sample_idx == 9


def test_a_pending_answer_has_only_its_state_and_message():
    from app.services.workers import XaiAnswer

    assert saliency_view(XaiAnswer("pending", message="computing saliency…"), None) == {
        "state": "pending",
        "message": "computing saliency…",
    }


def test_killed_xai_worker_is_restarted_and_the_app_keeps_answering(state):
    _ready(state, "k", 4)
    pid = state.hub.pid("xai")
    os.kill(pid, signal.SIGKILL)
    # meanwhile the page keeps working: a sync answers, and a saliency request fails fast, not hangs
    out = sync_cb.sync_outputs(
        state,
        {"client": "k", "events": [{"seq": 1, "kind": "select", "serial": 5}]},
        {},
        "entropy",
        {"log_id": 0},
        "ll-events",
    )
    assert out["ack"] == 1
    _wait(
        lambda: any(w.name == "xai" and w.restarts >= 1 and w.state == "running" for w in state.hub.status()),
        60,
        "the restart",
    )
    assert state.hub.pid("xai") not in (None, pid)
    out = sync_cb.sync_outputs(state, {"client": "k2", "events": []}, {}, "entropy", {"log_id": 0})
    assert "restarted" in str(out["workers"])  # the navbar's worker line, sent with the page's poll
    assert _ready(state, "k", 5).result.sample_idx == 5


def test_forecast_results_feed_the_queue_with_reasons(state):
    # the startup refresh reached the forecast worker: window closed, and the queue says why
    _wait(lambda: state.hub.forecast is not None, 60, "the first forecast")
    labels = state.label_reader.read()
    assert views.queue_view(state, EXTERNAL).items == [] and "closed by" in views.queue_view(state, EXTERNAL).source
    # an open window's candidates are shown with their reason; labelled ones drop out
    unl = [int(i) for i in np.flatnonzero(labels < 0)[:3]]
    cands = tuple(
        {
            "sample_idx": i,
            "risk": 0.9 - 0.1 * k,
            "predicted": 1,
            "certainty": 0.4,
            "why": f"prediction flipped {k + 1}x",
        }
        for k, i in enumerate(unl)
    )
    state.refresher.on_forecast(ForecastResult(99, 1000, True, "open: step 1000", {}, cands))
    qv = views.queue_view(state, EXTERNAL)
    assert [c.serial for c in qv.items] == unl and qv.items[0].why == "prediction flipped 1x"
    assert "review window open" in qv.source
    assert "prediction flipped 1x" in str(queue_list(qv))


def test_training_writes_snapshots_the_worker_explains_and_refreshes_reach_the_forecast(state):
    sent = state.hub.forecast_sent
    errors = state.session.start_from_panel(
        {"steps": 30, "lr": 1e-3, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 1, "refresh_every": 15}
    )
    assert not errors
    state.session.wait(120)
    state.session.drain()
    step = state.session.trainer.step
    snaps = sorted(p.name for p in state.run_dir.glob("step_*"))
    assert snaps[-1] == f"step_{step:08d}" and len(snaps) <= state.ckpt.config.train.snapshots_keep
    assert _wait(lambda: (r := _ready(state, "tr", 9).result).snapshot_step == step and r, 30, "the new snapshot")
    assert state.hub.forecast_sent > sent
    _wait(lambda: state.hub.forecast.step == step, 30, "the forecast of the last refresh")


# -- feedback -----------------------------------------------------------------------------------------


def test_drawn_box_from_relayout_data():
    shapes = {
        "shapes": [
            {"type": "rect", "name": feedback_figures.SAVED_BOX_NAME, "x0": 0, "y0": 0, "x1": 1, "y1": 1},
            {"type": "rect", "x0": 0.7, "y0": 0.9, "x1": 0.2, "y1": 0.1},
        ]
    }
    assert feedback_figures.drawn_box(shapes) == [0.2, 0.1, 0.7, 0.9]  # the new one, corners sorted
    assert feedback_figures.drawn_box({"shapes[1].x1": 1.4, "shapes[1].y0": 0.3}, [0.2, 0.1, 0.7, 0.9]) == [
        0.2,
        0.3,
        1.0,
        0.9,
    ]
    assert feedback_figures.drawn_box({"shapes": [shapes["shapes"][0]]}, [0.2, 0.1, 0.7, 0.9]) is None  # erased
    assert feedback_figures.drawn_box({"xaxis.range[0]": 0}, [0.2, 0.1, 0.7, 0.9]) == [0.2, 0.1, 0.7, 0.9]
    assert (
        feedback_figures.drawn_box({"shapes": [{"type": "rect", "x0": 0.5, "y0": 0.5, "x1": 0.5, "y1": 0.9}]}) is None
    )


def test_parsed_meaning_is_shown_before_apply(state):
    def parse_outputs(*args):
        out = explain.parse_outputs(*args)
        return out["parsed"], out["apply_disabled"]

    msg, disabled = parse_outputs(state, 3, "bottom right corner", None)
    assert not disabled and "x 0.50-1.00, y 0.50-1.00" in str(msg)
    msg, disabled = parse_outputs(state, 3, "stop focus", None)
    assert not disabled and "remove" in str(msg)  # "stop" is not "top"
    msg, disabled = parse_outputs(state, 3, "", [0.1, 0.2, 0.6, 0.9])
    assert not disabled and "x 0.10-0.60, y 0.20-0.90" in str(msg)
    msg, disabled = parse_outputs(state, 3, "make it pretty", None)
    assert disabled and "could not understand" in str(msg)
    msg, disabled = parse_outputs(state, 3, "strength 0.3", None)
    assert disabled and "no region" in str(msg)  # no box yet: nothing to weight
    msg, disabled = parse_outputs(state, state.n_train + 1, "focus center", None)
    assert disabled and "held-out test image" in str(msg)


def test_feedback_view_follows_the_selection_the_drawing_and_the_text(state):
    want = {"serial": 12, "train": True}
    out = explain.feedback_view_outputs(state, "fb-want", want, None, "", None, [0.1, 0.1, 0.2, 0.2])
    assert out.keys() == explain.VIEW_OUTPUTS.keys()
    fig = out["figure"]
    assert out["style"] == {} and out["serial"] == 12 and out["box"] is None  # a new sample: no box carried over
    assert out["apply_disabled"]
    assert fig["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert fig["layout"]["dragmode"] == "drawrect"
    drawn = {"shapes": [{"type": "rect", "x0": 0.1, "y0": 0.2, "x1": 0.6, "y1": 0.9}]}
    out = explain.feedback_view_outputs(state, "fb-graph", want, drawn, "", 12, None)
    box = out["box"]
    assert out["figure"] is no_update and out["serial"] is no_update and box == [0.1, 0.2, 0.6, 0.9]
    assert not out["apply_disabled"] and "x 0.10-0.60, y 0.20-0.90" in str(out["parsed"])
    out = explain.feedback_view_outputs(state, "fb-text", want, drawn, "strength 0.5", 12, box)
    assert "strength 0.50" in str(out["parsed"]) and not out["apply_disabled"]
    # the same sample again (the editor closed and opened again): the drawing stays
    out = explain.feedback_view_outputs(state, "fb-want", want | {"v": 9}, None, "", 12, box)
    assert out["figure"] is no_update and out["box"] is no_update
    # a held-out test image: no feedback section
    out = explain.feedback_view_outputs(
        state, "fb-want", {"serial": state.n_train + 1, "train": False}, None, "", 12, box
    )
    assert out["style"] == explain.HIDDEN and out["serial"] is None


def test_apply_stores_the_box_reaches_the_trainer_and_can_be_removed(state):
    path = state.feedback.path
    tr = state.session.trainer
    out = explain.feedback_action_outputs(state, "fb-apply", 1, 12, [0.1, 0.2, 0.6, 0.9], "strength 0.5")
    assert out.keys() == explain.ACTION_OUTPUTS.keys()
    lst, fig = out["list"], out["figure"]
    assert "#12" in str(out["message"]) and out["text"] == ""
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows[-1]["sample_idx"] == 12 and rows[-1]["strength"] == 0.5 and rows[-1]["x1"] == 0.6
    assert rows[-1]["instruction"] == "strength 0.5"
    assert 12 in tr.feedback and tr.feedback[12].box == (0.1, 0.2, 0.6, 0.9)  # idle trainer: applied at once
    assert fig["layout"]["shapes"][0]["x1"] == 0.6  # the stored box is drawn
    assert "data-serial='12'" in str(lst)
    # "increase focus by 10%" starts from the stored strength and keeps the stored box
    explain.feedback_action_outputs(state, "fb-apply", 2, 12, None, "increase focus by 10%")
    item = state.boxes.of(12)
    assert item.strength == pytest.approx(0.55) and item.box == (0.1, 0.2, 0.6, 0.9)
    # the list rides on the page's poll (the sync): sent when feedback.jsonl changed, not otherwise
    out = sync_cb.sync_outputs(state, {"client": "f", "events": []}, {}, "entropy", {"log_id": 0})
    assert "data-serial='12'" in str(out["fb_list"])
    again = sync_cb.sync_outputs(state, {"client": "f", "events": []}, out["view"], "entropy", {"log_id": 0})
    assert again["fb_list"] is no_update
    state.feedback.add(13, (0.0, 0.0, 0.5, 0.5), 1.0, "cli")  # the CLI adds one
    out = sync_cb.sync_outputs(state, {"client": "f", "events": []}, again["view"], "entropy", {"log_id": 0})
    assert "data-serial='13'" in str(out["fb_list"])
    # the list's remove button, and the Remove button of the sample
    explain.feedback_action_outputs(state, {"type": "fb-rm", "serial": 13}, 1, 12, None, "")
    assert state.boxes.of(13) is None
    msg = explain.feedback_action_outputs(state, "fb-remove", 1, 12, None, "")["message"]
    assert "removed" in str(msg) and state.boxes.of(12) is None and 12 not in tr.feedback
    # a button that merely appeared (n_clicks None) does nothing
    assert (
        explain.feedback_action_outputs(state, {"type": "fb-rm", "serial": 3}, None, 12, None, "")["message"]
        is no_update
    )


def test_feedback_reaches_a_running_trainer_through_its_command_queue(state):
    errors = state.session.start_from_panel(
        {"steps": 4000, "lr": 1e-3, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 1, "refresh_every": 100000}
    )
    assert not errors
    try:
        _wait(lambda: state.session.trainer.step > 2, 60, "training")
        msg = state.boxes.apply(20, "top-left", None)
        assert "training thread" in msg
        _wait(lambda: 20 in state.session.trainer.feedback, 30, "the trainer to apply it")
        assert state.session.trainer.feedback[20].box == (0.0, 0.0, 0.5, 0.5)
    finally:
        state.session.stop()
        state.session.wait(60)
        state.session.drain()
        state.boxes.remove(20)


def test_a_broken_feedback_file_is_reported_and_kept(state):
    path = state.feedback.path
    good = path.read_bytes() if path.exists() else b""
    path.write_text('{"sample_idx": 1, "x0": 0.5}\n')
    try:
        items, err = state.boxes.items()
        assert items == [] and "line 1" in err
        assert "line 1" in str(explain.card.feedback_list(items, err))
        assert state.session.trainer.reload_feedback() is False and "line 1" in state.session.trainer.feedback_error
        assert path.read_text() == '{"sample_idx": 1, "x0": 0.5}\n'  # never rewritten from a bad read
    finally:
        path.write_bytes(good)


def test_run_dirs_of_dead_app_processes_are_removed(tmp_path):
    import subprocess
    import sys

    from app.services.rundir import remove_orphan_run_dirs

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=False, capture_output=True, text=True
    )
    gone, alive, unknown = tmp_path / "app-gone", tmp_path / "app-alive", tmp_path / "app-nopid"
    for d in (gone, alive, unknown):
        (d / "step_00000001").mkdir(parents=True)
    (gone / "pid").write_text(dead.stdout.strip())
    (alive / "pid").write_text(str(os.getpid()))
    assert remove_orphan_run_dirs(tmp_path) == [gone]
    assert not gone.exists() and alive.exists() and unknown.exists()


def test_the_app_run_dir_names_its_process(state):
    assert (state.run_dir / "pid").read_text() == str(os.getpid())
