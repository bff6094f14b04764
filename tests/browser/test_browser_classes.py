"""37 named classes in the browser (issue 24): the label buttons and the queue show the names, and
the type-ahead picker (key l) labels a sample with a class beyond the first ten by keyboard alone;
labels.csv gets the class's integer. Names reach the page as text, never as markup."""

from __future__ import annotations

import pytest

from app.testing import GD, MAP_READY, browser_page, colour_dataset, serving, wait_file_contains
from engine.datasets import dataset_path, save_dataset
from engine.datasets.classes import classes_path, write_class_names
from tests.app.test_app_class_names import names_of
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
K, N_TRAIN, N_TEST, SIDE = 37, 300, 40, 12
NAMES = names_of(K)  # 30..36: cat-3, dog-3, cow-3, hen-3, ...; 12 is long, 13 is "<b>&amp;"
PICKER = "document.querySelector('#class-picker')"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    home = tmp_path_factory.mktemp("classes")
    ds = colour_dataset(N_TRAIN, N_TEST, SIDE, SIDE, classes=K, name="named")
    save_dataset(ds, dataset_path("named", home / "data"))
    write_class_names(classes_path("named", home / "data"), NAMES)
    d = tiny_config_dict()
    d["data"] = {"name": "named"}
    d["model"].update(image_shape=[SIDE, SIDE, 3], num_classes=K, components=K)
    with serving(home, N_TRAIN, N_TEST, from_dict(d), dataset=ds, workers=False) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url) as pg:
        pg.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
        pg.wait_for_function("() => window.LL.queue.length > 0")
        yield pg


def _select_next(page) -> int:
    """n, then wait until the selected sample's panel is on screen; the selected serial."""
    page.keyboard.press("n")
    page.wait_for_function("() => window.LL.selected !== null && window.LL.shownSample() === window.LL.selected")
    return int(page.evaluate("() => window.LL.selected"))


def test_the_buttons_and_the_queue_show_the_names(page):
    _select_next(page)
    visible = (
        "() => Array.from(document.querySelectorAll('#sample-panel .ll-label-btn, #sample-fast .ll-label-btn'))"
        ".filter((b) => b.offsetParent !== null).map((b) => [b.textContent, b.title])"
    )
    page.wait_for_function(f"() => ({visible})().length === 10")  # the fast panel, then the server's
    buttons = page.evaluate(visible)
    assert [b[0] for b in buttons] == NAMES[:10]  # the first ten, keyed 0-9
    assert buttons[3][1] == f"label as {NAMES[3]} (key 3)"
    assert "37 classes" in page.locator(".ll-picker-btn:visible").inner_text()
    queue_names = page.eval_on_selector_all(".ll-queue-item .ll-q-name", "(s) => s.map((e) => e.title)")
    assert queue_names and set(queue_names) <= set(NAMES)
    legend = page.eval_on_selector_all(".ll-legend-class", "(s) => s.map((e) => e.textContent)")
    assert len(legend) == K and legend[13] == NAMES[13]  # "<b>&amp;" as text
    assert page.query_selector("#class-legend b") is None
    # the map's hover: the big trace's class numbers swapped for names (overlay.js)
    page.wait_for_function(f"() => typeof {GD}._fullData[0].customdata[0][0] === 'string'")
    hover = page.evaluate(f"() => Array.from({GD}._fullData[0].customdata.slice(0, 50), (r) => r[0])")
    assert set(hover) <= set(NAMES)
    assert not page.errors


def test_the_picker_filters_by_prefix_then_substring(page):
    assert page.evaluate("() => window.LL.filterClasses('ow')") == [8, 18, 28, 2, 22, 32]  # owl*, then cow*
    assert page.evaluate("() => window.LL.filterClasses('OW')") == [8, 18, 28, 2, 22, 32]  # any case
    assert page.evaluate("() => window.LL.filterClasses('zebra')") == []


def test_the_picker_labels_a_class_beyond_ten_by_keyboard_alone(page, running):
    serial = _select_next(page)
    page.keyboard.press("l")
    page.wait_for_function(f"() => {PICKER}.style.display !== 'none'")
    assert page.evaluate("() => document.activeElement.classList.contains('ll-picker-input')")
    page.keyboard.type("hen")  # hen (3), hen-2 (23), hen-3 (33): prefix matches in class order
    items = page.eval_on_selector_all("#class-picker li[data-class]", "(s) => s.map((e) => +e.dataset.class)")
    assert items == [3, 23, 33]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#class-picker li.active", "data-class") == "33"
    page.keyboard.press("Enter")
    assert not page.is_visible("#class-picker")
    wait_file_contains(running.state.labels.path, f"{serial},33")
    page.wait_for_function(
        "(s) => { const l = document.querySelector('#sample-panel #sample-label'); "
        "return window.LL.shownSample() === s && l && l.textContent === 'hen-3'; }",
        arg=serial,
    )
    # Escape closes the picker and keeps the selection; a name with markup is shown as text
    page.keyboard.press("l")
    page.keyboard.type("<b")
    assert page.inner_text("#class-picker li.active") == NAMES[13]
    assert page.query_selector("#class-picker li b") is None
    page.keyboard.press("Escape")
    assert not page.is_visible("#class-picker") and page.evaluate("() => window.LL.selected") == serial
    assert not page.errors
