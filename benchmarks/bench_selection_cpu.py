"""What a selection costs the browser: CPU-seconds of this benchmark's Chromium processes, by
process type (browser, renderer, GPU process, utility), per wall second, with a selection every
second and nothing else going on (MNIST map, both workers, no training).

CPU-seconds, unlike samples/s, mean something on a loaded machine. Variants, in this order (the
last two switch parts of the page off, to see what each part costs):

- ``idle``: the page open, nothing selected;
- ``select``: a random map point every second (``LL.select``, as a click: loading, then the whole
  panel from /_ll/sample and the saliency from /_ll/saliency);
- ``step``: the next queued candidate every second (``LL.step(1)``, the ``n`` key);
- ``select_no_saliency``: as ``select`` with the page's /_ll/saliency requests left unanswered;
- ``select_no_fetches``: as ``select`` with /_ll/sample left unanswered too (the ring and "loading").

    .venv/bin/python benchmarks/bench_selection_cpu.py [--seconds 15]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_overhead import SELECT_AND_OBSERVE, _cpu, _descendants  # noqa: E402
from benchmarks.common import write_result  # noqa: E402

BLOCK = """(paths) => {
  window.__llFetch = window.__llFetch || window.fetch;
  window.fetch = (u, o) => paths.some((p) => String(u).includes(p)) ? new Promise(() => {}) : window.__llFetch(u, o);
}"""


def chromium_cpu() -> dict[str, float]:
    """CPU seconds so far of the Chromium processes below this one, by ``--type`` (browser: none)."""
    out: dict[str, float] = {}
    for proc in _descendants(os.getpid()):
        try:
            comm = (proc / "comm").read_text()
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "chrom" not in comm and "headless" not in comm:
            continue
        kind = cmd.split("--type=")[1].split("\x00")[0].split(" ")[0] if "--type=" in cmd else "browser"
        out[kind] = out.get(kind, 0.0) + _cpu(proc / "stat")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15.0, help="wall seconds per variant")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from app.testing import MAP_READY, PROJECT_MNIST, launch, link_mnist, start_app
    from engine.config import load_config

    home = Path(tempfile.mkdtemp(prefix="ll-selcpu-"))
    if not link_mnist(home):
        sys.exit(f"{PROJECT_MNIST} is missing: run `make data` first")
    app = start_app(home, load_config(str(ROOT / "configs/default.yaml"), {"train.eval_every": 10**9}))
    fresh = iter(np.random.default_rng(1).permutation(app.state.n_train).tolist())
    results: dict[str, dict[str, object]] = {}
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(120_000)
        page.goto(app.url)
        page.wait_for_function(MAP_READY, arg=app.state.n_points, timeout=300_000)
        page.evaluate(SELECT_AND_OBSERVE, next(fresh))  # the worker is up and has its snapshot
        page.wait_for_function("() => window.__llT1 !== null", polling=100, timeout=120_000)
        time.sleep(3)

        def run(name: str, act: Callable[[], object]) -> None:
            c0, t0, n = chromium_cpu(), time.perf_counter(), 0
            while time.perf_counter() - t0 < args.seconds:
                t1 = time.perf_counter()
                act()
                n += 1
                time.sleep(max(0.0, 1.0 - (time.perf_counter() - t1)))
            c1, wall = chromium_cpu(), time.perf_counter() - t0
            per = {k: round((c1.get(k, 0.0) - c0.get(k, 0.0)) / wall, 3) for k in sorted(c1)}
            results[name] = {"cores": round(sum(per.values()), 3), "by_process": per, "actions": n}
            print(name, results[name], flush=True)

        run("idle", lambda: None)
        run("select", lambda: page.evaluate("(s) => window.LL.select(s)", next(fresh)))
        run("step", lambda: page.evaluate("() => window.LL.step(1)"))
        page.evaluate(BLOCK, ["/_ll/saliency"])
        run("select_no_saliency", lambda: page.evaluate("(s) => window.LL.select(s)", next(fresh)))
        page.evaluate(BLOCK, ["/_ll/saliency", "/_ll/sample"])
        run("select_no_fetches", lambda: page.evaluate("(s) => window.LL.select(s)", next(fresh)))
        browser.close()
    app.stop()
    write_result(
        "selection-cpu",
        {
            "command": "benchmarks/bench_selection_cpu.py " + " ".join(sys.argv[1:]),
            "dataset": "mnist",
            "seconds_per_variant": args.seconds,
            "variants": results,
            "note": "cores: CPU seconds of this benchmark's Chromium processes per wall second, by "
            "process type; one action (a selection, or nothing for idle) per second; software WebGL.",
        },
    )


if __name__ == "__main__":
    main()
