"""Accuracy you can trust: N seeds x configs x backends, each run in a process of its own.

    .venv/bin/python benchmarks/bench_accuracy.py [--name default-100] \
        [-c configs/default.yaml ...] [--backend torch ...] [--seeds 0 1 2] \
        [--labels-per-class 10] [--steps N] [--threads 1] [--validation 5000] \
        [--data "synth shapes --colour --n-train 12000 --n-test 3000"]

Each run is `latentloop experiment --labels-per-class N --seed S` in a fresh subprocess (one
framework per process: no framework's threads or allocator touch another's numbers), on the
project's MNIST linked into a temporary home, so the project's labels and checkpoints are never
touched. ``--data ARGS`` builds another dataset there first (``latentloop data ARGS``, e.g. the
colour shapes); the configs name it in ``data.name``. The seed picks the oracle labels (N per
class), the initial weights and the batches.

Outputs:
- docs/benchmarks/runs/<name>/<config>-<backend>-seed<S>.json: that run's metrics.json, kept;
- docs/benchmarks/accuracy-<name>.json: per config x backend the mean, sd, min, max and every
  seed's test accuracy, with the wall time of each run.

With ``--ray auto|ADDRESS`` the runs are Ray tasks (engine/sweep.py, docs/scale.md): each makes
its own temporary home (each node needs the project and its data at the same path), asks for
``--threads`` CPUs (and a GPU when the config's device is CUDA) and is retried once if its worker
dies; a run that still fails is named under ``failed`` in the JSON, the others are kept.

With ``--validation N`` every run holds out the same N training samples (data.validation), never
trains on them and scores on them instead of the test split (``val_acc`` in the JSON): settings
are chosen with it, and only the chosen settings are then run on test.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.testing import link_mnist
from benchmarks.common import OUT, ROOT, run_main, write_result
from engine.reports.curves import mean_sd
from engine.sweep import RAY_HELP, Run, check_ray, run_sweep, task_resources


def run_one(
    home: Path, config: Path, backend: str, seed: int, args: argparse.Namespace, dataset: str | None = None
) -> dict[str, Any]:
    """One experiment in a subprocess; its metrics.json as a dict. ``dataset`` overrides the config's."""
    cfg = yaml.safe_load(config.read_text()) or {}
    cfg["threads"] = args.threads
    run_cfg = home / f"{config.stem}-{backend}-{seed}.yaml"
    run_cfg.write_text(yaml.safe_dump(cfg))
    name = f"acc-{dataset + '-' if dataset else ''}{config.stem}-{backend}-s{seed}"
    cmd = [sys.executable, "-m", "latentloop", "--home", str(home), "experiment", "-c", str(run_cfg),
           "--backend", backend, "--seed", str(seed), "--labels-per-class", str(args.labels_per_class),
           "--name", name, "--no-progress"]  # fmt: skip
    if args.steps:
        cmd += ["--steps", str(args.steps)]
    if dataset:
        cmd += ["--dataset", dataset]
    if args.validation:
        cmd += ["--validation", str(args.validation)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    run_dir = max((home / "artifacts" / "experiments").glob(f"{name}-*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.update(config=str(config.relative_to(ROOT)), seed=seed, threads=args.threads, wall_s=round(wall, 1))
    return metrics


def make_home(home: Path, data: str | None) -> bool:
    """The dataset in the temporary ``home``: built by ``latentloop data DATA``, or MNIST linked
    (False when MNIST is not built)."""
    if data:
        build = [sys.executable, "-m", "latentloop", "--home", str(home), "data", *shlex.split(data)]
        subprocess.run(build, cwd=ROOT, check=True, capture_output=True)
        return True
    return link_mnist(home)


def run_task(config: Path, backend: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """:func:`run_one` as a Ray task: in a temporary home of its own, on whichever node it runs."""
    with tempfile.TemporaryDirectory() as tmp:
        if not make_home(Path(tmp), args.data):
            raise RuntimeError(f"MNIST is not built on {os.uname().nodename}: run `make data` there")
        return run_one(Path(tmp), config, backend, seed, args)


def summarise(values: list[float]) -> dict[str, Any]:
    """engine.reports.curves.mean_sd rounded to 4 places, with the values themselves."""
    stats = {k: round(v, 4) if isinstance(v, float) else v for k, v in mean_sd(values).items()}
    return {**stats, "values": [round(v, 4) for v in values]}


def probe_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task and test metric of the config's probes (docs/tasks.md): the summary over the runs."""
    values: dict[str, list[float]] = {}
    for r in runs:
        for p in r["probes"]:
            for k, v in (p.get("metrics") or {}).items():
                if k != "cv_score" and isinstance(v, (int, float)):
                    values.setdefault(f"{p['name']}.{k}", []).append(float(v))
    return {k: summarise(v) for k, v in values.items() if len(v) == len(runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="default-100", help="names the summary JSON and the runs directory")
    ap.add_argument("-c", "--config", action="append", help="config YAML (repeatable; default configs/default.yaml)")
    ap.add_argument("--backend", action="append", help="backend (repeatable; default torch)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--labels-per-class", type=int, default=10)
    ap.add_argument("--steps", type=int, help="overrides train.steps")
    ap.add_argument("--threads", type=int, default=1, help="training threads per run (default 1: reproducible)")
    ap.add_argument(
        "--from-runs",
        action="store_true",
        help="train nothing: rebuild the summary from the kept runs/<name>/ files (e.g. seeds run in parallel)",
    )
    ap.add_argument(
        "--data",
        help="build a dataset in the temporary home first: the arguments of `latentloop data` (default: MNIST)",
    )
    ap.add_argument(
        "--validation",
        type=int,
        default=0,
        help="hold out N training samples and score on them (for choosing settings; the test split is not used)",
    )
    ap.add_argument("--ray", metavar="auto|ADDRESS", help=RAY_HELP)
    args = ap.parse_args()
    if args.ray:
        check_ray(args.ray)
    configs = [ROOT / c for c in (args.config or ["configs/default.yaml"])]
    backends = args.backend or ["torch"]
    runs_dir = OUT / "runs" / args.name
    runs_dir.mkdir(parents=True, exist_ok=True)
    arms: dict[str, dict[str, Any]] = {}
    split = "validation" if args.validation else "test"
    key = "val_acc" if args.validation else "test_acc"  # so that no reader mistakes one for the other
    names = {f"{c.stem}-{b}-seed{s}": (c, b, s) for c in configs for b in backends for s in args.seeds}
    got: dict[str, dict[str, Any]] = {}

    def keep(name: str, m: dict[str, Any]) -> None:
        config, backend, seed = names[name]
        if not args.from_runs:
            (runs_dir / f"{name}.json").write_text(json.dumps(m, indent=2) + "\n")
        print(f"{config.stem} {backend} seed {seed}: {split} accuracy {m['test_acc']:.4f} ({m['wall_s']} s)")
        got[name] = m

    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if args.from_runs:
            for name in names:
                keep(name, json.loads((runs_dir / f"{name}.json").read_text()))
        elif args.ray:
            device = {c: (yaml.safe_load(c.read_text()) or {}).get("device", "cpu") for c in configs}
            runs = [Run(n, run_task, (c, b, s, args), **task_resources(args.threads, device[c]))
                    for n, (c, b, s) in names.items()]  # fmt: skip
            failed = run_sweep(runs, args.ray, keep).failed
        elif not make_home(home, args.data):
            print("MNIST is not built: run `make data` first", file=sys.stderr)
            return 2
        else:  # one after another: the machine has 2 cores
            run_sweep([Run(n, run_one, (home, c, b, s, args)) for n, (c, b, s) in names.items()], None, keep)
    for config in configs:
        for backend in backends:
            seeds = [s for s in args.seeds if f"{config.stem}-{backend}-seed{s}" in got]
            runs = [got[f"{config.stem}-{backend}-seed{s}"] for s in seeds]
            if not runs:
                continue
            arms[f"{config.stem}/{backend}"] = {
                "config": str(config.relative_to(ROOT)),
                "backend": backend,
                "split": split,
                key: summarise([r["test_acc"] for r in runs]),
                "tau_acc": summarise([r["tau_acc"] for r in runs]),
                "steps": runs[0]["step"],
                "labels": runs[0]["labels"],
                "wall_s": [r["wall_s"] for r in runs],
                **({"probes": probe_summary(runs)} if all(r.get("probes") for r in runs) else {}),
                "runs": [f"docs/benchmarks/runs/{args.name}/{config.stem}-{backend}-seed{s}.json" for s in seeds],
            }
    for name, reason in failed.items():
        print(f"failed: {name}: {reason}", file=sys.stderr)
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    data = f"the dataset of `latentloop data {args.data}`" if args.data else "MNIST"
    write_result(f"accuracy-{args.name}", {
        "what": f"{data} {split} accuracy with {args.labels_per_class} oracle labels per class, seeds {args.seeds}, "
                f"{args.threads} training thread(s), one subprocess per run"
                + (f"; {args.validation} training samples held out as the validation split" if args.validation else ""),
        "command": f"python benchmarks/bench_accuracy.py {argv}",
        "arms": arms,
        **({"failed": failed} if failed else {}),
    })  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
