"""The sample panel at the speed of thought (issue 27), with the server slowed on purpose: every
sync answers 300 ms late (AppSettings.sync_delay_ms, a test hook).

n, p and a queue click draw the queued sample from the page's own data (sample.js) in the same
task as the key press, and its whole panel follows from /_ll/sample; a map point outside the queue
says "loading" until that answer; a label key pressed while the panel does not show the selection is held
until it does; 20 n+digit pairs at 100 ms intervals each label the image on screen."""

from __future__ import annotations

import pytest

from app.testing import MAP_READY, browser_page, serving, wait_file_contains
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 600

# The serial whose image is on screen, read from the DOM (not from sample.js's own bookkeeping).
ON_SCREEN = """() => {
  const f = document.querySelector('#sample-fast');
  if (f && f.style.display !== 'none') {
    const d = f.querySelector('[data-fast-serial]');
    return d && d.querySelector('img') ? +d.getAttribute('data-fast-serial') : null;
  }
  const s = document.querySelector('#sample-panel [data-serial]');
  return s ? +s.getAttribute('data-serial') : null;
}"""

PRESS = "(k) => document.dispatchEvent(new KeyboardEvent('keydown', {key: k, bubbles: true, cancelable: true}))"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("sample"), N_TRAIN, 100, from_dict(tiny_config_dict()), sync_delay_ms=300
    ) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url) as pg:
        pg.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
        pg.wait_for_function("(n) => window.LL.queue.length === n", arg=running.state.settings.queue_size)
        pg.wait_for_function("(n) => Object.keys(window.LL.samples).length >= n", arg=running.state.settings.queue_size)
        pg.sample_fetches = []
        pg.on("request", lambda r: pg.sample_fetches.append(r.url) if "/_ll/sample" in r.url else None)
        yield pg


def test_n_and_p_swap_the_panel_in_the_key_press_with_no_request(page, running):
    for key in ("n", "n", "n", "p"):
        shown = page.evaluate(
            f"(k) => {{ ({PRESS})(k); return [window.LL.selected, ({ON_SCREEN})()]; }}", key
        )  # read in the same task as the key press: no request could have answered yet
        assert shown[0] is not None and shown[0] == shown[1], shown
    queue = page.evaluate("() => window.LL.queue")
    assert page.evaluate("() => window.LL.selected") == queue[1]
    # a click on a queued sample too
    page.click(f".ll-queue-item[data-serial='{queue[3]}']")
    assert page.evaluate(ON_SCREEN) == queue[3]
    assert page.evaluate("() => window.LL.samplesLoading") == 0  # never "loading": the page held them
    # the whole panel (with the reconstruction) follows from /_ll/sample, still with no Dash callback
    page.wait_for_function(
        "(s) => window.LL.shownSample() === s"
        " && document.querySelectorAll(`#sample-fast [data-fast-serial='${s}'] img`).length === 2",
        arg=queue[3],
    )
    assert any(f"serial={queue[3]}" in u for u in page.sample_fetches)
    assert page.evaluate(ON_SCREEN) == queue[3]
    assert not page.errors


QUEUE_VIEW = """() => {
  const box = document.querySelector('.ll-queue-box').getBoundingClientRect();
  const it = document.querySelector('.ll-queue-item.selected').getBoundingClientRect();
  return [window.scrollY, document.querySelector('.ll-queue-box').scrollTop,
          it.top >= box.top - 0.5 && it.bottom <= box.bottom + 0.5];
}"""


def test_n_through_the_whole_queue_scrolls_the_queue_box_never_the_page(page, running):
    """scrollIntoView scrolled the whole page to the queue card (below the fold), which made
    Chromium composite the page again, the map's canvas with it: twice a map click's CPU."""
    queue = page.evaluate("() => window.LL.queue")
    # "instant": Bootstrap makes the page's scrolling smooth, and a smooth scroll would still be moving
    page.evaluate("(s) => { window.scrollTo({top: 0, behavior: 'instant'}); window.LL.select(s); }", queue[0])
    page.wait_for_function("() => window.scrollY === 0")
    box_tops = set()
    for i in range(1, len(queue)):
        page.evaluate(PRESS, "n")
        assert page.evaluate("() => window.LL.selected") == queue[i]
        scroll_y, box_top, inside = page.evaluate(QUEUE_VIEW)
        assert scroll_y == 0 and inside, (i, scroll_y, inside)
        box_tops.add(box_top)
    assert len(box_tops) > 1  # the box did scroll: twenty items do not fit in it
    page.evaluate(PRESS, "p")
    assert page.evaluate(QUEUE_VIEW)[0] == 0 and page.evaluate(QUEUE_VIEW)[2]


