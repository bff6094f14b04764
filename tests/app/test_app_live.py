"""The live endpoint that app/assets/poll.js reads instead of polling through Dash (LabelPage.live):
its sync key moves exactly when a poll could answer differently, and the training part tells the
page when the drain has something to draw. The Label page's presenter (app/presenter/): each panel
declares its outputs and its change key once, and both the sync callback and the live key are built
from those declarations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.callbacks import sync as sync_cb
from app.presenter import label_page
from app.presenter.label_page import MAP_OUTPUTS, LabelPage
from app.presenter.panels import PANELS
from app.services.live import train_status
from app.testing import app_state
from app.viewmodels import UNCHANGED, ClientView
from tests.helpers import tiny_config_dict


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 300, 60, from_dict(tiny_config_dict(steps=30)), workers=False
    ) as st:
        # the first map's probe run (a background thread) moves the probes panel's key once: not
        # while a test compares two keys
        assert st.probes.wait(120)
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
    state.boxes.apply(9, "focus center", None)
    assert LabelPage(state).live_key() != before


def test_training_status_says_when_the_panel_has_something_to_draw(state):
    idle = train_status(state.session)
    assert not idle["busy"] and idle["sps"] == ""
    assert train_status(state.session)["events"] == idle["events"]
    assert not state.session.start_from_panel(state.session.panel_defaults() | {"steps": 30, "save_at_end": False})
    assert state.session.wait(120)
    done = train_status(state.session)
    assert done["events"] != idle["events"]  # the state went from idle to finished
    assert done["curves"] > idle["curves"]  # new loss and accuracy points
    assert done["progress"] == 100 and done["label"] == f"{done['step']} / {done['target']}"


def _trained(state):
    h = state.session.history
    if len(h.metrics) < 3 or not h.evals:
        assert not state.session.start_from_panel(state.session.panel_defaults() | {"steps": 30, "save_at_end": False})
        assert state.session.wait(120)
        state.session.drain()
    return h


def test_the_curves_grow_from_a_tabs_cursor(state):
    h = _trained(state)
    m, e = len(h.metrics), len(h.evals)
    page = LabelPage(state)
    whole = page.curve_update(0, 0)
    assert whole["to"] == [m, e] and not whole["reset"]
    assert [len(xs) for xs in whole["loss"]["x"]] == [m, m, m]  # total, reconstruction, supervised
    assert [len(xs) for xs in whole["acc"]["x"]] == [e, m]  # evaluations, labelled-batch accuracy
    assert whole["loss"]["x"][0] == [r["step"] for r in h.metrics]
    assert whole["loss"]["y"][0] == pytest.approx([r["loss"] for r in h.metrics])
    # a tab one row behind gets that row; a tab up to date gets nothing
    tail = page.curve_update(m - 1, e)
    assert tail["to"] == [m, e] and tail["loss"]["x"][0] == [h.metrics[-1]["step"]] and tail["acc"]["x"][0] == []
    assert page.curve_update(m, e)["loss"] == {"x": [[], [], []], "y": [[], [], []]}
    # capped: a tab far behind catches up over several answers
    part = page.curve_update(0, 0, limit=2)
    assert part["to"] == [2, min(2, e)] and part["loss"]["x"][0] == [r["step"] for r in h.metrics[:2]]
    # a tab holding more than this process (the server restarted): counted from zero again
    ahead = page.curve_update(m + 5, e)
    assert ahead["reset"] and ahead["to"] == [m, e] and ahead["loss"] == whole["loss"]


def test_the_endpoint_sends_the_curves_for_a_cursor_and_refuses_a_bad_one(state):
    from app.server import LIVE_PATH, create_app

    _trained(state)
    client = create_app(state).server.test_client()
    host = {"Host": "127.0.0.1:8050"}
    assert "curves" not in client.get(LIVE_PATH, headers=host).get_json()  # no cursor: no points
    body = client.get(LIVE_PATH + "?m=1&e=0", headers=host).get_json()
    assert body["curves"] == LabelPage(state).curve_update(1, 0)
    for query, why in (("?m=x&e=0", "must be integers"), ("?m=1", "must be integers"), ("?m=-1&e=0", "not negative")):
        resp = client.get(LIVE_PATH + query, headers=host)
        assert resp.status_code == 400 and why in resp.get_json()["error"], query


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


def test_the_sync_callbacks_outputs_are_exactly_the_declared_ones():
    declared = {name: str(o) for name, o in MAP_OUTPUTS.items()}
    for panel in PANELS:
        for name, o in panel.outputs.items():
            assert name not in declared, f"panel {panel.name} declares output {name} twice"
            declared[name] = str(o)
    assert {name: str(o) for name, o in sync_cb.OUTPUTS.items()} == declared
    assert len(set(declared.values())) == len(declared)  # no component property written twice
    names = [p.name for p in PANELS]
    assert len(set(names)) == len(names) and "highlight" not in names  # one key per panel in ClientView.keys


def test_the_registered_sync_callback_writes_the_declared_outputs(state):
    from app.server import create_app

    app = create_app(state)
    ours = [k for k in app.callback_map if "ll-ack.data" in k and "map-sync.data" in k]
    assert len(ours) == 1
    written = {s.strip(".") for s in ours[0].split("...")} - {""}
    assert written == {str(o).replace("@", "") for o in sync_cb.OUTPUTS.values()}


def test_the_live_key_and_the_syncs_change_keys_come_from_the_same_panel_key(state, monkeypatch):
    """A panel's key is written once: when it moves, the live endpoint's key moves (so poll.js fires
    the sync) and the sync re-sends that panel; a live key computed apart from the panels fails here."""
    shown = {"key": "one"}
    # the other panels' keys held still: a probe run finishing meanwhile (a background thread) moves none
    panels = tuple(
        dataclasses.replace(p, key=(lambda f: shown["key"]) if p.name == "feedback" else (lambda f: "still"))
        for p in PANELS
    )
    monkeypatch.setattr(label_page, "PANELS", panels)
    page = LabelPage(state)
    first = page.sync("same-key", [], ClientView())
    assert first.client.keys["feedback"] == "one" and first.panel("feedback") is not UNCHANGED
    live = page.live_key()
    assert page.live_key() == live
    assert page.sync("same-key", [], first.client).panel("feedback") is UNCHANGED
    shown["key"] = "two"
    assert page.live_key() != live
    again = page.sync("same-key", [], first.client)
    assert again.client.keys["feedback"] == "two" and again.panel("feedback") is not UNCHANGED
