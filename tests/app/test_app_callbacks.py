"""AppState and the callbacks as plain functions, the Host-header guard and the CLI entry point."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from dash import Patch, no_update

from app.callbacks import sync as sync_cb
from app.callbacks.checkpoints import checkpoint_outputs
from app.callbacks.training import command_outputs, drain_outputs
from app.layouts.training import training_buttons_disabled
from app.presenter import views
from app.server import create_app, host_name
from app.state import AppState
from app.testing import app_state
from app.viewmodels import UNCHANGED, ClientView
from tests.helpers import ROOT, tiny_config_dict


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """One AppState on a tiny synthetic dataset (module scope: building it loads a model)."""
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 400, 100, from_dict(tiny_config_dict(steps=40)), queue_size=8
    ) as st:
        yield st


def sync_outputs(*args, **kw) -> dict:
    """The sync callback's outputs by name (every output of the callback, nothing else)."""
    out = sync_cb.sync_outputs(*args, **kw)
    assert out.keys() == sync_cb.OUTPUTS.keys()
    return out


def _csv(state) -> str:
    return state.labels.path.read_text() if state.labels.path.exists() else ""


def _ops(p: Patch) -> list[dict]:
    return p.to_plotly_json()["operations"]


def test_first_sync_sends_map_colours_and_panels(state):
    out = sync_outputs(state, {"client": "t1", "events": []}, {}, "entropy", {"log_id": 0})
    fig, colours, view = out["map"], out["colours"], out["view"]
    assert isinstance(fig, dict) and fig["data"][0]["x"]["dtype"] == "f4" and len(fig["data"]) == 1
    assert fig["layout"]["uirevision"] == "latent-map"
    assert [t["name"] for t in out["overlay"]["data"]] == ["labelled", "pending", "component"]
    assert colours["version"] == state.cache.version and "pred" in colours["modes"]
    assert view["version"] == state.cache.version and view["gen"] == state.overlay.gen
    assert isinstance(out["queue_store"], list) and len(out["queue_store"]) == 8  # serials for n/p
    assert out["badge"] == "untrained" and out["untrained_open"] is True
    # Nothing changed: the next poll sends nothing big.
    again = sync_outputs(state, {"client": "t1", "events": []}, view, "entropy", {"log_id": 0})
    assert all(again[k] is no_update for k in ("map", "overlay", "colours", "sample", "queue_list"))


def test_a_new_map_version_comes_in_the_tabs_colour_mode(state):
    """colour.js restyles only when the drawn marker differs: the server's figure must already be in
    the tab's mode (first figure and the Patch of a later version), without touching the cached one."""
    from app import figures

    cached = state.cache.derived("map_figure", state.cache.current, figures.map_figure)
    grey = dict(cached["data"][0]["marker"])
    first = sync_outputs(state, {"client": "c1", "events": []}, {}, "entropy", {"log_id": 0}, mode="pred")
    assert first["map"]["data"][0]["marker"] == first["colours"]["modes"]["pred"]
    assert cached["data"][0]["marker"] == grey
    view = dict(first["view"], version=-1)  # the tab holds an older version: it gets a Patch
    later = sync_outputs(state, {"client": "c1", "events": []}, view, "entropy", {"log_id": 0}, mode="certainty")
    data = next(op for op in _ops(later["map"]) if op["location"] == ["data"])["params"]["value"]
    assert data[0]["marker"] == later["colours"]["modes"]["certainty"]
    # modes built in the browser from later data (label quality, probes) start grey
    quality = sync_outputs(state, {"client": "c2", "events": []}, {}, "entropy", {"log_id": 0}, mode="quality")
    assert quality["map"]["data"][0]["marker"] == grey