def _outside_queue(page) -> int:
    return page.evaluate(
        "(n) => { for (let s = n - 1; s >= 0; s--)"
        " if (!window.LL.queue.includes(s) && !(s in window.LL.samples)) return s; }",
        N_TRAIN,
    )


def test_a_point_outside_the_queue_says_loading_and_holds_a_label_key_until_it_shows(page, running):
    s = _outside_queue(page)
    state = page.evaluate(
        f"(s) => {{ window.LL.select(s); ({PRESS})('4'); return [({ON_SCREEN})(), window.LL.held.length,"
        " document.querySelector('#sample-fast').textContent]; }",
        s,
    )
    assert state[0] is None and state[1] == 1 and "loading" in state[2]
    page.wait_for_function("(s) => window.LL.shownSample() === s", arg=s)
    assert any(f"serial={s}" in u for u in page.sample_fetches)
    wait_file_contains(running.state.labels.path, f"{s},4")
    assert page.evaluate("() => window.LL.held.length") == 0


def test_a_held_key_is_dropped_when_the_selection_moves_before_the_image_shows(page, running):
    s = _outside_queue(page)
    page.evaluate(f"(s) => {{ window.LL.select(s); ({PRESS})('6'); ({PRESS})('n'); }}", s)
    page.wait_for_function("() => window.LL.outbox.length === 0", timeout=10_000)
    page.wait_for_timeout(500)
    assert f"{s},6" not in running.state.labels.path.read_text()
    assert page.evaluate("() => window.LL.held.length") == 0


def test_twenty_fast_n_digit_pairs_each_label_the_image_on_screen(page, running):
    page.evaluate(
        "() => { window.__seen = [];"
        " window.addEventListener('keydown', (e) => { if (/^[0-9]$/.test(e.key))"
        f" window.__seen.push([({ON_SCREEN})(), window.LL.selected, +e.key]); }}, true); }}"
    )
    classes = running.state.num_classes
    for i in range(20):
        page.keyboard.press("n")
        page.wait_for_timeout(100)
        page.keyboard.press(str(i % classes))
        page.wait_for_timeout(100)
    seen = page.evaluate("() => window.__seen")
    assert len(seen) == 20
    page.wait_for_function("() => window.LL.outbox.length === 0 && window.LL.held.length === 0", timeout=30_000)
    final: dict[int, int] = {}
    for shown, selected, label in seen:
        assert shown == selected, seen  # never a key on an image other than the selection
        final[shown] = label
    for serial, label in final.items():
        wait_file_contains(running.state.labels.path, f"{serial},{label}")
    labels = running.state.label_reader.read()
    assert {s: int(labels[s]) for s in final} == final
    assert not page.errors


def test_auto_advance_selects_the_next_candidate_after_a_label_and_is_remembered(page, running):
    assert not page.is_checked("#auto-advance")
    page.click("label[for='auto-advance']")
    page.wait_for_function("() => document.querySelector('#auto-advance').checked")
    for _ in range(100):
        if running.state.prefs.auto_advance():
            break
        page.wait_for_timeout(50)
    assert running.state.prefs.auto_advance()
    page.wait_for_function("() => window.LL.outbox.length === 0")
    queue = page.evaluate("() => window.LL.queue")
    page.evaluate("(s) => window.LL.select(s)", queue[0])
    classes = running.state.num_classes
    after = page.evaluate(f"() => {{ ({PRESS})('{1 % classes}'); return window.LL.selected; }}")
    assert after == queue[1]  # the next candidate, at the key press
    assert page.evaluate(ON_SCREEN) == queue[1]
    page.evaluate(f"() => ({PRESS})('{2 % classes}')")
    wait_file_contains(running.state.labels.path, f"{queue[0]},{1 % classes}")
    wait_file_contains(running.state.labels.path, f"{queue[1]},{2 % classes}")
    # the pace of this tab's last labels (the earlier tests' included)
    assert "labels/min (last 10)" in page.inner_text("#stat-pace")
    # remembered: a new tab starts with the switch on
    page.reload()
    page.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
    assert page.is_checked("#auto-advance")
    assert not page.errors
