"""The sample panel without a request (issue 27): the sync's queue carries the queued samples'
panel data (``queue-samples``, app/presenter/views.py queue_samples), and every selection's whole
panel comes from the plain endpoint ``/_ll/sample`` (app/server.py); the selection reaches the
server by ``/_ll/events``, not by a Dash callback."""

from __future__ import annotations

import json

import pytest

from app.presenter.label_page import LabelPage
from app.presenter.views import sample_brief, sample_full, sample_view
from app.server import EVENTS_PATH, PREFS_PATH, SAMPLE_PATH, create_app
from app.testing import app_state
from app.viewmodels import UNCHANGED, ClientView
from tests.helpers import tiny_config_dict

HOST = {"Host": "127.0.0.1:8050"}


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 300, 60, from_dict(tiny_config_dict(steps=30)), workers=False
    ) as st:
        yield st


def test_the_queue_panel_carries_every_queued_samples_panel_in_queue_order(state):
    res = LabelPage(state).sync("ahead", [], ClientView(), "entropy")
    queue = res.panel("queue")
    ahead = res.panel("ahead")
    assert queue is not UNCHANGED and ahead is not UNCHANGED
    assert [b["serial"] for b in ahead] == [c.serial for c in queue.items] and ahead
    for b, c in zip(ahead, queue.items, strict=True):
        full = sample_view(state, c.serial)
        assert b["image"] == full.image and b["image"].startswith("data:image/png;base64,")
        assert b["label"] == full.label and b["split"] == full.split
        assert b["predicted"] == full.predicted and abs(b["certainty"] - full.certainty) < 1e-4
        assert [t[0] for t in b["top"]] == [t[0] for t in full.top]
        assert b["reason"] == c.why
    # the same key as the queue: they travel in the same answer
    again = LabelPage(state).sync("ahead", [], res.client, "entropy")
    assert again.panel("ahead") is UNCHANGED
    assert res.client.keys["ahead"] == res.client.keys["queue"]


def test_a_label_in_the_queue_resends_the_queued_samples(state):
    page = LabelPage(state)
    first = page.sync("ahead2", [], ClientView(), "entropy")
    s = first.panel("ahead")[0]["serial"]
    page.sync("ahead2", [{"seq": 1, "kind": "label", "serial": s, "label": 1}], first.client, "entropy")
    later = page.sync("ahead2", [], first.client, "entropy")
    assert later.panel("ahead") is not UNCHANGED
    assert s not in [b["serial"] for b in later.panel("ahead")]  # labelled: left the queue


def test_the_sample_endpoint_answers_one_points_whole_panel_as_json(state):
    client = create_app(state).server.test_client()
    v = state.cache.current
    serial = v.n_points - 1
    resp = client.get(f"{SAMPLE_PATH}?serial={serial}", headers=HOST)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    got = resp.get_json()
    assert got == sample_full(state, serial, v)
    assert {k: got[k] for k in sample_brief(state, serial, v)} == sample_brief(state, serial, v)
    # what the server's panel adds to the queue's data: the reconstruction, the true class, the ring
    view = sample_view(state, serial, v)
    assert got["recon"] == view.recon and got["recon"].startswith("data:image/png;base64,")
    assert got["true"] == view.true and got["xy"] == pytest.approx([float(x) for x in v.xy[serial]])
    assert got["full"] is True
    assert got["label"] is not None or got["issue"] is None  # an unlabelled sample has no issue line


def test_the_sample_endpoint_carries_a_labelled_samples_given_and_suggested_label(state):
    s = 7
    state.labels.set(s, 2, source="test")
    got = sample_full(state, s)
    view = sample_view(state, s)
    assert got["label"] == 2 and view.issue is not None
    assert got["issue"]["given"] == 2 and got["issue"]["suggested"] == view.issue.suggested
    assert got["issue"]["accepted"] is False and got["issue"]["reason"] == view.issue.reason(state.class_names)


def test_a_selection_reaches_the_server_by_the_events_endpoint_once_and_in_order(state):
    client = create_app(state).server.test_client()
    sel = [{"seq": 1, "kind": "select", "serial": 5}]
    resp = client.post(EVENTS_PATH, json={"client": "ev1", "events": sel}, headers=HOST)
    assert resp.status_code == 200 and resp.get_json() == {"ack": 1, "notices": []}
    assert state.clients.selected_of("ev1") == 5
    # re-sent with a newer one: each applied once (the newest selection wins)
    more = [*sel, {"seq": 2, "kind": "select", "serial": 9}]
    assert client.post(EVENTS_PATH, json={"client": "ev1", "events": more}, headers=HOST).get_json()["ack"] == 2
    assert state.clients.selected_of("ev1") == 9
    odd = [{"seq": 3, "kind": "select", "serial": -4}]
    bad = client.post(EVENTS_PATH, json={"client": "ev1", "events": odd}, headers=HOST)
    assert bad.get_json() == {"ack": 3, "notices": ["no sample -4"]} and state.clients.selected_of("ev1") == 9
    for body in ({"events": sel}, {"client": "ev1"}, {"client": "", "events": []}, [1]):
        r = client.post(EVENTS_PATH, json=body, headers=HOST)
        assert r.status_code == 400 and "expected" in r.get_json()["error"]
    foreign = {**HOST, "Origin": "http://evil.example"}
    assert client.post(EVENTS_PATH, json={"client": "ev1", "events": more}, headers=foreign).status_code == 403


@pytest.mark.parametrize("raw", ["x", "-1", "99999999", "", "1.5"])
def test_the_sample_endpoint_refuses_a_serial_that_is_not_a_map_point(state, raw):
    client = create_app(state).server.test_client()
    resp = client.get(f"{SAMPLE_PATH}?serial={raw}", headers=HOST)
    assert resp.status_code == 400 and "error" in resp.get_json()


def test_the_sample_endpoint_has_the_same_host_check_as_the_live_one(state):
    client = create_app(state).server.test_client()
    assert client.get(f"{SAMPLE_PATH}?serial=0", headers={"Host": "evil.example"}).status_code == 403


def test_auto_advance_is_remembered_per_dataset_next_to_the_projection_choice(state, tmp_path):
    from app.services.page_prefs import PagePrefs
    from app.services.projection import SETTINGS_FILE

    path = tmp_path / SETTINGS_FILE
    prefs = PagePrefs(path)
    assert prefs.auto_advance() is False  # no file: off
    path.write_text('{"projection": "umap"}')
    prefs.set_auto_advance(True)
    assert PagePrefs(path).auto_advance() is True and prefs.error == ""
    assert json.loads(path.read_text()) == {"projection": "umap", "auto_advance": True}  # the other key kept
    path.write_text("not json")
    assert PagePrefs(path).auto_advance() is False


def test_the_prefs_endpoint_stores_the_choice_and_the_page_starts_from_it(state):
    client = create_app(state).server.test_client()
    before = state.prefs.auto_advance()
    try:
        resp = client.post(PREFS_PATH, json={"auto_advance": True}, headers=HOST)
        assert resp.status_code == 200 and resp.get_json() == {"auto_advance": True}
        assert state.prefs.auto_advance() is True and state.page_context(live={}).auto_advance is True
        assert client.post(PREFS_PATH, json={"auto_advance": "yes"}, headers=HOST).status_code == 400
        assert client.post(PREFS_PATH, data="x", headers=HOST).status_code == 400
        foreign = {**HOST, "Origin": "http://evil.example"}
        assert client.post(PREFS_PATH, json={"auto_advance": False}, headers=foreign).status_code == 403
        assert state.prefs.auto_advance() is True
    finally:
        state.prefs.set_auto_advance(before)
