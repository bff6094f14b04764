"""`latentloop simulate`: active-learning simulation with an oracle; learning curves.

Start from --seed-labels random true labels, then each round label --per-round samples chosen by the
strategy and retrain (warm start); with --seeds, repeat it all for each seed and report mean and sd.
Your labels.csv is never touched: each strategy and seed gets its own store in the run dir.
With --ray each strategy and seed is a Ray task, on this machine or a cluster (docs/scale.md).

"Labels needed" for a threshold is the label count of the first round after which test accuracy
stays at or above the threshold in every later round (not the first round that touches it).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

from engine.errors import LatentLoopError
from engine.sweep import RAY_HELP, check_ray
from latentloop.commands._common import add_command, add_model_args, add_progress_arg, count, overrides, run_directory
from latentloop.commands._progress import TrainProgress, fmt_seconds


def register(sub: argparse._SubParsersAction) -> None:
    from engine.analysis.acquisition import STRATEGIES

    p = add_command(sub, __doc__)
    add_model_args(p, checkpoint=False)
    p.add_argument(
        "--strategy",
        "-s",
        action="append",
        choices=STRATEGIES,
        metavar="STRATEGY",
        help=f"strategy to compare: {', '.join(STRATEGIES)} (repeatable; default: random and entropy)",
    )
    p.add_argument("--seeds", type=count, nargs="+", help="run seeds (default: the config's seed); overrides --seed")
    p.add_argument("--seed-labels", type=count, default=20, help="random true labels to start from (default 20)")
    p.add_argument("--per-round", type=count, default=10, help="labels added each round (default 10)")
    p.add_argument("--rounds", type=count, default=5, help="labelling rounds (default 5)")
    p.add_argument("--first-steps", type=count, help="training steps before the first round (default train.steps)")
    p.add_argument("--round-steps", type=count, default=300, help="extra steps after each round (default 300)")
    p.add_argument(
        "--pool", type=count, default=0, help="rank a random subset of this many unlabelled samples (0 = all)"
    )
    p.add_argument("--out", help="run directory (default artifacts/simulate/<time>)")
    p.add_argument("--ray", metavar="auto|ADDRESS", help=RAY_HELP)
    add_progress_arg(p)
    p.set_defaults(func=run)


THRESHOLDS = (0.90, 0.95, 0.97, 0.98)


@dataclass(frozen=True)
class Plan:
    """The labelling schedule every strategy and seed follows."""

    seed_labels: int
    per_round: int
    rounds: int
    first_steps: int
    round_steps: int
    pool_size: int

    @property
    def steps_per_run(self) -> int:
        return self.first_steps + self.rounds * self.round_steps


def run_name(seed: int, strategy: str, seeds: list[int]) -> str:
    """A run's directory in the run directory, and its name in progress lines and failures."""
    return strategy if len(seeds) == 1 else f"seed{seed}/{strategy}"


