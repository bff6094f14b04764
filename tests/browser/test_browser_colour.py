"""The dashboard in Debian's Chromium on a small RGB data set of 24x32 (height x width) images
(issue 23): label a sample with a key, train, explain a sample. The images show in colour, keep
their shape and are enlarged by whole pixels; the saliency overlay is drawn over the colour image."""

from __future__ import annotations

import pytest

from app.testing import MAP_READY, browser_page, colour_dataset, serving, wait_file_contains
from tests.app.test_app_colour import H, W, colour_config

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 300

# JS: how an <img> is shown: its natural size, its box, its CSS scaling and whether its pixels
# (drawn on a canvas) are coloured, i.e. some pixel's channels differ.
SHOWN = """(sel) => { const img = document.querySelector(sel); if (!img || !img.complete) return null;
  const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data; let colour = 0;
  for (let i = 0; i < px.length; i += 4)
    if (Math.abs(px[i] - px[i + 1]) > 30 || Math.abs(px[i + 1] - px[i + 2]) > 30) colour++;
  const s = getComputedStyle(img), r = img.getBoundingClientRect();
  return {w: img.naturalWidth, h: img.naturalHeight, bw: Math.round(r.width), bh: Math.round(r.height),
          rendering: s.imageRendering, fit: s.objectFit, colour: colour}; }"""

XAI_READY = "(s) => !!document.querySelector(`#xai-panel [data-state=ready][data-serial='${s}']`)"
SERIAL = "() => { const e = document.querySelector('#sample-serial'); return e ? +e.textContent.slice(1) : null; }"


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with serving(
        tmp_path_factory.mktemp("browser-colour"),
        N_TRAIN,
        60,
        colour_config(steps=60),
        dataset=colour_dataset(N_TRAIN, 60, H, W),
        label_poll_ms=1000,
        train_poll_ms=300,
    ) as app:
        yield app


def _next(page) -> int:
    """Press n; the newly selected sample once the server's panel shows it."""
    old = page.evaluate(SERIAL)
    page.keyboard.press("n")
    page.wait_for_function(f"(old) => {{ const s = ({SERIAL})(); return s !== null && s !== old; }}", arg=old)
    return page.evaluate(SERIAL)


def test_label_train_and_explain_on_colour_images(running, tmp_path):
    ds = running.state.dataset
    labels = running.state.labels.path
    with browser_page(running.url, map_points=N_TRAIN) as page:
        assert page.evaluate("() => document.querySelector('.ll-app').className") == "ll-app ll-rgb"
        # label a few samples with keys (their true classes, 0-3), as a user would
        done = []
        for _ in range(6):
            s = _next(page)
            page.keyboard.press(str(int(ds.targets[s])))
            wait_file_contains(labels, f"{s},{int(ds.targets[s])}")
            done.append(s)
        page.wait_for_function("(n) => document.querySelector('#stat-labelled').textContent === String(n)", arg=6)
        # the sample panel: the colour image at its own shape, enlarged by whole pixels
        img = page.evaluate(SHOWN, "#sample-panel img.ll-digit")
        assert img is not None and (img["w"], img["h"]) == (W, H) and img["colour"] > 0, img
        assert img["rendering"] == "pixelated" and img["fit"] == "contain" and img["bw"] == img["bh"] == 96, img
        # train
        page.fill("#train-steps", "60")
        page.fill("#train-refresh", "30")
        page.click("#btn-start")
        page.wait_for_function(
            "() => document.querySelector('#model-badge').textContent === 'trained'", timeout=240_000
        )
        page.wait_for_function(
            "() => document.querySelector('#train-state').textContent === 'finished'", timeout=240_000
        )
        page.wait_for_function(MAP_READY, arg=N_TRAIN, timeout=60_000)
        # explain a sample: three overlays over the colour image, 7x enlarged (168x224), shape kept
        s = _next(page)
        page.wait_for_function(XAI_READY, arg=s, timeout=120_000)
        assert page.locator("#xai-panel img").count() == 3
        for method in ("gradcam", "smoothgrad", "consensus"):
            page.wait_for_function(
                "(m) => { const i = document.querySelector(`#xai-panel [data-method=${m}] img`);"
                " return i && i.complete && i.naturalWidth > 0; }",
                arg=method,
            )
            shown = page.evaluate(SHOWN, f"#xai-panel [data-method={method}] img")
            assert (shown["w"], shown["h"]) == (W * 7, H * 7) and shown["colour"] > 0, (method, shown)
            assert shown["fit"] == "contain"
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(tmp_path / "colour.png"), full_page=True)  # to look at (pytest's tmp dir)
        assert not page.errors
