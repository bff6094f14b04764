"""The dashboard in Debian's Chromium on a dataset without ground truth (issue 24, "No ground truth"):
no True class mode, the accuracy of a short run is on held-out labels and says so, and the held-out
fraction is changed from the Labels card."""

from __future__ import annotations

import numpy as np
import pytest

from app.testing import browser_page, serving
from engine.stores import holdout
from tests.app.test_app_no_truth import no_truth_dataset
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N = 300

TEXT = "(sel) => { const e = document.querySelector(sel); return e ? e.textContent : null; }"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    ds, truth = no_truth_dataset(N)
    cfg = from_dict({**tiny_config_dict(steps=40), "data": {"name": "mine"}})
    with serving(tmp_path_factory.mktemp("browser-no-truth"), N, 0, cfg, dataset=ds, train_poll_ms=300) as app:
        chosen = np.concatenate([np.flatnonzero(truth == c)[:8] for c in range(ds.num_classes)])
        app.state.labels.set_many({int(s): int(truth[s]) for s in chosen}, source="test")
        yield app


def test_no_true_class_mode_and_the_held_out_accuracy_after_a_run(running):
    held = len(holdout.label_split(running.state.labels.read(), 0.2)[1])
    with browser_page(running.url, map_points=N) as page:
        modes = page.evaluate("() => Array.from(document.querySelectorAll('#colour-mode input')).map(i => i.value)")
        assert "label" in modes and "pred" in modes and "true" not in modes, modes
        assert "True class" not in page.inner_text("#latent-map").replace("\n", " ")
        page.wait_for_function(f"() => ({TEXT})('#stat-held-out') === '{held}'")
        assert "held-out labels" in page.evaluate(TEXT, "#stat-test-acc")  # "n/a (no held-out labels yet)"
        page.fill("#train-steps", "40")
        page.fill("#train-refresh", "40")
        page.click("#btn-start")
        page.wait_for_function(
            "() => document.querySelector('#train-state').textContent === 'finished'", timeout=240_000
        )
        page.wait_for_function(
            f"() => / on {held} held-out labels$/.test(({TEXT})('#stat-test-acc') || '')", timeout=60_000
        )
        acc = page.evaluate(TEXT, "#stat-test-acc")
        assert "±" in acc and "%" in acc, acc
        # the curves' last points come with the poll after the run's end (poll.js), the legend with them
        legend_js = "() => Array.from(document.querySelectorAll('#acc-curve .legendtext')).map(e => e.textContent)"
        page.wait_for_function(f"() => ({legend_js})().length > 0")
        legend = page.evaluate(legend_js)
        assert "accuracy on held-out labels" in legend and "test accuracy" not in legend, legend
        # the fraction, changed from the card: written, answered, and the counts follow
        page.fill("#holdout-fraction", "0.3")
        page.press("#holdout-fraction", "Enter")
        page.wait_for_selector("#holdout-result")
        assert "set to 0.3" in page.evaluate(TEXT, "#holdout-result")
        more = len(holdout.label_split(running.state.labels.read(), 0.3)[1])
        page.wait_for_function(f"() => ({TEXT})('#stat-held-out') === '{more}'")
        assert holdout.read_fraction(running.state.holdout.data_dir) == 0.3
        assert page.errors == []
