"""The Probes panel in Debian's Chromium: the table after the first map, a probe added through the
form shows its metrics, the map is coloured by a probe's target, and the row's button removes it."""

from __future__ import annotations

import numpy as np
import pytest

from app.testing import GD, browser_page, serving
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 400
CELL = "(a) => { const e = document.querySelector(`#probes-table tr[data-task='${a[0]}'] td[data-metric='${a[1]}']`);"
CELL += " return !!(e && e.textContent.trim() && e.querySelector('img.ll-spark')); }"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    cfg = from_dict({**tiny_config_dict(), "tasks": [{"name": "digit", "kind": "classification", "input": "z"}]})
    with serving(tmp_path_factory.mktemp("browser-probes"), N_TRAIN, 100, cfg, label_poll_ms=1000) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url, map_points=N_TRAIN) as pg:
        yield pg


def _marker_colours(page) -> list[float]:
    return page.evaluate(f"() => Array.from({GD}._fullData[0].marker.color)")


def test_add_a_probe_see_its_metrics_colour_the_map_and_remove_it(page, running):
    from engine.datasets.attributes import dataset_attributes

    st = running.state
    page.wait_for_function(CELL, arg=["digit", "accuracy"], timeout=120_000)  # the first map's probes
    assert "%" in page.inner_text("#probes-table tr[data-task='digit'] td[data-metric='accuracy']")

    # the form: kind regression and target ink are the defaults
    page.fill("#probe-name", "ink_z")
    page.fill("#probe-input", "z[0:4]")
    page.click("#probe-apply")
    page.wait_for_function(
        "() => document.querySelector('#probe-message').textContent.includes(\"added probe 'ink_z'\")"
    )
    page.wait_for_function(CELL, arg=["ink_z", "r2"], timeout=120_000)
    assert page.inner_text("#probes-table tr[data-task='ink_z'] td[data-metric='mae']").strip()
    assert [t.name for t in st.session.trainer.cfg.tasks] == ["digit", "ink_z"]

    # a bad slice: the message says why, the table keeps its rows
    page.fill("#probe-name", "too_far")
    page.fill("#probe-input", "z[8:12]")
    page.click("#probe-apply")
    page.wait_for_function("() => document.querySelector('#probe-message [data-error=true]') !== null")
    assert "selects no latent dimension" in page.inner_text("#probe-message")
    assert page.locator("#probes-table tr[data-task]").count() == 2

    # colour the map by the probe's target: the ink of every point, on a continuous scale
    page.click(".ll-colour-mode label:has-text('Probe')")
    page.click("#probe-colour")
    page.get_by_role("option", name="ink_z · target (ink)", exact=True).click()
    ink = dataset_attributes(st.dataset)["ink"][:N_TRAIN]
    page.wait_for_function(
        f"(v) => {{ const m = {GD}._fullData[0].marker; return m.color && m.color.length === {N_TRAIN}"
        " && Math.abs(m.color[0] - v) < 1e-4; }",
        arg=float(ink[0]),
    )
    np.testing.assert_allclose(_marker_colours(page), ink, rtol=1e-5)

    # ... and by the digit probe's prediction: classes on the categorical palette
    page.click("#probe-colour")
    page.get_by_role("option", name="digit · prediction", exact=True).click()
    page.wait_for_function(f"() => {GD}._fullData[0].marker.cmax === {st.num_classes - 0.5}")
    shown = _marker_colours(page)
    assert set(shown) <= set(range(st.num_classes)) and len(shown) == N_TRAIN

    # the row's button removes the probe: from the table and from the trainer's config
    page.click("#probes-table tr[data-task='ink_z'] .ll-probe-remove")
    page.wait_for_function("() => !document.querySelector(\"#probes-table tr[data-task='ink_z']\")")
    assert [t.name for t in st.session.trainer.cfg.tasks] == ["digit"]
    assert not page.errors
