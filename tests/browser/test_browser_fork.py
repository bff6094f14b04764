"""Fork and steer in Debian's Chromium (Playwright): train a little, save, branch the checkpoint with a
changed loss weight from the Checkpoints panel (the form and the branch tree follow), then compare
the two checkpoints on the Runs page: curves on one chart and probes side by side."""

from __future__ import annotations

import pytest

from app.testing import browser_page, serving
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]
COMPARE = "document.querySelector('#runs-compare .js-plotly-plot')"
TASKS = [{"name": "digit", "kind": "classification", "input": "z"}]


def test_branch_from_the_panel_and_compare_on_the_runs_page(tmp_path):
    from engine.config import from_dict
    from engine.stores.checkpoints import CheckpointStore

    cfg = from_dict({**tiny_config_dict(eval_every=10), "tasks": TASKS})
    with serving(tmp_path / "home", 300, 100, cfg, workers=False) as app, browser_page(app.url) as page:
        page.fill("#train-steps", "20")
        page.press("#train-steps", "Tab")
        page.uncheck("#train-save")
        page.click("#btn-start")
        page.wait_for_function("() => document.querySelector('#train-state').innerText === 'finished'", timeout=120_000)
        page.fill("#ckpt-name", "trunk")
        page.click("#btn-ckpt-save")
        page.wait_for_function("() => document.querySelector('#ckpt-message').innerText.includes('saved')")
        page.fill("#ckpt-name", "twig")
        page.fill("#ckpt-changes", "loss.alpha=2.5")
        page.click("#btn-ckpt-fork")
        page.wait_for_function("() => document.querySelector('#ckpt-message').innerText.includes('branched')")
        assert "loss.alpha: 1.0 -> 2.5" in page.inner_text("#ckpt-message")
        assert page.input_value("#train-alpha") == "2.5"  # the loaded branch's weight
        tree = page.locator("#ckpt-tree li").all_inner_texts()
        assert [t.split(" ·")[0].removeprefix("└ ") for t in tree] == ["trunk", "twig"]
        assert tree[1].startswith("└ twig") and "1 change" in tree[1]
        assert CheckpointStore(tmp_path / "home" / "artifacts" / "checkpoints").load("twig").meta["parent"] == "trunk"

        page.click("#nav-runs")
        page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length === 2")
        assert "2 checkpoints" in page.inner_text("#runs-status")
        for box in page.locator("#runs-table tbody input[type=checkbox]").all():
            box.check()
        page.wait_for_function(f"() => {{ const gd = {COMPARE}; return gd && gd.data && gd.data.length === 2; }}")
        page.click("#runs-probe")
        page.wait_for_selector("#runs-probe-table", timeout=120_000)
        header = page.locator("#runs-probe-table th").all_inner_texts()
        assert header[0] == "probe" and sorted(header[1:]) == ["trunk", "twig"]
        assert "digit.accuracy" in page.inner_text("#runs-probe-table")
        assert "probed" in page.inner_text("#runs-probe-status")
        assert not page.errors
