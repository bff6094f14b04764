"""`latentloop simulate`: active-learning simulation with an oracle; learning curves.

Start from --seed-labels random true labels, then each round label --per-round samples chosen by the
strategy and retrain (warm start). Your labels.csv is never touched: each strategy gets its own
store in the run dir.
"""

from __future__ import annotations

import argparse

from engine.commands._common import add_command, add_model_args, add_progress_arg, count, overrides
from engine.commands._progress import TrainProgress, fmt_seconds


def register(sub: argparse._SubParsersAction) -> None:
    from engine.acquisition import STRATEGIES

    p = add_command(sub, __doc__)
    add_model_args(p, checkpoint=False)
    p.add_argument(
        "--strategy",
        "-s",
        action="append",
        choices=STRATEGIES,
        help="strategy to compare (repeatable; default random and entropy)",
    )
    p.add_argument("--seed-labels", type=count, default=20)
    p.add_argument("--per-round", type=count, default=10)
    p.add_argument("--rounds", type=count, default=5)
    p.add_argument("--first-steps", type=count, help="training steps before the first round (default train.steps)")
    p.add_argument("--round-steps", type=count, default=300, help="extra steps after each round")
    p.add_argument(
        "--pool", type=count, default=0, help="rank a random subset of this many unlabelled samples (0 = all)"
    )
    p.add_argument("--out", help="run directory (default artifacts/simulate/<time>)")
    add_progress_arg(p)
    p.set_defaults(func=run)


def simulate(
    ws,
    strategies: list[str],
    seed_labels: int,
    per_round: int,
    rounds: int,
    first_steps: int,
    round_steps: int,
    pool_size: int,
    out_dir,
    progress: TrainProgress,
) -> list[dict]:
    """Run every strategy from the same seed labels; returns learning-curve rows.

    ``progress`` (total: ``len(strategies) * (first_steps + rounds * round_steps)`` steps) shows
    the training and gets one line per strategy and round: labels, accuracy and time left."""
    import time

    import numpy as np

    from engine.commands.suggest import suggest
    from engine.labels import LabelStore
    from engine.trainer import Trainer

    ds = ws.dataset
    seed_rng = np.random.default_rng(ws.cfg.seed)
    seed_idx = seed_rng.choice(ds.n_train, size=seed_labels, replace=False)
    rows: list[dict] = []
    for n, strat in enumerate(strategies):
        store = LabelStore(out_dir / strat / "labels.csv", ds.n_train, ds.num_classes)
        store.set_many({int(i): int(ds.targets[i]) for i in seed_idx}, source="oracle")
        trainer = Trainer(ws.cfg, ds, store)
        progress.offset = n * (first_steps + rounds * round_steps)
        trainer.listeners.append(progress)
        rng = np.random.default_rng(ws.cfg.seed + 1)
        t0 = time.perf_counter()
        steps = first_steps
        for rnd in range(rounds + 1):
            progress.context = {"strategy": strat, "round": rnd}
            if rnd:
                chosen, _ = suggest(trainer, strat, per_round, seed=ws.cfg.seed + rnd, pool_size=pool_size, rng=rng)
                store.set_many({int(i): int(ds.targets[i]) for i in chosen}, source="oracle")
                trainer.reload_labels()
                steps = trainer.step + round_steps
            summary = trainer.run(steps=steps)
            row = {
                "strategy": strat,
                "round": rnd,
                "labels": trainer.n_labels,
                "test_acc": summary["test_acc"],
                "tau_acc": summary["tau_acc"],
                "step": trainer.step,
                "seconds": time.perf_counter() - t0,
            }
            rows.append(row)
            progress.write(
                f"{strat:>22} round {rnd:>2}: {row['labels']:>4} labels  test acc "
                f"{row['test_acc']:.4f}  ({row['seconds']:.0f} s; about "
                f"{fmt_seconds(progress.seconds_left())} left in all)"
            )
    return rows


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from engine.io import atomic_write_bytes
    from engine.paths import artifacts_dir
    from engine.reports import labels_to_reach, plot_learning_curves, write_csv
    from engine.workspace import open_workspace

    ws = open_workspace(args.config, overrides(args))
    strategies = args.strategy or ["random", "entropy"]
    out = Path(args.out) if args.out else artifacts_dir() / "simulate" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    first_steps = args.first_steps or ws.cfg.train.steps
    total = len(strategies) * (first_steps + args.rounds * args.round_steps)
    print(
        f"simulating {', '.join(strategies)} on {ws.dataset.name}: {args.seed_labels} seed labels, "
        f"{args.rounds} rounds of {args.per_round}, {total} training steps in all; run directory {out}"
    )
    progress = TrainProgress(total, bar=not args.no_progress)
    rows = simulate(
        ws,
        strategies,
        args.seed_labels,
        args.per_round,
        args.rounds,
        first_steps,
        args.round_steps,
        args.pool,
        out,
        progress,
    )
    progress.close()
    write_csv(out / "curve.csv", rows)
    plot_learning_curves(out / "curve.png", rows, f"{ws.dataset.name}: test accuracy vs labels")
    summary = {
        s: {
            "to_90": labels_to_reach([r for r in rows if r["strategy"] == s], 0.90),
            "to_95": labels_to_reach([r for r in rows if r["strategy"] == s], 0.95),
            "final_acc": [r for r in rows if r["strategy"] == s][-1]["test_acc"],
        }
        for s in strategies
    }
    atomic_write_bytes(out / "summary.json", json.dumps(summary, indent=2).encode())
    print("labels needed for 90% / 95% test accuracy:")
    for s, v in summary.items():
        print(f"  {s:>22}: {v['to_90'] or '-':>5} / {v['to_95'] or '-':>5}   final {v['final_acc']:.4f}")
    print(f"wrote {out / 'curve.csv'} and {out / 'curve.png'}")
    return 0
