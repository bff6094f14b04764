"""The page's poll script (app/assets/poll.js) in Debian's Chromium: no Dash callback while nothing
changes, one sync when the label store changes, the training progress written without the drain,
and no Model page callback for a selection while that page is hidden."""

from __future__ import annotations

import json

import pytest

from app.testing import OVERLAY_LABEL, browser_page, serving, wait_settled
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 300
LOSS_STEPS = "Array.from(document.querySelector('#loss-curve .js-plotly-plot').data[0].x)"
ACC_STEPS = "Array.from(document.querySelector('#acc-curve .js-plotly-plot').data[0].x)"
LOSS_POINTS = "document.querySelector('#loss-curve .js-plotly-plot').data[0].x.length"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("browser-poll"),
        N_TRAIN,
        60,
        from_dict(tiny_config_dict()),
        label_poll_ms=300,
        train_poll_ms=300,
        curve_ms=1000,  # the curves grow every second, from the poll: drains come from state changes only
        workers=False,
    ) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url, map_points=N_TRAIN) as pg:
        pg.calls = []  # (changedPropIds, output) of every Dash callback request

        def on_request(req):
            if "_dash-update-component" in req.url:
                body = json.loads(req.post_data or "{}")
                pg.calls.append((body.get("changedPropIds", []), body.get("output", "")))

        pg.on("request", on_request)
        yield pg


def _calls_during(page, ms: int) -> list:
    # the page's start-up callbacks are done and the poll has seen the server's keys
    page.wait_for_function("() => window.LLPoll.polls > 0")
    wait_settled(page)
    n = len(page.calls)
    polls = page.evaluate("() => window.LLPoll.polls")
    page.wait_for_timeout(ms)
    assert page.evaluate("() => window.LLPoll.polls") - polls >= ms / 300 / 2  # the script did poll
    return page.calls[n:]


def test_nothing_changed_no_dash_callback(page):
    assert _calls_during(page, 3000) == []


def test_a_cli_label_fires_one_sync_and_shows(page, running):
    n = len(page.calls)
    running.state.labels.set(11, 4, source="cli")
    page.wait_for_function(f"() => {{ const r = ({OVERLAY_LABEL})(11); return r && r[0] === 4; }}", timeout=15_000)
    page.wait_for_timeout(1000)  # later polls see the same key
    syncs = [ids for ids, _ in page.calls[n:] if "label-poll.data" in ids]
    assert len(syncs) == 1, page.calls[n:]


def test_training_progress_is_written_without_the_drain(page, running):
    state = running.state
    n, polls = len(page.calls), page.evaluate("() => window.LLPoll.polls")
    assert not state.session.start_from_panel(state.session.panel_defaults() | {"steps": 100_000, "save_at_end": False})
    try:
        page.wait_for_function(
            "() => document.querySelector('#train-state').textContent === 'running'", timeout=120_000
        )
        first = page.inner_text("#train-step")
        page.wait_for_function("(s) => document.querySelector('#train-step').textContent !== s", arg=first)
        second = page.inner_text("#train-step")
        page.wait_for_function("(s) => document.querySelector('#train-step').textContent !== s", arg=second)
        assert "samples/s" in page.inner_text("#train-sps")
        width = page.evaluate("() => document.querySelector('#train-progress').style.width")
        # moved without an animation: Bootstrap's width transition drew frames for 0.6 s of every poll
        assert (
            page.evaluate("() => getComputedStyle(document.querySelector('#train-progress')).transitionDuration")
            == "0s"
        )
        assert width.endswith("%") and page.inner_text("#train-progress").endswith("/ 100000")
        # the loss curve grows through Plotly.extendTraces from the poll, not a Dash callback
        grown = "(n) => document.querySelector('#loss-curve .js-plotly-plot').data[0].x.length > n"
        extended = page.evaluate("() => window.LLPoll.extended")
        for _ in range(2):
            points = page.evaluate(f"() => {LOSS_POINTS}")
            page.wait_for_function(grown, arg=points, timeout=60_000)
        assert page.evaluate("() => window.LLPoll.extended") >= extended + 2
        page.wait_for_timeout(3000)
        drains = [ids for ids, _ in page.calls[n:] if "train-interval.data" in ids]
        polled = page.evaluate("() => window.LLPoll.polls") - polls
        # the state and phase changes only, not one per poll nor one per new curve point
        assert 1 <= len(drains) <= 5 and polled >= 3 * len(drains), (drains, polled)
        assert not [out for _, out in page.calls[n:] if "loss-curve" in out or "acc-curve" in out]
    finally:
        state.session.stop()
        state.session.wait(60)
    page.wait_for_function("() => document.querySelector('#train-state').textContent !== 'running'", timeout=60_000)
    # the drains of the stop left the curves alone, and the last poll brought every point once
    state.session.drain()
    h = state.session.history
    want = [[r["step"] for r in h.metrics], [r["step"] for r in h.evals]]
    page.wait_for_function(
        f"(want) => JSON.stringify([{LOSS_STEPS}, {ACC_STEPS}]) === JSON.stringify(want)", arg=want, timeout=30_000
    )


def test_a_selection_on_the_label_page_costs_the_model_page_nothing(page):
    n = len(page.calls)
    page.evaluate("() => window.LL.select(5)")
    page.wait_for_function("() => (document.querySelector('#sample-serial') || {}).textContent === '#5'")
    page.wait_for_timeout(1000)
    assert not [out for _, out in page.calls[n:] if "model-microscope" in out]
    page.click("#nav-model")
    page.wait_for_function(
        "() => { const h = document.querySelector('#model-micro-head'); return h && h.dataset.serial === '5'; }"
    )
    page.evaluate("() => window.LL.select(6)")  # on the Model page the microscope follows the selection
    page.wait_for_function(
        "() => { const h = document.querySelector('#model-micro-head'); return h && h.dataset.serial === '6'; }"
    )
    page.click("#nav-label")
    assert not page.errors


def test_the_help_overlay_as_markup_shows_every_shortcut_and_closes(page):
    from app.layouts.page import SHORTCUTS

    page.keyboard.press("?")
    # dcc.Markdown is loaded on demand: its markup appears a moment after the page
    page.wait_for_function("(n) => document.querySelectorAll('#help-overlay tr').length === n", arg=len(SHORTCUTS))
    rows = page.evaluate(
        "() => Array.from(document.querySelectorAll('#help-overlay tr')).map("
        "(tr) => Array.from(tr.cells).map((c) => c.textContent))"
    )
    assert rows == [[k, d] for k, d in SHORTCUTS]
    assert page.locator("#help-overlay kbd").count() == len(SHORTCUTS)
    page.click("#help-close")
    assert not page.is_visible("#help-overlay")


def test_the_training_form_labels_its_inputs(page):
    from app.layouts.training import TRAIN_FIELDS

    for id_, label, _, _ in TRAIN_FIELDS:
        assert page.evaluate("(id) => document.getElementById(id).labels[0].textContent", id_) == label
