"""Helpers for the browser tests and the dashboard benchmark (Playwright + Debian's Chromium).

Not used by the app itself. Playwright is a dev dependency and is imported by the callers.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
GD = "document.querySelector('#latent-map .js-plotly-plot')"
OV = "document.querySelector('#latent-overlay .js-plotly-plot')"

# JS: the map is drawn and the page's scripts are connected (app/assets/).
MAP_READY = f"""(n) => {{ const gd = {GD};
  return !!(gd && gd._fullData && gd._fullData[0] && gd._fullData[0]._length === n
            && typeof gd._fullData[0].marker.color !== 'undefined' && window.LL && window.LL.ready); }}"""

# JS: Dash has no callback waiting or running (dash-renderer's store).
DASH_IDLE = """() => { const s = window.store || (window.dash_stores || [])[0];
  return !!s && !s.getState().isLoading; }"""

# JS: the overlay shows the big graph's window (app/assets/overlay.js copies the map's axis ranges).
OVERLAY_FOLLOWS = f"""() => {{ const gd = {GD}, ov = {OV};
  const a = gd && gd._fullLayout, b = ov && ov._fullLayout;
  if (!a || !b || !a.xaxis || !b.xaxis || !a.xaxis.range || !b.xaxis.range) return false;
  const same = (p, q) => p[0] === q[0] && p[1] === q[1];
  return same(a.xaxis.range, b.xaxis.range) && same(a.yaxis.range, b.yaxis.range); }}"""

# Page script (installed by browser_page): marks each plotly div once dcc.Graph has resized it
# after its first plot. Every graph of the page is responsive, and that resize is a relayout which
# a graph with a relayoutData input (fb-graph) turns into a callback, a moment after the page looks
# ready.
TRACK_RESIZES = """document.addEventListener('DOMContentLoaded', () => {
  window.LL.on('graph-ready', (g) => g.gd.on('plotly_relayout', (e) => {
    if (e && e.autosize) g.gd.__llSized = true;
  }));
});"""

# JS: every graph of the page is plotted and has had that resize; none is being redrawn.
GRAPHS_SIZED = """() => Array.from(document.querySelectorAll('.dash-graph')).every((d) => {
  const gd = d.querySelector('.js-plotly-plot');
  return !!gd && !!gd.__llSized && !d.querySelector('.dash-graph--pending'); })"""

# JS: nothing under way: Dash idle, every graph drawn, every event acknowledged, the panels' sync
# after a label done and the overlay on the map's window.
SETTLED = f"""() => ({DASH_IDLE})() && ({GRAPHS_SIZED})() && !!window.LL && window.LL.ready
  && window.LL.outbox.length === 0 && !window.LL.more && ({OVERLAY_FOLLOWS})()"""

# JS: resolves once the browser has drawn two more frames (what changed before is on screen).
NEXT_FRAMES = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(true))))"

# JS: page pixel of map point i (for mouse clicks/hover).
POINT_PIXEL = f"""(i) => {{ const gd = {GD}; const fl = gd._fullLayout; const fd = gd._fullData[0];
  const r = gd.getBoundingClientRect();
  return [r.left + fl._size.l + fl.xaxis.l2p(fd.x[i]), r.top + fl._size.t + fl.yaxis.l2p(fd.y[i])]; }}"""

# JS: the most isolated visible point in pixel space (a click there cannot hit a neighbour).
ISOLATED_POINT = f"""(limit) => {{ const gd = {GD}; const fl = gd._fullLayout; const fd = gd._fullData[0];
  const n = Math.min(fd._length, limit); const px = [], py = [];
  const w = fl._size.w, h = fl._size.h;
  for (let i = 0; i < n; i++) {{ px.push(fl.xaxis.l2p(fd.x[i])); py.push(fl.yaxis.l2p(fd.y[i])); }}
  let best = -1, bestD = -1;
  for (let i = 0; i < n; i++) {{
    if (px[i] < 20 || py[i] < 20 || px[i] > w - 20 || py[i] > h - 20) continue;
    let d = Infinity;
    for (let j = 0; j < n; j++) {{
      if (j === i) continue;
      const dx = px[i]-px[j], dy = py[i]-py[j]; const e = dx*dx+dy*dy; if (e < d) d = e;
    }}
    if (d > bestD) {{ bestD = d; best = i; }}
  }}
  return [best, Math.sqrt(bestD)]; }}"""

# JS: label shown for serial s in the overlay trace (or null), and its marker colour value.
OVERLAY_LABEL = f"""(s) => {{ const gd = {OV}; const t = gd.data[0];
  for (let i = 0; i < t.customdata.length; i++) {{ const c = t.customdata[i];
    if (c && c[0] === s && t.x[i] !== null) return [c[1], t.marker.color[i]]; }}
  return null; }}"""


def require_chromium() -> str:
    """The browser path; raises (a test failure, not a skip) when Debian's Chromium is missing."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} not found: install it with `apt-get install chromium` (make test does)")
    return CHROMIUM


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=require_chromium(), args=CHROMIUM_ARGS)


