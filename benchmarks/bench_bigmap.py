"""The one-million-point map in headless Chromium (issue 14, part 4; docs/dashboard.md "Very large maps").

Builds a synthetic dataset (`latentloop data synth big --n-train N`, the memory-mapped layout) in a
temporary LATENTLOOP_HOME, starts the dashboard on it (default config, untrained: startup embeds
every image, streamed) with the workers, and measures in one run:

- generation time, server startup time, server memory (VmRSS and its peak VmHWM, with the anonymous
  and file-backed parts: the memory-mapped images count as file pages shared through the page
  cache) and the worker processes' VmRSS;
- page load to the first paint of the map and every byte the page received until then;
- key to recolour (first frame with the label's colour: the optimistic paint) and to the server's
  confirmed overlay, p50/p95, in a zoomed-in points view;
- pan and zoom: relayout to the new view drawn, p50/p95, for far-out (raster) and zoomed-in
  (points) views, and the colour switch of the raster view (a server round trip here);
- the browser's frame time next to every timing: the animation-frame interval and one forced WebGL
  draw of the points view.

Targets: first paint <= 6 s, key to recolour <= 200 ms, payload <= 16 MB.

    python benchmarks/bench_bigmap.py [--n-train 1000000] [--raster-above N] [--points-max N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_dashboard import ARM_RECOLOUR, MODES, pct  # noqa: E402
from benchmarks.browser import frame_ms, raf_ms  # noqa: E402
from benchmarks.common import write_result  # noqa: E402

GD = "document.querySelector('#latent-map .js-plotly-plot')"

# performance.now() of the first frame with the raster (or view points) on the map.
FIRST_PAINT_PROBE = """(() => {
  window.__ll_bench = {};
  const tick = () => {
    const gd = document.querySelector('#latent-map .js-plotly-plot');
    const b = window.__ll_bench;
    const img = gd && gd.querySelector('.layer-below image, .imagelayer image');
    const pts = gd && gd._fullData && gd._fullData[1] && gd._fullData[1]._length > 0;
    if ((img || pts) && !b.firstPaint) b.firstPaint = performance.now();
    if (!b.firstPaint) requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();"""

# Bytes the page received (navigation + every resource) whose response ended by time t.
BYTES_UNTIL = """(t) => {
  const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
  let transfer = 0, body = 0, n = 0;
  for (const e of entries) if (e.responseEnd <= t) { transfer += e.transferSize; body += e.decodedBodySize; n++; }
  return [transfer, body, n];
}"""

# Relayout to [x0, x1, y0, y1]; resolves [ms to the frame drawn with the server's view of it, kind, n].
RELAYOUT = f"""(r) => new Promise((resolve) => {{
  const gd = {GD};
  const t0 = performance.now();
  const done = () => {{
    const v = gd.layout.meta && gd.layout.meta.view, xr = gd._fullLayout.xaxis.range;
    if (v && Math.abs(v.window[0] - xr[0]) < 1e-6 && Math.abs(v.window[1] - xr[1]) < 1e-6) {{
      gd.removeListener('plotly_afterplot', done);
      requestAnimationFrame(() => resolve([performance.now() - t0, v.kind, v.n]));
    }}
  }};
  gd.on('plotly_afterplot', done);
  Plotly.relayout(gd, {{'xaxis.range': [r[0], r[1]], 'yaxis.range': [r[2], r[3]]}});
}})"""

# Click a colour mode; resolves ms to the frame drawn in that mode (view points' meta says the mode).
COLOUR_SWITCH = f"""([label, mode]) => new Promise((resolve) => {{
  const gd = {GD};
  const el = Array.from(document.querySelectorAll('.ll-colour-mode label')).find(l => l.textContent === label);
  const t0 = performance.now();
  const done = () => {{
    const m = gd.data[1] && gd.data[1].meta;
    if (m && m.mode === mode) {{ gd.removeListener('plotly_afterplot', done);
      requestAnimationFrame(() => resolve(performance.now() - t0)); }}
  }};
  gd.on('plotly_afterplot', done);
  el.click();
}})"""


def status_kb(pid: int | str, keys: tuple[str, ...] = ("VmRSS", "VmHWM", "RssAnon", "RssFile")) -> dict[str, float]:
    """Memory lines of /proc/<pid>/status in MB ({} when the process is gone)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            k, _, v = line.partition(":")
            if k in keys:
                out[k] = round(int(v.split()[0]) / 1024, 1)
    except OSError:
        return {}
    return out


def windows(xy: np.ndarray, points_max: int, n: int, seed: int = 0) -> tuple[list[list[float]], list[list[float]]]:
    """``n`` far-out windows (more than points_max points: rasters) and ``n`` zoomed-in windows (at
    most points_max points, at least one) around random points of the map."""
    rng = np.random.default_rng(seed)

    def count(cx: float, cy: float, half: float) -> int:
        return int(np.count_nonzero((np.abs(xy[:, 0] - cx) <= half) & (np.abs(xy[:, 1] - cy) <= half)))

    far: list[list[float]] = []
    near: list[list[float]] = []
    for _ in range(100 * n):
        if len(far) >= n and len(near) >= n:
            break
        cx, cy = (float(c) for c in xy[rng.integers(len(xy))])
        half = float(rng.uniform(0.3, 1.0))
        if len(far) < n and count(cx, cy, half) > points_max:
            far.append([cx - half, cx + half, cy - half, cy + half])
        half = 0.05
        while count(cx, cy, half) > points_max and half > 1e-4:
            half /= 2
        if len(near) < n:
            near.append([cx - half, cx + half, cy - half, cy + half])
    return far, near


def timing(values: list[float]) -> dict[str, Any]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "n": len(values)} if values else {"n": 0}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=1_000_000)
    ap.add_argument("--n-test", type=int, default=10_000)
    ap.add_argument("--raster-above", type=int, default=None, help="map_raster_above (default: the app's)")
    ap.add_argument("--points-max", type=int, default=None, help="map_points_max (default: the app's)")
    ap.add_argument("--presses", type=int, default=30, help="label keys to time")
    ap.add_argument("--views", type=int, default=12, help="far-out and zoomed-in views to time, each")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")

    from playwright.sync_api import sync_playwright

    from app.settings import AppSettings
    from app.testing import launch, start_app, wait_file_contains
    from engine.config import load_config

    settings: dict[str, Any] = {"map_points": "all"}
    if args.raster_above is not None:
        settings["map_raster_above"] = args.raster_above
    if args.points_max is not None:
        settings["map_points_max"] = args.points_max
    points_max = settings.get("map_points_max", AppSettings.map_points_max)

    with tempfile.TemporaryDirectory(prefix="ll-bigmap-") as tmp:
        home = Path(tmp)
        os.environ["LATENTLOOP_HOME"] = str(home)
        t0 = time.perf_counter()  # in a child process: its memory is not this server's
        subprocess.run(
            [sys.executable, "-m", "latentloop", "data", "synth", "big", "--n-train", str(args.n_train),
             "--n-test", str(args.n_test), "--layout", "npy"],
            check=True, cwd=ROOT,
        )  # fmt: skip
        generation = time.perf_counter() - t0
        cfg = load_config(ROOT / "configs" / "default.yaml", {"data.name": "big"})
        t0 = time.perf_counter()
        app = start_app(home, cfg, **settings)
        startup = time.perf_counter() - t0
        state = app.state
        n_points = state.n_points
        server_mem = status_kb("self")
        print(f"{n_points} points: generated in {generation:.1f} s, server ready in {startup:.1f} s, {server_mem}")
        try:
            with sync_playwright() as p:
                browser = launch(p)
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                page.set_default_timeout(120_000)
                page.add_init_script(FIRST_PAINT_PROBE)
                t_nav = time.perf_counter()
                page.goto(app.url)
                page.wait_for_function("() => window.__ll_bench.firstPaint && window.LL && window.LL.ready")
                wall_first = time.perf_counter() - t_nav
                first_paint = float(page.evaluate("() => window.__ll_bench.firstPaint"))
                transfer, body, n_resp = page.evaluate(BYTES_UNTIL, first_paint)
                kind = page.evaluate(f"() => {GD}.layout.meta.view && {GD}.layout.meta.view.kind")
                idle_raf = raf_ms(page)
                print(f"first paint {first_paint:.0f} ms ({kind}), {body} bytes in {n_resp} responses", flush=True)

                xy = state.cache.current.xy
                far, near = windows(xy, points_max, args.views)
                raster_ms, points_ms, kinds = [], [], []
                for w_far, w_near in zip(far, near, strict=True):
                    for w, out in ((w_far, raster_ms), (w_near, points_ms)):
                        ms, k, _n = page.evaluate(RELAYOUT, w)
                        out.append(ms)
                        kinds.append(k)
                print(f"raster views p50 {pct(raster_ms, 50)} ms, points views p50 {pct(points_ms, 50)} ms", flush=True)
                page.evaluate(RELAYOUT, far[0])
                switch_ms = [page.evaluate(COLOUR_SWITCH, [label, mode]) for label, mode in MODES]
                print(f"raster colour switch p50 {pct(switch_ms, 50)} ms", flush=True)

                # label keys in a zoomed-in view: serials of its points, selected, then labelled
                page.evaluate(RELAYOUT, near[0])
                view_raf = raf_ms(page)
                draw = frame_ms(page)
                serials = page.evaluate(f"() => {GD}._fullData[1].customdata.map((c) => c[0])")
                serials = [s for s in serials if s < state.n_train][: args.presses]
                recolour_ms, confirmed_ms = [], []
                for i, serial in enumerate(serials):
                    label = i % 10
                    page.evaluate("(s) => window.LL.select(s)", serial)
                    page.wait_for_function("() => !window.LL.outbox.length")
                    page.evaluate(ARM_RECOLOUR, [serial, label])
                    page.keyboard.press(str(label))
                    wait_file_contains(state.labels.path, f"{serial},{label}", timeout=30)
                    shown, confirmed = page.evaluate("() => window.__ll_press")
                    recolour_ms.append(shown)
                    confirmed_ms.append(confirmed)
                print(f"key to recolour p95 {pct(recolour_ms, 95)} ms, confirmed {pct(confirmed_ms, 95)}", flush=True)
                workers = {}
                if state.hub is not None:
                    for name in ("xai", "forecast"):
                        pid = state.hub.pid(name)
                        workers[name] = status_kb(pid) if pid else {}
                server_after = status_kb("self")
                browser.close()
        finally:
            app.stop()

    payload_mb = round(body / 1e6, 2)
    result = {
        "points": n_points,
        "dataset": f"synthetic {args.n_train} train + {args.n_test} test, memory-mapped .npy layout",
        "model": "default config, untrained (startup embeds every image, streamed)",
        "browser": "Debian Chromium headless, SwiftShader WebGL (software), 1366x768",
        "settings": {"map_raster_above": state.density.raster_above, "map_points_max": points_max},
        "generation_s": round(generation, 1),
        "server_startup_s": round(startup, 1),
        "server_memory_mb": {"after_startup": server_mem, "after_run": server_after},
        "worker_memory_mb": workers,
        "first_paint_ms": round(first_paint, 1),
        "first_view": kind,
        "page_load_to_map_wall_s": round(wall_first, 2),
        "payload_until_first_paint": {"body_bytes": body, "transfer_bytes": transfer, "responses": n_resp},
        "raster_view_ms": timing(raster_ms),
        "points_view_ms": timing(points_ms),
        "raster_colour_switch_ms": timing(switch_ms),
        "key_to_recolour_ms": timing(recolour_ms),
        "key_to_confirmed_recolour_ms": timing(confirmed_ms),
        "browser_frame": {"raf_idle_ms": idle_raf, "raf_points_view_ms": view_raf, "webgl_draw_points_view_ms": draw},
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "targets": {"first_paint_ms": 6000, "key_to_recolour_ms": 200, "payload_mb": 16},
    }
    result["meets_targets"] = {
        "first_paint": first_paint <= 6000,
        "key_to_recolour": bool(recolour_ms) and result["key_to_recolour_ms"]["p95"] <= 200,
        "payload": payload_mb <= 16,
    }
    write_result("bigmap", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
