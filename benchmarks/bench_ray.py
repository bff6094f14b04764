"""What a Ray task costs: the same small `latentloop simulate` sweep here and on a local Ray.

    .venv/bin/python benchmarks/bench_ray.py [--seeds 0 1 2] [--first-steps 40]

A synthetic project (600 + 200 images) in a temporary home; strategies random and entropy x the
seeds, 1 training thread each, run by `simulate` in this process one after another (no ``--ray``),
then by ``simulate --ray auto`` on a local Ray limited to one CPU, so its tasks also run one after
another and the difference is Ray's cost, not parallelism. One untimed run first warms the disk
cache for both. Writes docs/benchmarks/ray-overhead.json:
- ``ray_init_s``: starting the local Ray (once per sweep);
- ``local_s`` and ``ray_s``: the sweep's wall time each way (``ray_s`` without the start);
- ``overhead_per_task_s``: ``(ray_s - local_s) / tasks``: a worker process's start and first
  import of the engine and the framework, each task's dataset load, pickling, scheduling and
  sending the results back, shared out over the tasks;
- ``noop_task_s``: the round trip of an empty task on a warm worker (the floor per task);
- ``same_numbers``: whether both runs wrote the same curve.csv (seconds aside).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.testing import make_dataset
from benchmarks.common import ROOT, run_main, write_result
from engine.sweep import import_ray
from latentloop.cli import main as cli


def noop() -> None:
    return None


def timed_simulate(argv: list[str]) -> float:
    """Seconds ``latentloop simulate ARGV`` takes in this process (its output swallowed)."""
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = cli(argv)
    if code != 0:
        raise SystemExit(f"simulate failed ({code}): {argv}")
    return time.perf_counter() - t0


def curve(path: Path) -> list[list[str]]:
    """curve.csv's rows without the seconds column (the one that differs between two runs)."""
    rows = [line.split(",") for line in path.read_text().splitlines()]
    drop = rows[0].index("seconds")
    return [r[:drop] + r[drop + 1 :] for r in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--first-steps", type=int, default=40)
    ap.add_argument("--noop-tasks", type=int, default=20)
    args = ap.parse_args()
    ray = import_ray()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        make_dataset(home, "synth", 600, 200)
        cfg = home / "quick-1thread.yaml"
        cfg.write_text(yaml.safe_dump({**yaml.safe_load((ROOT / "configs/quick.yaml").read_text()), "threads": 1}))
        strategies = ["random", "entropy"]
        tasks = len(strategies) * len(args.seeds)

        def argv(out: str, *extra: str) -> list[str]:
            return ["--home", str(home), "simulate", "-c", str(cfg), "--dataset", "synth", "-s", "random", "-s",
                    "entropy", "--seeds", *map(str, args.seeds), "--seed-labels", "10", "--per-round", "5",
                    "--rounds", "1", "--first-steps", str(args.first_steps), "--round-steps", "20", "--pool", "200",
                    "--out", str(home / out), "--no-progress", *extra]  # fmt: skip

        warm = argv("warm")
        warm[warm.index("--seeds") + 1 : warm.index("--seed-labels")] = [str(args.seeds[0])]
        timed_simulate(warm)  # untimed: both sweeps then read warm files; Ray's workers still import afresh
        local_s = timed_simulate(argv("local"))
        t0 = time.perf_counter()
        ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t0
        try:
            ray_s = timed_simulate(argv("ray", "--ray", "auto"))
            task = ray.remote(noop)
            ray.get(task.remote())  # a warm worker
            t0 = time.perf_counter()
            for _ in range(args.noop_tasks):
                ray.get(task.remote())
            noop_s = (time.perf_counter() - t0) / args.noop_tasks
        finally:
            ray.shutdown()
        same = curve(home / "local/curve.csv") == curve(home / "ray/curve.csv")
    write_result(
        "ray-overhead",
        {
            "what": f"`latentloop simulate`, {tasks} runs (2 strategies x seeds {args.seeds}, {args.first_steps}+20 "
            "steps of configs/quick.yaml on 600 synthetic images, 1 thread): in this process one after another, "
            "then as Ray tasks on a local Ray with 1 CPU (one at a time)",
            "command": "python benchmarks/bench_ray.py " + " ".join(sys.argv[1:]),
            "ray": ray.__version__,
            "tasks": tasks,
            "ray_init_s": round(init_s, 2),
            "local_s": round(local_s, 2),
            "ray_s": round(ray_s, 2),
            "overhead_per_task_s": round((ray_s - local_s) / tasks, 2),
            "noop_task_s": round(noop_s, 4),
            "same_numbers": same,
        },
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