@dataclass
class RunningApp:
    state: Any
    server: Any
    url: str

    def stop(self) -> None:
        self.server.stop()
        if self.state.session.active:
            with contextlib.suppress(Exception):  # a test server's teardown must not mask the test's result
                self.state.session.stop()
            self.state.session.wait(60)
        self.state.close()


def make_dataset(home: Path, name: str, n_train: int, n_test: int, seed: int = 0) -> None:
    from engine.datasets import dataset_path, save_dataset, synthetic_dataset

    path = dataset_path(name, home / "data")
    if not path.exists():
        save_dataset(synthetic_dataset(n_train, n_test, seed=seed, name=name), path)


def colour_dataset(
    n_train: int, n_test: int, height: int = 24, width: int = 32, classes: int = 4, seed: int = 0, name: str = "rgb"
) -> Any:
    """A small RGB data set of ``height`` x ``width`` images for the tests of colour at other sizes
    (issue 23): class c is a square of colour c (red, green, blue, yellow, ...) at a random place
    on a dark noisy background, so the class is in the colour, not in the brightness."""
    import numpy as np

    from engine.datasets import Dataset

    rng = np.random.default_rng(seed)
    n = n_train + n_test
    hues = np.array([[220, 40, 40], [40, 200, 60], [50, 80, 230], [230, 210, 40], [200, 60, 220], [40, 210, 210]])
    y = np.arange(n) % classes
    rng.shuffle(y)
    images = rng.integers(0, 50, (n, height, width, 3)).astype(np.uint8)
    side = max(4, min(height, width) // 2)
    for i in range(n):
        r, c = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        images[i, r : r + side, c : c + side] = hues[y[i] % len(hues)]
    return Dataset(name=name, images=images, targets=y.astype(np.int64), n_train=n_train, num_classes=classes)


PROJECT_MNIST = Path(__file__).resolve().parent.parent / "data" / "mnist" / "mnist.npz"


def link_mnist(home: Path) -> bool:
    """Make the project's MNIST (``make data``) visible in another LATENTLOOP_HOME by a symlink, so
    labels and checkpoints written there never touch the project's. False if it was never built."""
    if not PROJECT_MNIST.is_file():
        return False
    (home / "data" / "mnist").mkdir(parents=True, exist_ok=True)
    os.symlink(PROJECT_MNIST, home / "data" / "mnist" / "mnist.npz")
    return True


def start_app(home: Path, cfg: Any = None, **settings: Any) -> RunningApp:
    """Build the AppState for LATENTLOOP_HOME=home and serve it on a free 127.0.0.1 port."""
    from app.server import ServerThread, create_app
    from app.settings import AppSettings
    from app.state import AppState

    os.environ["LATENTLOOP_HOME"] = str(home)
    state = AppState.create(AppSettings(cfg=cfg, **settings))
    server = ServerThread(create_app(state), "127.0.0.1", 0).start()
    return RunningApp(state, server, server.url)


def wait_file_contains(path: Path, text: str, timeout: float = 10.0, present: bool = True) -> float:
    """Seconds until ``text`` is (or is no longer) a line of ``path``."""
    t0 = time.perf_counter()
    while True:
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        if (text in lines) == present:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{path}: {text!r} {'never appeared' if present else 'still there'} after {timeout} s")
        time.sleep(0.002)


@contextlib.contextmanager
def _home(home: Path, n_train: int, n_test: int, dataset: Any = None) -> Iterator[None]:
    """A synthetic dataset (or ``dataset``, an engine.datasets.Dataset) in ``home`` as
    LATENTLOOP_HOME, restored afterwards."""
    from engine.datasets import dataset_path, save_dataset

    old = os.environ.get("LATENTLOOP_HOME")
    if dataset is None:
        make_dataset(home, "synth", n_train, n_test)
    elif not dataset_path(dataset.name, home / "data").exists():
        save_dataset(dataset, dataset_path(dataset.name, home / "data"))
    os.environ["LATENTLOOP_HOME"] = str(home)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("LATENTLOOP_HOME", None)
        else:
            os.environ["LATENTLOOP_HOME"] = old


@contextlib.contextmanager
def serving(
    home: Path, n_train: int, n_test: int, cfg: Any = None, dataset: Any = None, **settings: Any
) -> Iterator[RunningApp]:
    """A synthetic dataset (or ``dataset``, named by ``cfg``'s data.name) in ``home`` and the app serving it."""
    with _home(home, n_train, n_test, dataset):
        app = start_app(home, cfg, **settings)
        try:
            yield app
        finally:
            app.stop()


@contextlib.contextmanager
def app_state(
    home: Path, n_train: int, n_test: int, cfg: Any = None, dataset: Any = None, **settings: Any
) -> Iterator[Any]:
    """A synthetic dataset (or ``dataset``, named by ``cfg``'s data.name) in ``home`` and an
    AppState on it (no server); closed afterwards."""
    from app.settings import AppSettings
    from app.state import AppState

    with _home(home, n_train, n_test, dataset):
        state = AppState.create(AppSettings(cfg=cfg, **settings))
        try:
            yield state
        finally:
            state.session.wait(60)
            state.close()


def plant_label_issues(state: Any, per_class: int = 10, flips: int = 8, seed: int = 0) -> dict[str, Any]:
    """Label ``per_class`` training samples of each class, ``flips`` of them with a wrong class, and
    publish a map version whose responsibilities sit on every sample's true class: the model a
    label-issue ranking should agree with. Returns ``{"flipped": set of serials, "given": labels}``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = state.dataset.targets
    n, k, d, c = len(y), state.ckpt.config.model.components, state.ckpt.config.model.latent_dim, state.num_classes
    resp = rng.dirichlet(np.full(k, 0.3), n) * 0.25
    resp[np.arange(n), y % k] += 0.75
    mu = rng.normal(0, 4, (c, d))[y] + rng.normal(0, 1, (n, d))
    probs = np.full((n, c), 0.01)
    probs[np.arange(n), y] = 1.0 - 0.01 * (c - 1)
    state.cache.update(mu, probs, resp, 0, True)
    train_y = y[: state.n_train]
    chosen = np.concatenate([np.flatnonzero(train_y == cls)[:per_class] for cls in range(c)])
    flipped = rng.choice(chosen, flips, replace=False)
    given = {int(s): int(train_y[s]) for s in chosen}
    for s in flipped:
        given[int(s)] = int((train_y[s] + 1 + rng.integers(0, c - 1)) % c)
    state.labels.set_many(given, source="test")
    return {"flipped": {int(s) for s in flipped}, "given": given}


def wait_settled(page: Any, timeout_ms: int = 60_000) -> None:
    """Wait, in a Playwright page of the dashboard, until nothing is under way (``SETTLED``) and
    the browser has drawn it: a condition for tests that used to sleep."""
    page.wait_for_function(SETTLED, timeout=timeout_ms)
    page.evaluate(NEXT_FRAMES)


@contextlib.contextmanager
def browser_page(url: str, timeout_ms: int = 30_000, map_points: int | None = None) -> Iterator[Any]:
    """A Chromium page (1366x768) opened on ``url``; its uncaught script errors collect in ``page.errors``.
    With ``map_points``, wait until the map of that many points is drawn and the page's scripts connected."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.set_default_timeout(timeout_ms)
            page.errors = []
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.add_init_script(TRACK_RESIZES)
            page.goto(url)
            if map_points is not None:
                page.wait_for_function(MAP_READY, arg=map_points, timeout=60_000)
            yield page
        finally:
            browser.close()
