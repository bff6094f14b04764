"""The review window opens in a normal dashboard session on MNIST (slow: ~1,000-1,500 real steps).

A user's session: the app with its workers on MNIST and the default config, 100 labels, and runs of
the training panel's default length (500 steps; the map refreshes at the end of each) until the
forecast worker opens its review window, at most the default config's 3,000 steps. Everything goes
through AppState as the page drives it: the refreshes reach the real forecast child process, and
its candidates reach the candidate queue's "forecast" source with a reason each.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]


def test_review_window_opens_in_a_dashboard_session_on_mnist(tmp_path, monkeypatch):
    from app.layouts import workers as worker_card
    from app.presenter import views
    from app.services.candidates import EXTERNAL
    from app.services.workers import worker_status
    from app.settings import AppSettings
    from app.state import AppState
    from app.testing import PROJECT_MNIST, link_mnist
    from engine.datasets import oracle_labels

    assert link_mnist(tmp_path), f"{PROJECT_MNIST} is missing: `make data` (which `make test` runs) builds it"
    monkeypatch.setenv("LATENTLOOP_HOME", str(tmp_path))
    state = AppState.create(AppSettings(config=str(ROOT / "configs" / "default.yaml")))
    try:
        assert state.dataset.name == "mnist" and len(state.dataset) == 70_000
        state.labels.set_many(oracle_labels(state.dataset, 10, 0), source="test")  # 100 labels
        seen = []
        while True:
            deadline = time.monotonic() + 120
            while state.hub.forecast is None or state.hub.forecast.step != state.session.trainer.step:
                assert time.monotonic() < deadline, "no forecast for the latest refresh"
                time.sleep(0.2)
            res = state.hub.forecast
            seen.append((res.step, res.window_open, res.reason))
            if res.window_open or state.session.trainer.step >= 3000:
                break
            assert not state.session.start_from_panel(state.session.panel_defaults())  # the panel's defaults
            state.session.wait(900)
            state.session.drain()  # what the page's poll does: the refresh goes to the forecast worker
            assert state.session.state == "finished", state.session.error
        status_line = str(worker_card.worker_status(worker_status(state.hub)))
    finally:
        state.session.wait(60)
        state.close()
    assert seen[0][:2] == (0, False) and "min_steps" in seen[0][2], seen  # startup: closed, and says why
    assert res.window_open, seen
    assert res.step <= 3000
    qv = views.queue_view(state, EXTERNAL)
    labels = state.label_reader.read()
    assert len(qv.items) == 10 and all(labels[c.serial] < 0 and c.why for c in qv.items)
    assert "review window open" in qv.source
    assert "review window open" in status_line
    print("\nreview window:", seen)