def test_label_keypress_writes_csv_and_patches_one_slot(state):
    view = sync_outputs(state, {"client": "t2", "events": []}, {}, "entropy", {"log_id": 0})["view"]
    events = [{"seq": 1, "kind": "select", "serial": 11}, {"seq": 2, "kind": "label", "serial": 11, "label": 3}]
    out = sync_outputs(state, {"client": "t2", "events": events}, view, "entropy", {"log_id": 0}, "ll-events")
    assert "11,3" in _csv(state).splitlines()
    assert out["map"] is no_update  # the big graph is not touched by a keypress
    patch = out["overlay"]
    assert isinstance(patch, Patch)
    ops = _ops(patch)
    # small: the slot's x, y, colour and hover data plus the selection ring, no trace re-sent
    assert all(op["operation"] == "Assign" for op in ops) and len(ops) <= 6
    assert {tuple(op["location"][:2]) for op in ops} <= {("data", 0), ("layout", "shapes")}
    color = [op for op in ops if op["location"][2:4] == ["marker", "color"]]
    assert color and color[0]["params"]["value"] == 3
    assert out["ack"] == 2
    # lean: the panels are left to the tab's next sync, which input.js sends at once ("more")
    assert out["view"]["more"] is True
    assert all(out[k] is no_update for k in sync_cb.OUTPUTS if k not in ("overlay", "view", "ack", "notice"))
    follow = sync_outputs(state, {"client": "t2", "events": events}, out["view"], "entropy", {"log_id": 0}, "ll-events")
    assert follow["view"]["more"] is False and follow["overlay"] is no_update
    assert "11" in str(follow["sample"]) and follow["stats_text"] is not no_update
    # Re-sending the same events (the tab did not see the ack yet) applies nothing twice.
    state.labels.set(11, 5, source="cli")
    again = sync_outputs(
        state, {"client": "t2", "events": events}, follow["view"], "entropy", {"log_id": 0}, "ll-events"
    )
    assert "11,5" in _csv(state).splitlines() and again["ack"] == 2
    # undo through the keyboard event reverts the newest change (the CLI's)
    und = sync_outputs(
        state,
        {"client": "t2", "events": [{"seq": 3, "kind": "undo"}]},
        again["view"],
        "entropy",
        {"log_id": 0},
        "ll-events",
    )
    assert "11,3" in _csv(state).splitlines() and "undid" in und["notice"]


def test_only_the_tabs_own_new_events_get_a_lean_answer(state, monkeypatch):
    """A label written meanwhile by someone else (CLI, another request) gets the whole answer: a
    lean one would repeat the tab's acknowledgement, and the page asks for the rest only on a new one."""
    view = sync_outputs(state, {"client": "t5", "events": []}, {}, "entropy", {"log_id": 0})["view"]
    real = state.clients.apply_events

    def concurrent(client, events):
        got = real(client, events)
        state.labels.set(33, 4, source="cli")
        return got

    monkeypatch.setattr(state.clients, "apply_events", concurrent)
    out = sync_outputs(state, {"client": "t5", "events": []}, view, "entropy", {"log_id": 0}, "label-poll")
    assert out["overlay"] is not no_update and out["view"]["more"] is False and out["stats_text"] is not no_update


def test_fast_presses_apply_once_in_order_even_when_a_response_is_lost(state):
    v0 = sync_outputs(state, {"client": "t3", "events": []}, {}, "entropy", {"log_id": 0})["view"]
    evs = [{"seq": 1, "kind": "select", "serial": 20}, {"seq": 2, "kind": "label", "serial": 20, "label": 1}]
    lost = sync_outputs(state, {"client": "t3", "events": evs}, v0, "entropy", {"log_id": 0}, "ll-events")
    evs += [
        {"seq": 3, "kind": "label", "serial": 20, "label": 2},
        {"seq": 4, "kind": "label", "serial": 21, "label": 7},
    ]
    # Dash dropped the first answer: the tab still holds v0 and re-sends every unacknowledged event.
    out = sync_outputs(state, {"client": "t3", "events": evs}, v0, "entropy", {"log_id": 0}, "ll-events")
    assert lost["ack"] == 2 and out["ack"] == 4
    lines = _csv(state).splitlines()
    assert "20,2" in lines and "21,7" in lines
    history = [e for e in state.labels.history() if e.get("source") == "app"]
    seq = [(c["serial"], c["new"]) for e in history for c in e["changes"] if c["serial"] in (20, 21)]
    assert seq == [(20, 1), (20, 2), (21, 7)]
    # The patch is relative to v0, so both slots arrive although the first answer was lost.
    slots = {op["location"][3] for op in _ops(out["overlay"]) if op["location"][:3] == ["data", 0, "x"]}
    assert len(slots) == 2


