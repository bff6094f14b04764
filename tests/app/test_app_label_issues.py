"""The suspicious-labels queue, the accept key, undo, the sample panel's given vs suggested label and
the "label quality" colour mode, through AppState and the sync callback (no browser).

The map version is a planted one: responsibilities concentrated on each sample's true class, so the
planted label flips are what a good model would disagree with."""

from __future__ import annotations

import pytest

from app.callbacks import sync as sync_cb
from app.layouts.queue import queue_list
from app.layouts.sample import sample_panel
from app.presenter import views
from app.presenter.label_page import LabelPage
from app.services.label_issues import SUSPICIOUS, queue_menu
from app.testing import app_state, plant_label_issues
from app.viewmodels import UNCHANGED, ClientView
from tests.helpers import tiny_config_dict

N_TRAIN, N_TEST = 400, 100


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"), N_TRAIN, N_TEST, from_dict(tiny_config_dict()), queue_size=10
    ) as st:
        yield st


@pytest.fixture(scope="module")
def planted(state):
    """100 labels (10 per class) with 8 flipped, and a map version that knows the true classes."""
    return plant_label_issues(state)


def sync(state, events=(), view=None, mode="label", client="t"):
    out = sync_cb.sync_outputs(
        state, {"client": client, "events": list(events)}, view or {}, SUSPICIOUS, {"log_id": 0}, "ll-events", mode
    )
    assert out.keys() == sync_cb.OUTPUTS.keys()
    return out


def queue_serials(state) -> list[int]:
    return [c.serial for c in views.queue_view(state, SUSPICIOUS).items]


def test_the_queue_lists_the_planted_flips_with_reasons(state, planted):
    qv = views.queue_view(state, SUSPICIOUS)
    found = {c.serial for c in qv.items}
    assert len(found & planted["flipped"]) >= 7 and len(found - planted["flipped"]) <= 2
    first = qv.items[0]
    truth = int(state.dataset.targets[first.serial])
    assert first.why.startswith(f"labelled {planted['given'][first.serial]}; model says {truth} (")
    assert f"nearest labelled neighbours say {truth}" in first.why
    assert "suspicious of 100 labels" in qv.source
    assert SUSPICIOUS in [o["value"] for o in queue_menu()]
    html = str(queue_list(qv).to_plotly_json())
    assert f"#{first.serial}" in html and "model says" in html


def test_the_sample_panel_shows_given_and_suggested(state, planted):
    s = min(planted["flipped"])
    view = views.sample_view(state, s)
    assert view.issue is not None
    assert view.issue.given == planted["given"][s] != view.issue.suggested == int(state.dataset.targets[s])
    text = str(sample_panel(view).to_plotly_json())
    assert "sample-given" in text and "sample-suggested" in text and "accept label" in text
    unlabelled = next(i for i in range(N_TRAIN) if i not in planted["given"])
    assert views.sample_view(state, unlabelled).issue is None


def test_accept_relabel_and_undo_through_the_sync(state, planted):
    out = sync(state)
    view = out["view"]
    before = queue_serials(state)
    a, b = before[0], before[1]
    # accept a: it leaves the queue, the file holds it, the panel says so
    out = sync(state, [{"seq": 1, "kind": "select", "serial": a}, {"seq": 2, "kind": "accept", "serial": a}], view)
    assert out["notice"] == f"accepted the label of #{a}"
    assert state.labels.accepted() == {a: planted["given"][a]}
    assert a not in queue_serials(state) and out["queue_store"] is not sync_cb.no_update
    assert a not in out["queue_store"]
    assert "sample-accepted" in str(out["sample"].to_plotly_json())
    view = out["view"]
    # relabel b with the suggested class: no longer suspicious
    truth = int(state.dataset.targets[b])
    out = sync(state, [{"seq": 3, "kind": "label", "serial": b, "label": truth}], view)
    assert out["view"]["more"] and out["queue_store"] is sync_cb.no_update  # lean: the queue comes next
    out = sync(state, [], out["view"])
    assert state.label_reader.read()[b] == truth and b not in out["queue_store"]
    view = out["view"]
    # undo twice: the relabel, then the acceptance
    out = sync(state, [], sync(state, [{"seq": 4, "kind": "undo"}], view)["view"])
    assert state.label_reader.read()[b] == planted["given"][b] and b in out["queue_store"]
    view = out["view"]
    out = sync(state, [{"seq": 5, "kind": "undo"}], view)
    assert out["notice"] == f"undid acceptance of #{a}"
    assert state.labels.accepted() == {} and a in out["queue_store"]


def test_accepting_an_unlabelled_sample_is_a_notice(state, planted):
    unlabelled = next(i for i in range(N_TRAIN) if i not in planted["given"])
    out = sync(state, [{"seq": 1, "kind": "accept", "serial": unlabelled}], client="t-unl")
    assert out["notice"] == f"not accepted: #{unlabelled} has no label: only a given label can be accepted"
    assert not state.labels.accepted_path.exists() or state.labels.accepted() == {}


def test_the_quality_mode_gets_the_scores_and_other_modes_do_not(state, planted):
    res = LabelPage(state).sync("q", [], ClientView(), SUSPICIOUS, 0, "label")
    assert res.panel("quality") is UNCHANGED
    res = LabelPage(state).sync("q", [], ClientView(), SUSPICIOUS, 0, "quality")
    ranking = state.issues.ranking(state.cache.current, state.label_reader.read())
    assert sorted(res.panel("quality")["serials"]) == sorted(planted["given"])
    q = dict(zip(res.panel("quality")["serials"], res.panel("quality")["quality"], strict=True))
    assert all(abs(q[r.serial] - r.quality) < 1e-3 for r in ranking.ranked)
    assert max(q[s] for s in planted["flipped"]) < min(q[s] for s in set(planted["given"]) - planted["flipped"]) + 0.2
    again = LabelPage(state).sync("q", [], res.client, SUSPICIOUS, 0, "quality")
    assert again.panel("quality") is UNCHANGED  # nothing changed: nothing re-sent
    state.labels.set(min(planted["flipped"]), int(state.dataset.targets[min(planted["flipped"])]), source="test")
    try:
        changed = LabelPage(state).sync("q", [], again.client, SUSPICIOUS, 0, "quality")
        assert changed.panel("quality") is not UNCHANGED  # a label changed: new scores
    finally:
        state.labels.undo(source="test")


def test_a_malformed_accepted_file_is_shown_and_kept(state, planted):
    path = state.labels.accepted_path
    path.write_text("Serial,label\n1,1\n1,1\n")
    try:
        qv = views.queue_view(state, SUSPICIOUS)
        assert qv.source.startswith("error: ") and "duplicate Serial 1" in qv.source
        out = sync(state, [{"seq": 1, "kind": "accept", "serial": min(planted["given"])}], client="t-bad")
        assert out["notice"].startswith("not accepted: ") and "labels.accepted.csv" in out["notice"]
        assert path.read_text() == "Serial,label\n1,1\n1,1\n"
    finally:
        path.unlink()
