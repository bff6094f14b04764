"""The sample panel without a request (issue 27): the sync's queue carries the queued samples'
panel data (``queue-samples``, app/presenter/views.py queue_samples), and a map point outside the
queue comes from the plain endpoint ``/_ll/sample`` (app/server.py)."""

from __future__ import annotations

import json

import pytest

from app.presenter.label_page import LabelPage
from app.presenter.views import sample_brief, sample_view
from app.server import PREFS_PATH, SAMPLE_PATH, create_app
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


def test_the_sample_endpoint_answers_one_points_panel_as_json(state):
    client = create_app(state).server.test_client()
    v = state.cache.current
    serial = v.n_points - 1
    resp = client.get(f"{SAMPLE_PATH}?serial={serial}", headers=HOST)
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.get_json() == sample_brief(state, serial, v)
    labelled = int(state.label_reader.read()[: state.n_train].argmax())  # any row; a label or none
    assert client.get(f"{SAMPLE_PATH}?serial={labelled}", headers=HOST).get_json()["serial"] == labelled


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