def test_bad_events_give_notices_not_errors(state):
    evs = [
        {"seq": 1, "kind": "label", "serial": None, "label": 3},
        {"seq": 2, "kind": "label", "serial": 5, "label": 42},
        {"seq": 3, "kind": "label", "serial": 10_000, "label": 1},
        {"seq": 4, "kind": "bogus"},
    ]
    out = sync_outputs(state, {"client": "t4", "events": evs}, {}, "entropy", {"log_id": 0}, "ll-events")
    assert "select a sample first" in out["notice"] and "out of range" in out["notice"]
    assert "unknown event" in out["notice"]


def test_cli_labels_appear_and_are_counted(state):
    start = state.label_reader.log_position()
    view = sync_outputs(state, {"client": "t5", "events": []}, {}, "entropy", {"log_id": start})["view"]
    env = dict(os.environ)  # LATENTLOOP_HOME is the state's home (app.testing.app_state)
    r = subprocess.run(
        [sys.executable, "-m", "latentloop", "label", "set", "--dataset", "synth", "30", "4"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = sync_outputs(state, {"client": "t5", "events": []}, view, "entropy", {"log_id": start}, "label-poll")
    ops = _ops(out["overlay"])
    assert any(op["location"][:3] == ["data", 0, "customdata"] and op["params"]["value"][:2] == [30, 4] for op in ops)
    assert out["stats_text"] is not no_update
    assert views.stats_view(state, state.label_reader.read(), start).cli_added == 1


def test_broken_labels_file_keeps_serving(state):
    good = _csv(state)
    before = state.label_reader.read().copy()
    state.labels.path.write_text("Serial,label\n1,99\n")
    try:
        arr = state.label_reader.read()
        assert np.array_equal(arr, before)  # the last good labels, not the broken file's
        assert "out of range" in views.stats_view(state, arr).error
        assert "last good labels" not in views.stats_view(state, arr).error  # no run is alive
        state.session.state = "running"  # what a live run would show (the trainer keeps going)
        assert "training goes on with the last good labels" in views.stats_view(state, arr).error
    finally:
        state.session.state = "idle"
        if good:
            state.labels.path.write_text(good)
        else:  # no labels file before this test (it ran alone)
            state.labels.path.unlink()
    assert views.stats_view(state, state.label_reader.read()).error == ""


def test_training_buttons_and_drain(state):
    out = command_outputs(
        state,
        "btn-start",
        {"steps": 0, "lr": 0.001, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 1, "refresh_every": 10},
    )
    assert "train.steps" in str(out["feedback"]) and out["dis_start"] is False  # nothing started
    version = state.cache.version
    out = command_outputs(
        state,
        "btn-start",
        {
            "steps": 30,
            "lr": 0.002,
            "alpha": 1,
            "beta": 1,
            "gamma": 1,
            "consistency": 1,
            "refresh_every": 10,
            "save_at_end": False,
        },
    )
    assert out["feedback"] is None
    assert out["dis_start"] is True and out["dis_resume"] is True  # a run is alive
    assert state.session.wait(120)
    out = drain_outputs(state, {"c": 0})
    cursor = out["cursor"]
    assert "loss" not in out and "acc" not in out  # the curves grow from the live poll (poll.js)
    assert out["state"] == "finished"
    assert (out["dis_start"], out["dis_pause"], out["dis_resume"], out["dis_stop"]) == (False, True, True, True)
    assert state.pump.wait(60) and state.cache.version > version  # the pump put the run's map up
    assert state.cache.current.trained
    again = drain_outputs(state, cursor)
    assert again["ckpt_options"] is no_update
    out = command_outputs(state, "btn-pause", {})
    assert "nothing is running" in str(out["feedback"])


def test_checkpoint_save_fork_load(state):
    out = checkpoint_outputs(state, "btn-ckpt-save", None, "first")
    assert "saved checkpoint 'first'" in str(out["message"]) and out["value"] == "first"
    assert any(o["value"] == "first" for o in out["options"])
    before = state.cache.version
    out = checkpoint_outputs(state, "btn-ckpt-fork", "first", "second")
    assert "branched 'first'" in str(out["message"]) and {"first", "second"} <= {o["value"] for o in out["options"]}
    assert out["version"] == {"version": before + 1}  # the branch is loaded
    from engine.stores.checkpoints import CheckpointStore

    assert CheckpointStore().show("second")["meta"]["parent"] == "first"
    before = state.cache.version
    out = checkpoint_outputs(state, "btn-ckpt-load", "second", "")
    assert "loaded checkpoint 'second'" in str(out["message"]) and out["version"] == {"version": before + 1}
    assert "not found" in str(checkpoint_outputs(state, "btn-ckpt-load", "nope", "")["message"])
    assert "invalid checkpoint name" in str(checkpoint_outputs(state, "btn-ckpt-save", None, "../evil")["message"])


TRAIN = {"lr": 0.001, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 1}


def test_projection_runs_on_the_refresh_pump_never_in_a_request(state, monkeypatch):
    """New embeddings reach the map through the pump thread; the page's requests (sync poll,
    training drain, checkpoint load) only pick up the newest version."""
    threads: list[str] = []
    real = state.cache.projector.fit_transform

    def spy(x):
        threads.append(threading.current_thread().name)
        return real(x)

    monkeypatch.setattr(state.cache.projector, "fit_transform", spy)
    version = state.cache.version
    assert not state.session.start_from_panel(TRAIN | {"steps": 40, "refresh_every": 10, "save_at_end": False})
    view = sync_outputs(state, {"client": "pump", "events": []}, {}, "entropy", {"log_id": 0})["view"]
    cursor, maps = {"c": 0}, 0
    while state.session.busy:
        out = sync_outputs(state, {"client": "pump", "events": []}, view, "entropy", {"log_id": 0})
        view, maps = out["view"], maps + (out["map"] is not no_update)
        cursor = drain_outputs(state, cursor)["cursor"]
        time.sleep(0.01)
    assert state.pump.wait(60) and state.cache.version > version + 1  # every refresh of the run (or the newest)
    out = sync_outputs(state, {"client": "pump", "events": []}, view, "entropy", {"log_id": 0})
    maps += out["map"] is not no_update
    assert out["view"]["version"] == state.cache.version and maps >= 1  # the poll picks the new versions up
    state.ckpt.save("pumped")
    assert "loaded" in str(checkpoint_outputs(state, "btn-ckpt-load", "pumped", "")["message"])
    assert threads and set(threads) == {"refresh-pump"}, threads


def test_training_buttons_follow_the_session_state():
    off = training_buttons_disabled
    enabled = {
        s: sorted(b for b, d in off(s).items() if not d)
        for s in ("idle", "starting", "running", "paused", "stopping", "stopped", "finished", "error")
    }
    assert enabled["idle"] == enabled["stopped"] == enabled["finished"] == enabled["error"] == ["btn-start"]
    assert enabled["running"] == enabled["starting"] == ["btn-pause", "btn-stop"]
    assert enabled["paused"] == ["btn-resume", "btn-stop"] and enabled["stopping"] == []


def test_checkpoint_list_refreshes_after_a_runs_save_and_a_save_during_training(state):
    cursor = {"c": state.session.status()["saves"]}
    name = state.session.checkpoint
    assert not state.session.start_from_panel(TRAIN | {"steps": 5, "refresh_every": 100, "save_at_end": True})
    assert state.session.wait(120)
    out = drain_outputs(state, cursor, None)
    assert name in [o["value"] for o in out["ckpt_options"]] and out["ckpt_value"] == name
    again = drain_outputs(state, out["cursor"], name)
    assert again["ckpt_options"] is no_update and again["ckpt_value"] is no_update
    # Save while a run is going: the training thread saves; the list follows on the panel's poll.
    assert not state.session.start_from_panel(TRAIN | {"steps": 100000, "refresh_every": 100000, "save_at_end": False})
    try:
        msg = checkpoint_outputs(state, "btn-ckpt-save", name, "midrun")["message"]
        assert "will be saved by the training thread" in str(msg)
        cursor = again["cursor"]
        t0 = time.monotonic()
        while True:
            out = drain_outputs(state, cursor, name)
            cursor = out["cursor"]
            if out["ckpt_options"] is not no_update and "midrun" in [o["value"] for o in out["ckpt_options"]]:
                break
            assert time.monotonic() - t0 < 60, "the checkpoint list never showed 'midrun'"
            time.sleep(0.05)
        assert out["ckpt_value"] == name  # the user's choice stays
    finally:
        state.session.stop()
        state.session.wait(60)
        state.session.drain()


def test_existing_checkpoint_is_loaded_at_startup(state):
    from app.server import layout_context
    from app.settings import AppSettings

    st = AppState.create(AppSettings(cfg=state.ckpt.config, checkpoint="first", workers=False))
    st.close()
    ctx = layout_context(st)
    assert st.has_checkpoint and st.cache.current.trained and ctx.trained
    assert st.session.trainer.step > 0 and ctx.checkpoint == "first"
    from engine.stores.checkpoints import CheckpointStore

    saved = CheckpointStore().load("first").meta["metrics"]["test_acc"]
    assert 0.0 <= saved <= 1.0
    assert ctx.status["test_acc"] == saved  # the checkpoint's metrics are shown


def test_sample_view_has_image_reconstruction_and_top3(state):
    sv = views.sample_view(state, 3)
    assert sv.image.startswith("data:image/png;base64,") and sv.recon and sv.recon.startswith("data:image/png")
    assert len(sv.top) == 3 and sv.top[0][1] >= sv.top[1][1] >= sv.top[2][1]
    assert sv.true == int(state.dataset.targets[3]) and sv.split == "train"


@pytest.mark.parametrize(
    "header,expected",
    [
        ("127.0.0.1:8050", "127.0.0.1"),
        ("localhost", "localhost"),
        ("LOCALHOST:1", "localhost"),
        ("[::1]:8050", "::1"),
        ("[::1]", "::1"),
        ("evil.example:8050", "evil.example"),
        ("", ""),
    ],
)
def test_host_name(header, expected):
    assert host_name(header) == expected


def test_host_header_guard_refuses_non_loopback_names(state):
    client = create_app(state).server.test_client()
    for host in ("127.0.0.1:8050", "localhost:8050", "[::1]:8050", "localhost"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("evil.example", "evil.example:8050", "127.0.0.1.nip.io:8050", "192.168.1.5:8050"):
        r = client.get("/", headers={"Host": host})
        assert r.status_code == 403, host
        # and not the callback endpoint either: DNS rebinding cannot relabel data
        r = client.post("/_dash-update-component", json={}, headers={"Host": host})
        assert r.status_code == 403


def test_allow_host_option_extends_the_guard(state):
    old = state.settings.allowed_hosts
    state.settings.allowed_hosts = ("mybox.lan",)
    try:
        client = create_app(state).server.test_client()
        assert client.get("/", headers={"Host": "mybox.lan:8050"}).status_code == 200
        assert client.get("/", headers={"Host": "other.lan"}).status_code == 403
    finally:
        state.settings.allowed_hosts = old


def test_cli_has_app_command():
    from latentloop.cli import build_parser

    args = build_parser().parse_args(["app", "--dataset", "synth", "--port", "9999", "--checkpoint", "x"])
    assert args.command == "app" and args.port == 9999 and args.host == "127.0.0.1"
    r = subprocess.run(
        [sys.executable, "-m", "app", "--help"], cwd=ROOT, check=False, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0 and "--port" in r.stdout and "--dataset" in r.stdout


def test_services_import_no_dash():
    code = (
        "import sys; import app.state, app.services.training, app.services.candidates, app.figures; "
        "bad = [m for m in sys.modules if m == 'dash' or m.startswith('dash.') or m in ('torch', 'tensorflow', 'jax')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_unchanged_sentinel_never_reaches_the_page(state):
    assert UNCHANGED is not None and ClientView.from_dict(None) == ClientView()
    assert ClientView.from_dict({"version": 3, "from_an_older_page": 1}) == ClientView(version=3)
    view = sync_outputs(state, {"client": "u", "events": []}, {}, "entropy", {"log_id": 0})["view"]
    again = sync_outputs(state, {"client": "u", "events": []}, view, "entropy", {"log_id": 0})
    # nothing changed: every output is a value or no_update, never the internal sentinel
    assert all(v is not UNCHANGED for v in again.values())
    assert again["map"] is no_update and again["colours"] is no_update and again["sample"] is no_update
