"""The live endpoint that app/assets/poll.js reads instead of polling through Dash (app/services/live.py):
its sync key moves exactly when a poll could answer differently, and the training part tells the
page when the drain has something to draw."""

from __future__ import annotations

import numpy as np
import pytest

from app.presenter.label_page import LabelPage
from app.services.live import train_status
from app.testing import app_state
from tests.helpers import tiny_config_dict


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 300, 60, from_dict(tiny_config_dict(steps=30)), workers=False
    ) as st:
        yield st


def test_the_sync_key_stays_while_nothing_changes(state):
    assert LabelPage(state).live_key() == LabelPage(state).live_key()


def test_the_sync_key_moves_with_a_label_from_the_cli(state):
    before = LabelPage(state).live_key()
    state.labels.set(7, 3, source="cli")  # the store, as `latentloop label set` writes it
    assert LabelPage(state).live_key() != before


def test_the_sync_key_moves_with_an_accepted_label_and_a_new_map_version(state):
    state.labels.set(8, 1, source="app")
    before = LabelPage(state).live_key()
    state.labels.accept(8, source="app")
    after_accept = LabelPage(state).live_key()
    assert after_accept != before
    v = state.cache.current
    state.cache.update(v.mu + 1.0, v.probs, v.resp, v.step + 1, True)
    assert LabelPage(state).live_key() != after_accept


def test_the_sync_key_moves_with_a_feedback_box(state):
    before = LabelPage(state).live_key()
    state.apply_feedback(9, "focus center", None)
    assert LabelPage(state).live_key() != before


def test_training_status_says_when_the_panel_has_something_to_draw(state):
    idle = train_status(state.session)
    assert not idle["busy"] and idle["sps"] == ""
    assert train_status(state.session)["events"] == idle["events"]
    assert not state.start_training(state.default_train_values() | {"steps": 30, "save_at_end": False})
    assert state.session.wait(120)
    done = train_status(state.session)
    assert done["events"] != idle["events"]  # the state went from idle to finished
    assert done["curves"] > idle["curves"]  # new loss and accuracy points
    assert done["progress"] == 100 and done["label"] == f"{done['step']} / {done['target']}"


def test_the_endpoint_answers_json_without_a_dash_round_trip(state):
    from app.server import LIVE_PATH, create_app

    client = create_app(state).server.test_client()
    resp = client.get(LIVE_PATH, headers={"Host": "127.0.0.1:8050"})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    body = resp.get_json()
    assert body == LabelPage(state).live()
    assert set(body["train"]) >= {"busy", "step", "progress", "label", "sps", "events", "curves"}
    assert client.get(LIVE_PATH, headers={"Host": "evil.example"}).status_code == 403


def test_the_page_starts_from_the_keys_it_was_built_with(state):
    from app.layouts import build_layout
    from app.server import layout_context

    ctx = layout_context(state)
    live = next(c for c in _walk(build_layout(ctx)) if getattr(c, "id", None) == "ll-live")
    data = live.to_plotly_json()["props"]
    assert data["data-key"] == LabelPage(state).live_key()
    assert data["data-events"] == train_status(state.session)["events"]
    assert np.isclose(data["data-curve-ms"], state.settings.curve_ms)


def _walk(c):
    yield c
    kids = getattr(c, "children", None)
    for k in kids if isinstance(kids, list | tuple) else [kids]:
        if hasattr(k, "to_plotly_json"):
            yield from _walk(k)
