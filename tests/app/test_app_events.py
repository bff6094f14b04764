"""Malformed keyboard/click events sent to the sync service: each gives a clear notice or is
ignored, never raises, never writes labels.csv, and never blocks the tab's later good events."""

from __future__ import annotations

import itertools

import pytest

from app.callbacks import sync as sync_cb
from app.testing import app_state
from tests.helpers import tiny_config_dict

TABS = itertools.count()


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 300, 50, from_dict(tiny_config_dict(steps=10)), queue_size=4, workers=False
    ) as st:
        st.labels.set(0, 1, source="test")  # labels.csv exists: its bytes are compared
        yield st


def _bytes(state) -> bytes:
    return state.labels.path.read_bytes()


def _sync(state, tab: str, events, start=None) -> dict:
    return sync_cb.sync_outputs(
        state, {"client": tab, "events": events}, {}, "entropy", start or {"log_id": 0}, "ll-events"
    )


BAD_EVENTS = {
    "not a dict": ["3"],
    "a list": [[1, "label", 5, 3]],
    "null": [None],
    "missing seq": [{"kind": "label", "serial": 5, "label": 3}],
    "seq is a word": [{"seq": "abc", "kind": "label", "serial": 5, "label": 3}],
    "seq is a float": [{"seq": 1.5, "kind": "label", "serial": 5, "label": 3}],
    "seq is a bool": [{"seq": True, "kind": "label", "serial": 5, "label": 3}],
    "seq is negative": [{"seq": -4, "kind": "label", "serial": 5, "label": 3}],
    "seq is huge": [{"seq": 10**30, "kind": "label", "serial": 5, "label": 3}],
    "seq is a huge float": [{"seq": 1e308, "kind": "label", "serial": 5, "label": 3}],
    "unknown kind": [{"seq": 1, "kind": "relabel_everything"}],
    "kind not a string": [{"seq": 1, "kind": {"x": 1}}],
    "key not a digit": [{"seq": 1, "kind": "label", "serial": 5, "label": "x"}],
    "label is a bool": [{"seq": 1, "kind": "label", "serial": 5, "label": True}],
    "label is a fraction": [{"seq": 1, "kind": "label", "serial": 5, "label": 2.5}],
    "label out of range": [{"seq": 1, "kind": "label", "serial": 5, "label": 10}],
    "serial out of range": [{"seq": 1, "kind": "label", "serial": 10**9, "label": 3}],
    "serial negative": [{"seq": 1, "kind": "label", "serial": -1, "label": 3}],
    "serial a fraction": [{"seq": 1, "kind": "label", "serial": 5.5, "label": 3}],
    "serial a bool": [{"seq": 1, "kind": "label", "serial": True, "label": 3}],
    "serial a word": [{"seq": 1, "kind": "select", "serial": "five"}],
    "serial a dict": [{"seq": 1, "kind": "label", "serial": {"$gt": 0}, "label": 3}],
    "held-out test image": [{"seq": 1, "kind": "label", "serial": 320, "label": 3}],
    "events not a list": "label 5 as 3",
}


@pytest.mark.parametrize("name", list(BAD_EVENTS))
def test_bad_event_is_harmless_and_later_events_still_apply(state, name):
    tab = f"bad-{next(TABS)}"
    before = _bytes(state)
    out = _sync(state, tab, BAD_EVENTS[name])
    assert _bytes(state) == before, "a malformed event wrote labels.csv"
    notice = out["notice"]
    assert notice is sync_cb.no_update or isinstance(notice, str)
    if isinstance(notice, str) and notice:
        assert "Traceback" not in notice and len(notice) < 300
    # the tab's next good event (seq 2) is applied
    serial = 10 + next(TABS) % 200
    good = {"seq": 2, "kind": "label", "serial": serial, "label": 7}
    again = _sync(state, tab, [*(BAD_EVENTS[name] if isinstance(BAD_EVENTS[name], list) else []), good])
    assert f"{serial},7" in state.labels.path.read_text().splitlines()
    assert again["ack"] == 2


def test_notices_say_what_was_wrong(state):
    out = _sync(
        state,
        "says",
        [
            {"seq": 1, "kind": "label", "serial": 5, "label": "x"},
            {"seq": 2, "kind": "bogus"},
            {"seq": "abc", "kind": "undo"},
            {"seq": 10**30, "kind": "undo"},
            {"seq": 3, "kind": "label", "serial": -1, "label": 3},
        ],
    )
    notice = out["notice"]
    assert "bad label 'x'" in notice and "unknown event 'bogus'" in notice
    assert "malformed event" in notice and "not in sequence" in notice and "no sample -1" in notice
    assert out["ack"] == 3


def test_bad_page_payloads_do_not_raise(state):
    before = _bytes(state)
    for events in (None, "junk", 42, {"client": 5, "events": {"seq": 1}}, {"client": None, "events": None}):
        out = sync_cb.sync_outputs(state, events, "not a view", None, {"log_id": "abc"}, "ll-events")
        assert out["ack"] == 0
    out = sync_cb.sync_outputs(state, {"client": "p", "events": []}, {"version": "x", "bogus": 1}, "entropy", ["x"])
    assert out["view"]["version"] == state.cache.version  # a view it cannot use is replaced by a full one
    assert _bytes(state) == before