def simulate_run(
    cfg, ds, strategy: str, plan: Plan, run_dir, progress: TrainProgress | None, on_row: Callable[[dict], None]
) -> list[dict]:
    """One strategy from its seed labels (``cfg.seed``); ``on_row(row)`` after every round. Its
    label store is ``run_dir/labels.csv``; ``progress``, when given, follows the training."""
    import time

    import numpy as np

    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer
    from latentloop.commands.suggest import suggest

    seed = cfg.seed
    seed_idx = np.random.default_rng(seed).choice(ds.n_train, size=plan.seed_labels, replace=False)
    store = LabelStore(run_dir / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many({int(i): int(ds.targets[i]) for i in seed_idx}, source="oracle")
    trainer = Trainer(cfg, ds, store)
    if progress is not None:
        trainer.listeners.append(progress)
    rng = np.random.default_rng(seed + 1)
    t0 = time.perf_counter()
    steps = plan.first_steps
    rows = []
    for rnd in range(plan.rounds + 1):
        if progress is not None:
            progress.context = {"strategy": strategy, "round": rnd, "seed": seed}
        if rnd:
            chosen, _ = suggest(trainer, strategy, plan.per_round, seed=seed + rnd, pool_size=plan.pool_size, rng=rng)
            store.set_many({int(i): int(ds.targets[i]) for i in chosen}, source="oracle")
            trainer.reload_labels()
            steps = trainer.step + plan.round_steps
        summary = trainer.run(steps=steps)
        row = {
            "seed": seed,
            "strategy": strategy,
            "round": rnd,
            "labels": trainer.n_labels,
            "test_acc": summary["test_acc"],
            "tau_acc": summary["tau_acc"],
            "step": trainer.step,
            "seconds": time.perf_counter() - t0,
        }
        rows.append(row)
        on_row(row)
    return rows


def _round_line(row: dict, left: str) -> str:
    return (
        f"seed {row['seed']} {row['strategy']:>22} round {row['round']:>2}: {row['labels']:>4} labels  test acc "
        f"{row['test_acc']:.4f}  ({row['seconds']:.0f} s; {left})"
    )


def simulate(ws, strategies: list[str], seeds: list[int], plan: Plan, out_dir, progress: TrainProgress) -> list[dict]:
    """Run every strategy from the same seed labels, for each seed, here; returns learning-curve rows.

    ``progress`` (total: ``len(seeds) * len(strategies) * plan.steps_per_run`` steps) shows the
    training and gets one line per seed, strategy and round: labels, accuracy and time left.
    ``curve.csv`` in ``out_dir`` is rewritten after every round, so a killed run keeps the rounds it
    finished."""
    from engine.reports.curves import write_csv

    rows: list[dict] = []

    def add(row: dict) -> None:
        rows.append(row)
        write_csv(out_dir / "curve.csv", rows)
        progress.write(_round_line(row, f"about {fmt_seconds(progress.seconds_left())} left in all"))

    for s_n, seed in enumerate(seeds):
        cfg = ws.cfg.model_copy(update={"seed": seed})
        for n, strat in enumerate(strategies):
            progress.offset = (s_n * len(strategies) + n) * plan.steps_per_run
            simulate_run(cfg, ws.dataset, strat, plan, out_dir / run_name(seed, strat, seeds), progress, add)
    return rows


def simulate_task(home: str, cfg, strategy: str, plan: Plan) -> tuple[list[dict], dict[str, bytes]]:
    """One run as a Ray task: its rows, and its label store's files (the caller writes them into
    the run directory: a cluster's worker does not share the caller's disk)."""
    import os
    import tempfile
    from pathlib import Path

    from engine.workspace import open_workspace

    os.environ["LATENTLOOP_HOME"] = home  # the project's data at the same path on every node
    ds = open_workspace(cfg=cfg).dataset
    with tempfile.TemporaryDirectory() as tmp:
        rows = simulate_run(cfg, ds, strategy, plan, Path(tmp), None, lambda row: None)
        return rows, {p.name: p.read_bytes() for p in Path(tmp).iterdir() if p.is_file() and p.suffix != ".lock"}


def simulate_on_ray(
    ws, strategies: list[str], seeds: list[int], plan: Plan, out_dir, address: str
) -> tuple[list[dict], dict[str, str]]:
    """:func:`simulate` with each strategy and seed a Ray task; the rows of the finished runs (in
    the local order) and the failed runs' reasons by name. ``curve.csv`` and each run's label store
    are written as each run comes back."""
    from engine.paths import project_root
    from engine.reports.curves import write_csv
    from engine.sweep import Run, run_sweep, task_resources

    order = [(seed, strat) for seed in seeds for strat in strategies]
    names = {run_name(seed, strat, seeds): (seed, strat) for seed, strat in order}
    res = task_resources(ws.cfg.threads, ws.cfg.device)
    runs = [
        Run(name, simulate_task, (str(project_root()), ws.cfg.model_copy(update={"seed": seed}), strat, plan), **res)
        for name, (seed, strat) in names.items()
    ]
    got: dict[str, list[dict]] = {}

    def gather(name: str, result: tuple[list[dict], dict[str, bytes]]) -> None:
        rows, files = result
        (out_dir / name).mkdir(parents=True, exist_ok=True)
        for file, data in files.items():
            (out_dir / name / file).write_bytes(data)
        got[name] = rows
        write_csv(out_dir / "curve.csv", [r for n in names if n in got for r in got[n]])
        for row in rows:
            print(_round_line(row, f"{len(got)} of {len(names)} runs done"), flush=True)

    result = run_sweep(runs, address, gather)
    return [r for n in names if n in got for r in got[n]], result.failed


def summarise(rows: list[dict], strategies: list[str], failed: dict[str, str] | None = None) -> dict:
    """Per strategy: labels needed for each threshold (sustained, per seed; mean and sd over the
    seeds that got there) and the final accuracy (mean, sd, per seed); with ``failed`` (a Ray
    sweep's failed runs by :func:`run_name`) each strategy's failed runs and why."""
    from engine.reports.curves import labels_to_sustain, mean_sd

    out: dict = {}
    for strat in strategies:
        mine = [r for r in rows if r["strategy"] == strat]
        seeds = list(dict.fromkeys(r["seed"] for r in mine))
        by_seed = {s: [r for r in mine if r["seed"] == s] for s in seeds}
        entry: dict = {"seeds": seeds}
        for t in THRESHOLDS:
            need = {s: labels_to_sustain(rs, t) for s, rs in by_seed.items()}
            got = [v for v in need.values() if v is not None]
            entry[f"labels_for_{round(t * 100)}"] = {
                **mean_sd(got),
                "reached": f"{len(got)}/{len(seeds)}",
                "per_seed": {str(s): v for s, v in need.items()},
            }
        final = {s: rs[-1]["test_acc"] for s, rs in by_seed.items()}
        entry["final_acc"] = {**mean_sd(list(final.values())), "per_seed": {str(s): v for s, v in final.items()}}
        entry["final_labels"] = mine[-1]["labels"] if mine else None
        if lost := {n: r for n, r in (failed or {}).items() if n.rpartition("/")[2] == strat}:
            entry["failed"] = lost
        out[strat] = entry
    return out


def _cell(v: dict) -> str:
    if v["mean"] is None:
        return "never"
    sd = f" +- {v['sd']:.0f}" if v["n"] > 1 else ""
    missed = "" if v["reached"].split("/")[0] == v["reached"].split("/")[1] else f" ({v['reached']} seeds)"
    return f"{v['mean']:.0f}{sd}{missed}"


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from engine.datasets.store import require_ground_truth
    from engine.io import atomic_write_bytes
    from engine.paths import artifacts_dir
    from engine.reports.curves import plot_learning_curves
    from engine.workspace import open_workspace

    if args.ray:
        check_ray(args.ray)
    ws = open_workspace(args.config, overrides(args))
    require_ground_truth(ws.dataset, "simulate (an oracle answering with the true labels)")
    strategies = args.strategy or ["random", "entropy"]
    seeds = args.seeds or [ws.cfg.seed]
    out = Path(args.out) if args.out else artifacts_dir() / "simulate" / time.strftime("%Y%m%d-%H%M%S")
    if out.is_dir() and any(out.iterdir()):  # its label stores would carry on from the old run
        raise LatentLoopError(f"--out {out} is not empty (an earlier run?): choose a new directory")
    wanted = args.seed_labels + args.rounds * args.per_round
    if wanted > ws.dataset.n_train:
        raise LatentLoopError(
            f"--seed-labels {args.seed_labels} + --rounds {args.rounds} x --per-round {args.per_round} = {wanted} "
            f"labels, but only {ws.dataset.n_train} training images exist in {ws.dataset.name!r}"
        )
    plan = Plan(args.seed_labels, args.per_round, args.rounds, args.first_steps or ws.cfg.train.steps,
                args.round_steps, args.pool)  # fmt: skip
    total = len(seeds) * len(strategies) * plan.steps_per_run
    print(
        f"simulating {', '.join(strategies)} on {ws.dataset.name} with seed(s) {', '.join(map(str, seeds))}: "
        f"{args.seed_labels} seed labels, {args.rounds} rounds of {args.per_round}, {total} training steps in all; "
        f"run directory {out}" + (f"; {len(seeds) * len(strategies)} Ray tasks on {args.ray}" if args.ray else "")
    )
    failed: dict[str, str] = {}
    with run_directory(out, ("curve.csv",)):
        if args.ray:
            rows, failed = simulate_on_ray(ws, strategies, seeds, plan, out, args.ray)
        else:
            progress = TrainProgress(total, bar=not args.no_progress)
            rows = simulate(ws, strategies, seeds, plan, out, progress)
            progress.close()
        if not rows:
            raise LatentLoopError(f"every run failed: {'; '.join(f'{n}: {r}' for n, r in failed.items())}")
    plot_learning_curves(
        out / "curve.png", rows, f"{ws.dataset.name}: test accuracy vs labels", THRESHOLDS, n_test=ws.dataset.n_test
    )
    summary = summarise(rows, strategies, failed)
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    heads = " / ".join(f"{round(t * 100)}%" for t in THRESHOLDS)
    print(f"labels needed to stay at or above {heads} test accuracy (mean +- sd over seeds):")
    for s, v in summary.items():
        cells = " / ".join(_cell(v[f"labels_for_{round(t * 100)}"]) for t in THRESHOLDS)
        f = v["final_acc"]
        final = "no run finished" if f["mean"] is None else f"final {f['mean']:.4f}"
        print(f"  {s:>22}: {cells}   {final}" + (f" +- {f['sd']:.4f}" if f["n"] > 1 else ""))
    for name, reason in failed.items():
        print(f"failed: {name}: {reason}", file=sys.stderr)
    print(f"wrote {out / 'curve.csv'}, {out / 'summary.json'} and {out / 'curve.png'}")
    return 1 if failed else 0
