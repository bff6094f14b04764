"""What the dashboard costs training: throughput with the page open and both workers busy, against
the bare engine loop, alternated in one run (docs/architecture.md section 9; target: within 3%).

MNIST, the default config, 100 labels, in a temporary LATENTLOOP_HOME. Rounds alternate ABBA:

- **dashboard** (A): the app serves a headless Chromium page; training runs through the page's
  TrainingSession (snapshots for the XAI worker every ``train.snapshot_every_s``); every second the
  page selects another sample (``LL.select``, as a click on the map), which asks the XAI worker for
  its saliency; at the start
  of the round the forecast worker gets the previous refresh, as after every run of a session; the
  page's poll (app/assets/poll.js) keeps fetching the live endpoint and fires the sync and the
  training drain when something changed, as for a user.
- **bare** (B): a second Trainer of the same config in the same process, run in a thread, with the
  page on about:blank and the workers idle.

The browser is driven from a child process (:func:`_driver`, Playwright's Python there): a user's
browser runs no Python inside the app, and Playwright's event handling in the app's process would
take the interpreter lock from the training thread in the dashboard rounds only.

Throughput is measured the same way in both: the training step counter, sampled every 20 ms, from
step ``--skip`` of the round to its last step (the end-of-run map refresh and evaluation lie outside
the window). Also recorded: selection-to-overlay time in the browser (selection until the saliency
of the new sample is drawn) idle and during training, with this browser's frame time next to it
(benchmarks/browser.py: one forced WebGL redraw of the map, the animation-frame interval), the XAI
worker's milliseconds per request, the CPU of each part per round (Chromium: the processes of this
benchmark's browser only) and the Dash callbacks the page made per second in each arm, by callback.

    .venv/bin/python benchmarks/bench_overhead.py [--rounds 4 --steps 300]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.browser import frame_ms, raf_ms  # noqa: E402
from benchmarks.common import write_result  # noqa: E402


class StepClock:
    """Samples ``trainer.step`` every 20 ms in a thread (a wake-up that takes the interpreter lock:
    rarely, in both arms alike); the rate between two steps."""

    def __init__(self, trainer, start: int, skip: int, end: int) -> None:
        self.tr, self.first, self.last = trainer, start + skip, end
        self.t_first = self.t_last = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self.t_last is None:
            s = self.tr.step
            now = time.perf_counter()
            if self.t_first is None and s >= self.first:
                self.t_first, self.s_first = now, s
            if s >= self.last:
                self.t_last, self.s_last = now, s
            time.sleep(0.02)

    def steps_per_s(self) -> float:
        self._thread.join()
        return (self.s_last - self.s_first) / (self.t_last - self.t_first)


# Select a sample as a click on the map does (LL.select) and note, from a MutationObserver, when its
# saliency is in the sample panel. (Polling from Playwright on every animation frame would make
# the page draw frames all the time, which in software rendering costs more CPU than the page.)
SELECT_AND_OBSERVE = """(s) => {
  window.__llT0 = performance.now(); window.__llT1 = null;
  const ready = () => document.querySelector(`#xai-panel [data-state=ready][data-serial='${s}']`);
  const obs = new MutationObserver(() => { if (ready()) { window.__llT1 = performance.now(); obs.disconnect(); } });
  obs.observe(document.querySelector('#xai-panel'), {childList: true, subtree: true, attributes: true});
  window.LL.select(s);
}"""


def select(page, serial: int) -> float:
    """Select ``serial``; seconds until its saliency is in the sample panel (page clock)."""
    page.evaluate(SELECT_AND_OBSERVE, serial)
    page.wait_for_function("() => window.__llT1 !== null", polling=100, timeout=60_000)
    return page.evaluate("() => (window.__llT1 - window.__llT0) / 1000")


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu(path: Path) -> float:
    """utime + stime of a /proc stat file, in seconds (0 if it is gone)."""
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _runqueue_wait(path: Path) -> float:
    """Seconds a thread has waited on a run queue (0 if it is gone or schedstats are off)."""
    try:
        return int(path.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendants(root: int) -> list[Path]:
    """/proc entries of every process below ``root`` (this benchmark's Playwright driver and its
    browser), so that another program's Chromium on the machine does not count."""
    parent: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # a process that just exited
                parent[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    out = []
    for pid in parent:
        p = pid
        while p in parent and p != root:
            p = parent[p]
        if p == root and pid != root:
            out.append(Path(f"/proc/{pid}"))
    return out


def cpu_by_part(
    train_tid: int | None, worker_pids: dict[str, int | None], driver_pid: int | None = None
) -> dict[str, float]:
    """CPU seconds so far: the training thread, the rest of this process (Dash server, pump,
    pollers), each worker, the Chromium processes this benchmark started and the harness (the
    browser-driving child and Playwright's driver below it)."""
    me = Path("/proc/self/task")
    threads = {int(t.name): _cpu(t / "stat") for t in me.iterdir()}
    train = threads.get(train_tid or -1, 0.0)
    out = {"training_thread": train, "app_other_threads": sum(threads.values()) - train}
    # seconds the training thread was runnable but waited for a core (schedstat's second field):
    # preemption by other threads and processes, as opposed to waiting for the GIL (asleep)
    out["training_thread_runqueue_wait"] = _runqueue_wait(me / str(train_tid or -1) / "schedstat")
    for name, pid in worker_pids.items():
        out[f"{name}_worker"] = _cpu(Path(f"/proc/{pid}/stat")) if pid else 0.0
    chrome = harness = 0.0
    below_driver = {p.name for p in _descendants(driver_pid)} if driver_pid else set()
    for proc in _descendants(os.getpid()):
        try:
            comm = (proc / "comm").read_text()
        except OSError:
            continue
        if "chrom" in comm or "headless" in comm:
            chrome += _cpu(proc / "stat")
        elif proc.name in below_driver or proc.name == str(driver_pid):
            harness += _cpu(proc / "stat")
    out["chromium"] = chrome
    out["harness"] = harness
    return out


class CallbackCounter:
    """The Dash callbacks a page makes (its POSTs to ``_dash-update-component``), by the id of the
    callback's first output. Playwright delivers the events while the benchmark talks to the page."""

    def __init__(self, page) -> None:
        self.by: collections.Counter[str] = collections.Counter()
        page.on("request", self._on_request)

    def _on_request(self, req) -> None:
        if "_dash-update-component" not in req.url:
            return
        try:
            output = str(json.loads(req.post_data or "{}").get("output", "?"))
        except ValueError:
            output = "?"
        self.by[output.strip(".").split(".")[0]] += 1

    def snapshot(self) -> collections.Counter[str]:
        return collections.Counter(self.by)


def _driver(
    conn, url: str, n_points: int, n_train: int, page_kind: str, idle_selections: int, cores: set[int] | None
) -> None:
    """The browser side, in a child process: open the page, measure its frame and the idle
    selections, then obey the parent: ``open`` (the app's page, loaded), ``blank`` (about:blank),
    ``select`` (a new sample every second, until ``stop``), ``count`` (only count callbacks until
    ``stop``), ``quit``. Each ``stop`` is answered with the selection times and the callbacks.
    ``cores``: the CPUs the browser may use (a diagnostic; Chromium inherits this process's)."""
    if cores:
        os.sched_setaffinity(0, cores)
    from playwright.sync_api import sync_playwright

    from app.testing import MAP_READY, launch

    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.set_default_timeout(120_000)
        counter = CallbackCounter(page)

        def open_app() -> None:
            page.goto(url)
            page.wait_for_function(MAP_READY, arg=n_points, timeout=300_000)
            if page_kind != "label":
                page.click(f"#nav-{page_kind}")  # the page switch keeps the map (and the selection) loaded

        open_app()
        frame = {"frame_ms": frame_ms(page), "raf_ms": raf_ms(page)}  # idle, before any round
        fresh = iter(np.random.default_rng(0).permutation(n_train).tolist())  # never the same sample twice
        select(page, next(fresh))  # the worker has started and loaded the snapshot
        idle = []
        for _ in range(idle_selections):
            idle.append(select(page, next(fresh)))
            time.sleep(0.3)
        conn.send((frame, idle))
        while (cmd := conn.recv()) != "quit":
            if cmd == "open":
                if page.url == "about:blank":
                    open_app()
                conn.send("open")
            elif cmd == "blank":
                page.goto("about:blank")
                conn.send("blank")
            elif cmd in ("select", "count"):
                calls0, times = counter.snapshot(), []
                while not conn.poll():
                    t0 = time.perf_counter()
                    if cmd == "select":
                        times.append(select(page, next(fresh)))
                    conn.poll(max(0.0, 1.0 - (time.perf_counter() - t0)))
                conn.recv()  # "stop"
                page.evaluate("() => 0")  # let Playwright deliver the round's request events
                conn.send((times, dict(counter.snapshot() - calls0)))
        browser.close()


def start_driver(
    url: str, n_points: int, n_train: int, page_kind: str, idle_selections: int, cores: set[int] | None = None
):
    """The browser-driving child process (:func:`_driver`) and the parent's end of its pipe."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_driver, args=(child, url, n_points, n_train, page_kind, idle_selections, cores), name="bench-browser"
    )
    proc.start()
    return proc, parent


def pct(xs: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(xs) * 1000.0, q)), 1)


def _probe_runs(state) -> dict:
    """How many probe runs the dashboard made (one per map refresh with tasks) and their steps."""
    rows = state.probes.view().rows
    steps = sorted({s for r in rows for xs, _ in r.history.values() for s in xs})
    seconds = {r.task.name: round(r.result.seconds, 2) for r in rows if r.result is not None}
    return {"steps": steps, "n": len(steps), "last_fit_seconds": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=4, help="rounds of each kind (ABBA order)")
    ap.add_argument("--steps", type=int, default=300, help="training steps per round")
    ap.add_argument("--skip", type=int, default=20, help="steps at the start of a round left out of the rate")
    ap.add_argument("--idle-selections", type=int, default=20)
    ap.add_argument(
        "--page",
        choices=("label", "model"),
        default="label",
        help="the page open during the dashboard rounds (model: /model, writes overhead-model.json)",
    )
    ap.add_argument(
        "--refresh-every",
        type=int,
        default=10**6,
        help="map refresh every N steps in both arms (the bare trainer embeds as often; default: none)",
    )
    ap.add_argument(
        "-c",
        "--config",
        default="configs/default.yaml",
        help="the run config of both arms (e.g. one with tasks: the dashboard then also fits the probes)",
    )
    ap.add_argument("--name", help="the JSON's name (default overhead, or overhead-<page>)")
    ap.add_argument(
        "--browser-cores",
        default="",
        help="a diagnostic: the CPUs the browser may use (e.g. 1: never the core training mostly runs on)",
    )
    args = ap.parse_args()

    from app.testing import PROJECT_MNIST, link_mnist, start_app
    from engine.config import load_config
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer

    home = Path(tempfile.mkdtemp(prefix="ll-overhead-"))
    if not link_mnist(home):
        sys.exit(f"{PROJECT_MNIST} is missing: run `make data` first")
    cfg = load_config(str(ROOT / args.config), {"train.eval_every": 10**9})
    app = start_app(home, cfg)
    state = app.state
    ds = load_dataset("mnist")
    labels = oracle_labels(ds, 10, 0)
    state.labels.set_many(labels, source="bench")
    bare_store = LabelStore(home / "bare-labels.csv", ds.n_train, ds.num_classes)
    bare_store.set_many(labels, source="bench")
    bare = Trainer(cfg, ds, bare_store, embed_every=args.refresh_every if args.refresh_every < 10**6 else 0)
    batch = cfg.train.batch_unlabeled + cfg.train.batch_labeled
    panel = state.session.panel_defaults() | {
        "steps": args.steps,
        "refresh_every": args.refresh_every,
        "save_at_end": False,
    }

    rates: dict[str, list[float]] = {"dashboard": [], "bare": []}
    cpu: dict[str, dict[str, float]] = {"dashboard": {}}  # CPU seconds per wall second
    bare_cpu: list[float] = []
    bare_wait: list[float] = []
    bare_wall: list[float] = []

    def account(kind: str, before: dict[str, float], after: dict[str, float], wall: float) -> None:
        for k in after:
            cpu[kind][k] = cpu[kind].get(k, 0.0) + (after[k] - before.get(k, 0.0)) / wall / args.rounds

    sel_training: list[float] = []
    chromium: dict[str, list[float]] = {"dashboard": [], "bare": []}  # cores per round
    calls: dict[str, collections.Counter[str]] = {"dashboard": collections.Counter(), "bare": collections.Counter()}
    call_wall = {"dashboard": 0.0, "bare": 0.0}
    browser_cores = {int(c) for c in args.browser_cores.split(",")} if args.browser_cores else None
    driver, conn = start_driver(app.url, state.n_points, ds.n_train, args.page, args.idle_selections, browser_cores)
    frame, sel_idle = conn.recv()

    def dashboard_round() -> float:
        conn.send("open")  # the app's page (it was on about:blank in a bare round), loaded
        conn.recv()
        v = state.cache.current
        state.hub.submit_forecast(
            v.version,
            v.step,
            v.probs,
            state.label_reader.read(),
            None,
            v.mu,
            state.session.last_eval.get("test_acc"),
            int(state.session.target),
        )
        tr = state.session.trainer
        start = tr.step
        clock = StepClock(tr, start, args.skip, start + args.steps)
        assert not state.session.start_from_panel(panel)
        pids = {"xai": state.hub.pid("xai"), "forecast": state.hub.pid("forecast")}
        tid = state.session._thread.native_id
        conn.send("select")  # a new sample every second until "stop"
        cpu0, t0_round = cpu_by_part(tid, pids, driver.pid), time.perf_counter()
        while tr.step < start + args.steps:  # as often as the bare round's wait below
            time.sleep(0.01)
        rate = clock.steps_per_s()
        cpu1, wall = cpu_by_part(tid, pids, driver.pid), time.perf_counter() - t0_round
        conn.send("stop")
        times, round_calls = conn.recv()
        sel_training.extend(times)
        account("dashboard", cpu0, cpu1, wall)
        chromium["dashboard"].append((cpu1["chromium"] - cpu0["chromium"]) / wall)
        calls["dashboard"] += collections.Counter(round_calls)
        call_wall["dashboard"] += wall
        state.session.wait(600)
        state.session.drain()
        return rate

    def bare_round() -> float:
        conn.send("blank")
        conn.recv()
        deadline = time.monotonic() + 120
        while state.hub.forecast is None or state.hub.forecast.version < state.cache.current.version:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)  # the dashboard round's forecast is done: the workers are idle
        start = bare.step
        clock = StepClock(bare, start, args.skip, start + args.steps)
        own: dict[str, float] = {}

        def run_bare() -> None:  # its own CPU and run-queue wait, read by itself before it ends
            me = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat")
            c0, w0, t0 = time.thread_time(), _runqueue_wait(me), time.perf_counter()
            bare.run(steps=start + args.steps, evaluate_at_end=False)
            own.update(cpu=time.thread_time() - c0, wait=_runqueue_wait(me) - w0, wall=time.perf_counter() - t0)

        th = threading.Thread(target=run_bare)
        pids = {"xai": state.hub.pid("xai"), "forecast": state.hub.pid("forecast")}
        conn.send("count")  # the page's callbacks from here on
        th.start()
        cpu0, t0_round = cpu_by_part(th.native_id, pids, driver.pid), time.perf_counter()
        th.join()
        cpu1, wall = cpu_by_part(None, pids, driver.pid), time.perf_counter() - t0_round
        conn.send("stop")
        _, round_calls = conn.recv()
        bare_cpu.append(own["cpu"])
        bare_wait.append(own["wait"])
        bare_wall.append(own["wall"])
        chromium["bare"].append((cpu1["chromium"] - cpu0["chromium"]) / wall)
        calls["bare"] += collections.Counter(round_calls)
        call_wall["bare"] += wall
        return clock.steps_per_s()

    order = []
    for r in range(args.rounds):
        order += ["dashboard", "bare"] if r % 2 == 0 else ["bare", "dashboard"]
    for kind in order:
        rate = dashboard_round() if kind == "dashboard" else bare_round()
        rates[kind].append(rate)
        print(f"{kind}: {rate * batch:.0f} samples/s", flush=True)
    conn.send("quit")
    driver.join(60)
    xai = list(state.hub.xai_ms)
    probe_runs = _probe_runs(state)
    app.stop()

    d, b = np.array(rates["dashboard"]), np.array(rates["bare"])
    ratio = float(d.mean() / b.mean())
    write_result(
        args.name or ("overhead" if args.page == "label" else f"overhead-{args.page}"),
        {
            "command": "benchmarks/bench_overhead.py " + " ".join(sys.argv[1:]),
            "page": args.page,
            "browser_cores": sorted(browser_cores) if browser_cores else "any",
            "refresh_every": args.refresh_every,
            "dataset": "mnist",
            "config": args.config,
            "tasks": [t.name for t in cfg.tasks],
            "probe_runs": probe_runs,
            "labels": len(labels),
            "backend": cfg.backend,
            "steps_per_round": args.steps,
            "rounds_each": args.rounds,
            "order": order,
            "samples_per_s": {"dashboard": [round(x * batch, 1) for x in d], "bare": [round(x * batch, 1) for x in b]},
            "dashboard_vs_bare": round(ratio, 4),
            "overhead_percent": round((1 - ratio) * 100, 2),
            "target_percent": 3.0,
            "selection_to_overlay_ms": {
                "idle": {"p50": pct(sel_idle, 50), "p95": pct(sel_idle, 95), "n": len(sel_idle)},
                "training": {"p50": pct(sel_training, 50), "p95": pct(sel_training, 95), "n": len(sel_training)},
            },
            "browser_frame": frame,
            "xai_worker_ms": {
                "p50": round(float(np.percentile(xai, 50)), 1) if xai else None,
                "p95": round(float(np.percentile(xai, 95)), 1) if xai else None,
                "n": len(xai),
            },
            "cpu_cores_busy": {k: {p: round(v, 3) for p, v in d.items()} for k, d in cpu.items()},
            "bare_training_thread_cores_per_round": [round(c / w, 3) for c, w in zip(bare_cpu, bare_wall, strict=True)],
            "bare_training_thread_runqueue_wait_per_round": [
                round(c / w, 4) for c, w in zip(bare_wait, bare_wall, strict=True)
            ],
            "chromium_cores_per_round": {k: [round(c, 3) for c in v] for k, v in chromium.items()},
            "dash_callbacks_per_s": {k: round(sum(calls[k].values()) / max(call_wall[k], 1e-9), 2) for k in calls},
            "dash_callbacks_per_s_by_output": {
                k: {o: round(n / max(call_wall[k], 1e-9), 2) for o, n in calls[k].most_common()} for k in calls
            },
            "note": "cpu_cores_busy: CPU seconds per wall second of a round, by part (1.0 = one core); "
            "1 torch thread for training (threads: 0 = all cores but one); the page, the Dash server and "
            "the workers share the other core. browser_frame: this browser's forced WebGL redraw of the "
            "map and its animation-frame interval, idle, before the rounds (software WebGL here). "
            "dash_callbacks_per_s_by_output: keyed by the callback's first output id. "
            "training_thread_runqueue_wait: seconds per wall second the training thread was runnable "
            "but waited for a core (preempted), from /proc/<tid>/schedstat. The browser is driven from a "
            "child process (harness: its CPU and Playwright's driver's, not the page's).",
        },
    )


if __name__ == "__main__":
    main()
