"""The dashboard at MNIST scale: 60,000 training images on the map (synthetic data, tiny model)."""

from __future__ import annotations

import json

import pytest

from app.testing import GD, MAP_READY, OVERLAY_LABEL, launch, serving, wait_file_contains
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]
N = 60_000


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("large"), N, 500, from_dict(tiny_config_dict()), label_poll_ms=2000, workers=False
    ) as app:
        yield app


def test_60000_points_load_label_and_switch_colours(running):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        sizes: dict[str, int] = {}

        def on_response(r):
            if "_dash-update-component" in r.url and "latent-map.figure" in (r.request.post_data or ""):
                try:
                    body = json.loads(r.body())["response"]
                except Exception:
                    return
                if "figure" in body.get("latent-map", {}) and "data" in body["latent-map"]["figure"]:
                    sizes["figure"] = len(json.dumps(body["latent-map"]["figure"]))
                    sizes["colours"] = len(json.dumps(body.get("colour-store", {}).get("data")))

        page.on("response", on_response)
        page.goto(running.url)
        page.wait_for_function(MAP_READY, arg=N, timeout=120_000)
        assert 0 < sizes["figure"] <= 1_000_000, sizes  # docs/architecture.md section 9 budget
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.post_data or "") if r.method == "POST" else None)
        page.click(".ll-colour-mode label:has-text('True class')")
        page.wait_for_function(
            f"() => {{ const c = {GD}._fullData[0].marker.color; return c && c.length === {N}; }}", timeout=30_000
        )
        # the mode rides along as the sync's State, but it never triggers a request
        assert not any("colour-mode.value" in json.loads(b).get("changedPropIds", []) for b in posts if b)
        serial = 45_123
        page.evaluate("(s) => window.LL.select(s)", serial)
        page.wait_for_selector("#sample-serial")
        page.keyboard.press("4")
        wait_file_contains(running.state.labels.path, f"{serial},4", timeout=30)
        page.wait_for_function(
            f"(s) => {{ const r = ({OVERLAY_LABEL})(s); return r && r[0] === 4; }}", arg=serial, timeout=30_000
        )
        browser.close()
