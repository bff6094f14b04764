"""Browser timings shared by the benchmarks: the frame time of this browser, recorded next to every
timing so that a run in a GPU browser can be compared with a run in software WebGL (SwiftShader)."""

from __future__ import annotations

from typing import Any

# One WebGL frame of a graph's points, forced to completion (what any redraw of it must pay at
# least): the median of five scene draws, each finished with a pixel read.
DRAW_FRAME = """(sel) => {
  const gd = document.querySelector(sel + ' .js-plotly-plot');
  const scene = gd._fullLayout._plots.xy._scene;
  const gl = scene.scatter2d.regl._gl;
  const px = new Uint8Array(4), ts = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    scene.draw(); gl.finish(); gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[2];
}"""

# The browser's animation frame interval while idle (about 16.7 ms at 60 Hz when nothing blocks).
RAF_INTERVAL = """() => new Promise((resolve) => {
  const ts = [];
  const tick = (t) => { ts.push(t); if (ts.length < 31) requestAnimationFrame(tick); else {
    const d = ts.slice(1).map((x, i) => x - ts[i]).sort((a, b) => a - b); resolve(d[15]); } };
  requestAnimationFrame(tick);
})"""


def frame_ms(page: Any, selector: str = "#latent-map") -> float | None:
    """Median ms of one forced WebGL redraw of the scattergl graph under ``selector`` (None when the
    graph has no WebGL scene or plotly's internals moved: the number is a diagnostic)."""
    try:
        return round(float(page.evaluate(DRAW_FRAME, selector)), 1)
    except Exception:
        return None


def raf_ms(page: Any) -> float:
    """Median interval between animation frames of the page, ms."""
    return round(float(page.evaluate(RAF_INTERVAL)), 1)
