"""Suspicious labels in Debian's Chromium: choose the strategy, relabel one sample with a key, accept
another with "a", undo both, and colour the map by label quality (docs/label-issues.md)."""

from __future__ import annotations

import pytest

from app.testing import GD, browser_page, plant_label_issues, serving, wait_file_contains
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 400


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("browser-issues"), N_TRAIN, 100, from_dict(tiny_config_dict()), label_poll_ms=1000
    ) as app:
        app.planted = plant_label_issues(app.state)
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url, map_points=N_TRAIN) as pg:
        yield pg


def _queue(page) -> list[int]:
    return page.evaluate(
        "() => Array.from(document.querySelectorAll('.ll-queue-item')).map(e => +e.getAttribute('data-serial'))"
    )


def _select_next(page, serial: int) -> None:
    page.keyboard.press("n")
    page.wait_for_function(
        "(s) => { const e = document.querySelector('#sample-serial'); return e && e.textContent === '#' + s; }",
        arg=serial,
    )


def test_relabel_accept_and_undo_from_the_suspicious_queue(page, running):
    planted, st = running.planted, running.state
    page.click("#queue-strategy")
    page.get_by_role("option", name="suspicious labels", exact=True).click()
    page.wait_for_function("() => document.querySelector('#queue-source').textContent.includes('suspicious of')")
    shown = _queue(page)
    assert len(set(shown) & planted["flipped"]) >= 7, (shown, planted["flipped"])
    assert "model says" in page.inner_text(".ll-queue-item .ll-q-why")
    a, b = shown[0], shown[1]
    truth = int(st.dataset.targets[a])

    # relabel a with the suggested class (key): labels.csv changes, a leaves the queue
    _select_next(page, a)
    assert page.inner_text("#sample-given") == str(planted["given"][a])
    assert page.inner_text("#sample-suggested") == str(truth)
    page.keyboard.press(str(truth))
    wait_file_contains(st.labels.path, f"{a},{truth}")
    page.wait_for_function(
        "(a) => !Array.from(document.querySelectorAll('.ll-queue-item')).some("
        "e => +e.getAttribute('data-serial') === a)",
        arg=a,
    )

    # accept b (key a): labels.accepted.csv holds it, the panel says so, b leaves the queue
    _select_next(page, b)
    page.keyboard.press("a")
    wait_file_contains(st.labels.accepted_path, f"{b},{planted['given'][b]}")
    page.wait_for_selector("#sample-accepted")
    page.wait_for_function(
        "(b) => !Array.from(document.querySelectorAll('.ll-queue-item')).some("
        "e => +e.getAttribute('data-serial') === b)",
        arg=b,
    )

    # undo the acceptance, then the relabel: both come back
    page.keyboard.press("Backspace")
    wait_file_contains(st.labels.accepted_path, f"{b},{planted['given'][b]}", present=False)
    page.keyboard.press("Backspace")
    wait_file_contains(st.labels.path, f"{a},{planted['given'][a]}")
    page.wait_for_function(
        "([a, b]) => { const q = Array.from(document.querySelectorAll('.ll-queue-item'))"
        ".map(e => +e.getAttribute('data-serial')); return q.includes(a) && q.includes(b); }",
        arg=[a, b],
    )
    assert not page.errors


def test_label_quality_colour_mode_rings_the_labelled_points(page, running):
    planted = running.planted
    page.click(".ll-colour-mode label:has-text('Label quality')")
    page.wait_for_function(
        f"(n) => {{ const m = {GD}._fullData[0].marker; return Array.isArray(m.size) && m.size.length === n; }}",
        arg=N_TRAIN,
    )
    colour, size = page.evaluate(f"() => {{ const m = {GD}._fullData[0].marker; return [m.color, m.size]; }}")
    labelled = set(planted["given"])
    assert {i for i, c in enumerate(colour) if c >= 0} == labelled
    assert {i for i, s in enumerate(size) if s > 3} == labelled
    flipped_q = [colour[s] for s in planted["flipped"]]
    clean_q = [colour[s] for s in labelled - planted["flipped"]]
    assert sorted(flipped_q)[len(flipped_q) // 2] < sorted(clean_q)[len(clean_q) // 2]  # medians
    page.click(".ll-colour-mode label:has-text('Predicted')")
    page.wait_for_function(f"() => !Array.isArray({GD}._fullData[0].marker.size)")
    assert not page.errors
