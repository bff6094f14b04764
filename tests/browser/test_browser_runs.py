"""The Runs page in Debian's Chromium (Playwright): two fabricated experiment runs, listed, ticked and
compared on one chart, then one opened. The screenshot goes to pytest's temporary directory; with
LATENTLOOP_UPDATE_DOC_SCREENSHOT=1 it also replaces docs/runs.png (docs/runs.md)."""

from __future__ import annotations

import os
import shutil

import pytest

from app.testing import browser_page, serving
from tests.app.test_app_runs import write_experiment
from tests.helpers import ROOT, tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
COMPARE = "document.querySelector('#runs-compare .js-plotly-plot')"


def test_runs_page_lists_compares_and_opens_runs(tmp_path):
    from engine.config import from_dict

    home = tmp_path / "home"
    write_experiment(home / "artifacts", "experiments/baseline-20260301-101500", 100, 0.91, "torch", 400, plot=True)
    write_experiment(home / "artifacts", "experiments/more-labels-20260302-093000", 300, 0.96, "jax", 400, plot=True)
    with serving(home, 300, 100, from_dict(tiny_config_dict()), workers=False) as app, browser_page(app.url) as page:
        page.click("#nav-runs")
        page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 2")
        assert page.is_visible("#page-runs") and not page.is_visible("#page-label")
        assert page.inner_text("#runs-status").startswith("2 runs: 2 experiments")
        names = page.locator("#runs-table tbody tr td:nth-child(2)").all_inner_texts()
        assert names == ["more-labels", "baseline"]  # newest first
        page.click("#runs-table th button:has-text('Accuracy')")  # sort: best first, then flip
        page.click("#runs-table th button:has-text('Accuracy ▼')")
        page.wait_for_function(
            "() => document.querySelector('#runs-table tbody tr td:nth-child(2)').innerText === 'baseline'"
        )
        for box in page.locator("#runs-table tbody input[type=checkbox]").all():
            box.check()
        page.wait_for_function(f"() => {{ const gd = {COMPARE}; return gd && gd.data && gd.data.length === 2; }}")
        traces = page.evaluate(f"() => {COMPARE}.data.map(t => t.name.split(' ·')[0])")
        assert sorted(traces) == ["baseline", "more-labels"]
        page.click("#runs-table tbody button:has-text('more-labels')")
        page.wait_for_selector("#runs-view-body img.ll-run-plot")
        assert "more-labels (experiment" in page.inner_text("#runs-view-body")
        assert "This run has no checkpoint" in page.inner_text("#runs-view-body") and page.is_disabled("#runs-fork")
        page.wait_for_timeout(500)
        shot = tmp_path / "runs.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size < 600_000
        if os.environ.get("LATENTLOOP_UPDATE_DOC_SCREENSHOT") == "1":  # only on purpose: the file is tracked
            shutil.copyfile(shot, ROOT / "docs" / "runs.png")
        assert not page.errors
