"""The Model page in Debian's Chromium: a tau cell click shows the component's samples and rings
them on the Label page's map; Advance moves a running training to its next phase."""

from __future__ import annotations

import os

import numpy as np
import pytest

from app import figures
from app.testing import GD, OV, browser_page, serving
from tests.helpers import ROOT, tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]
N_TRAIN = 400

# JS: page pixel of the centre of heatmap cell (row, col) of the Model page's tau graph.
TAU_CELL = """([r, c]) => { const gd = document.querySelector('#model-tau .js-plotly-plot');
  const fl = gd._fullLayout, b = gd.getBoundingClientRect();
  return [b.left + fl._size.l + fl.xaxis.l2p(c), b.top + fl._size.t + fl.yaxis.l2p(r)]; }"""


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    raw = tiny_config_dict(steps=40)
    # long phases: only Advance moves a run out of warm-up within the test
    raw["curriculum"].update(warmup_steps=100_000, anneal_steps=100_000)
    with serving(
        tmp_path_factory.mktemp("browser-model"),
        N_TRAIN,
        100,
        from_dict(raw),
        label_poll_ms=1000,
        train_poll_ms=300,
        workers=False,
    ) as app:
        yield app


@pytest.fixture(scope="module")
def page(running):
    with browser_page(running.url, map_points=N_TRAIN) as pg:
        yield pg


def test_a_tau_cell_click_shows_the_component_and_rings_it_on_the_map(page, running):
    page.click("#nav-model")
    page.wait_for_function("() => location.pathname === '/model'")
    assert page.is_hidden("#page-label") and page.is_visible("#page-model")
    page.wait_for_function(
        "() => { const g = document.querySelector('#model-tau .js-plotly-plot');"
        " return g && g.data && g.data[0] && g.data[0].type === 'heatmap'; }"
    )
    v = running.state.cache.current
    row = int(np.bincount(v.component[:N_TRAIN]).argmax())  # heatmap row r is component r
    n = int((v.component[:N_TRAIN] == row).sum())
    x, y = page.evaluate(TAU_CELL, [row, 3])
    page.mouse.click(x, y)
    page.wait_for_function(
        "(c) => { const h = document.querySelector('#model-members-head'); return h && +h.dataset.component === c; }",
        arg=row,
    )
    shown = page.locator(".ll-member").count()
    assert shown == min(n, 48) and shown > 0
    assert page.locator("#model-lenses .ll-lens").count() == running.state.ckpt.config.model.components
    page.wait_for_selector("#model-microscope")
    # back on the Label page the same selection and map, with the component's samples ringed
    page.click("#nav-label")
    page.wait_for_function(
        f"(n) => {{ const f = {OV}._fullData;"
        f" const t = f && f[{figures.HIGHLIGHT}]; return !!(t && t.name === 'component' && t._length === n); }}",
        arg=n,
    )
    assert page.evaluate(f"() => {GD}._fullData[0]._length") == N_TRAIN


def test_advance_moves_a_running_training_to_the_next_phase(page, running):
    st = running.state
    assert st.session.start_from_panel({**st.session.panel_defaults(), "steps": 20000, "refresh_every": 5000}) == {}
    try:
        page.click("#nav-model")
        page.wait_for_function("() => !document.querySelector('#model-advance').disabled", timeout=60_000)
        page.wait_for_selector("#model-phase-name")
        before = page.inner_text("#model-phase-name")
        page.click("#model-advance")
        page.wait_for_function(
            "(b) => { const e = document.querySelector('#model-phase-name'); return e && e.textContent !== b; }",
            arg=before,
            timeout=60_000,
        )
        assert before == "phase warmup" and page.inner_text("#model-phase-name") == "phase kl_anneal"
        assert "sent" in page.inner_text("#model-advance-msg")
    finally:
        st.session.command("stop")
        st.session.wait(120)
        page.click("#nav-label")


def test_the_microscope_follows_the_selection_and_interpolates_from_the_pinned_sample(page, running):
    page.click("#nav-label")
    page.evaluate("() => window.LL.select(5)")
    page.click("#nav-model")
    page.wait_for_function(
        "() => { const h = document.querySelector('#model-micro-head'); return h && h.dataset.serial === '5'; }"
    )
    d = running.state.ckpt.config.model.latent_dim
    size = page.evaluate(
        "() => { const i = document.querySelector('.ll-traversal'); return [i.naturalWidth, i.naturalHeight]; }"
    )
    assert size == [7 * 29 - 1, d * 29 - 1]  # seven steps for each latent dimension
    page.click("#model-pin")
    page.click("#nav-label")
    page.evaluate("() => window.LL.select(9)")
    page.click("#nav-model")
    page.wait_for_selector("#model-strip")
    assert "interpolation #5 → #9" in page.inner_text("#model-strip")
    assert not page.errors
    if os.environ.get("LATENTLOOP_UPDATE_DOC_SCREENSHOT") == "1":
        biggest = int(np.bincount(running.state.cache.current.component[:N_TRAIN]).argmax())
        page.evaluate("(c) => window.dash_clientside.set_props('model-highlight', {data: c})", biggest)
        page.wait_for_selector("#model-members-head")
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ROOT / "docs" / "model-page.png"), full_page=True)
