"""The Label page's presenter (app/presenter/): each panel declares its outputs and its change key
once, and both the sync callback and the live endpoint are built from those declarations."""

from __future__ import annotations

import dataclasses

import pytest

from app.callbacks import sync as sync_cb
from app.presenter import label_page
from app.presenter.label_page import MAP_OUTPUTS, LabelPage
from app.presenter.panels import PANELS
from app.testing import app_state
from app.viewmodels import UNCHANGED, ClientView
from tests.helpers import tiny_config_dict


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), 300, 60, from_dict(tiny_config_dict(steps=30)), workers=False
    ) as st:
        yield st


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
    panels = tuple(dataclasses.replace(p, key=lambda f: shown["key"]) if p.name == "feedback" else p for p in PANELS)
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
