"""The density map in the browser: a raster above the (lowered) threshold, points once zoomed in,
and a label key that still labels and recolours the point (synthetic data, tiny model)."""

from __future__ import annotations

import numpy as np
import pytest

from app.testing import GD, OVERLAY_LABEL, browser_page, serving, wait_file_contains
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]
N, POINTS_MAX = 3000, 300

VIEW = f"() => {{ const gd = {GD}; const m = gd && gd.layout && gd.layout.meta; const v = m && m.view;"
RASTER_SHOWN = VIEW + (
    " return !!(v && v.kind === 'raster' && gd._fullLayout.images.length === 1 && window.LL && window.LL.ready); }"
)
POINTS_SHOWN = VIEW + (
    " return !!(v && v.kind === 'points' && gd._fullData[1]._length === v.n && !gd._fullLayout.images.length); }"
)
# page pixel and serial of the first view point
VIEW_POINT = f"""() => {{ const gd = {GD}; const fl = gd._fullLayout; const fd = gd._fullData[1];
  const r = gd.getBoundingClientRect();
  return [r.left + fl._size.l + fl.xaxis.l2p(fd.x[0]), r.top + fl._size.t + fl.yaxis.l2p(fd.y[0]),
          fd.customdata[0][0]]; }}"""


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    from engine.config import from_dict

    with serving(
        tmp_path_factory.mktemp("bigmap"),
        N,
        200,
        from_dict(tiny_config_dict()),
        workers=False,
        map_raster_above=1000,
        map_points_max=POINTS_MAX,
    ) as app:
        yield app


def test_raster_then_points_when_zoomed_and_a_label_key_recolours(running):
    xy = running.state.cache.current.xy
    with browser_page(running.url) as page:
        page.wait_for_function(RASTER_SHOWN, timeout=60_000)
        assert page.evaluate(f"() => {GD}._fullData[0]._length") == 0  # no trace of every point
        # zoom onto a small window around a training point (what a scroll or box zoom sends)
        half = 0.2
        cx, cy = (float(c) for c in xy[7])
        while np.count_nonzero((np.abs(xy[:, 0] - cx) <= half) & (np.abs(xy[:, 1] - cy) <= half)) > POINTS_MAX / 2:
            half /= 2
        page.evaluate(
            f"(r) => Plotly.relayout({GD}, {{'xaxis.range': [r[0], r[1]], 'yaxis.range': [r[2], r[3]]}})",
            [cx - half, cx + half, cy - half, cy + half],
        )
        page.wait_for_function(POINTS_SHOWN, timeout=30_000)
        # a click on a view point selects its serial (bigmap.js)
        px, py, serial = page.evaluate(VIEW_POINT)
        page.mouse.click(px, py)
        page.wait_for_function("(s) => window.LL.selected === s", arg=serial, timeout=10_000)
        page.wait_for_selector("#sample-serial")
        page.keyboard.press("4")
        wait_file_contains(running.state.labels.path, f"{serial},4", timeout=30)
        page.wait_for_function(
            f"(s) => {{ const r = ({OVERLAY_LABEL})(s); return r && r[0] === 4; }}", arg=serial, timeout=30_000
        )
        # zoomed out again (a double-click autoranges): the raster is back
        page.evaluate(f"() => Plotly.relayout({GD}, {{'xaxis.autorange': true, 'yaxis.autorange': true}})")
        page.wait_for_function(RASTER_SHOWN, timeout=30_000)
        assert not page.errors
