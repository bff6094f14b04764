"""`latentloop experiment`: train from scratch into a run directory with a report.

Train a fresh model with a config and write REPORT.md, metrics.json, history.csv and loss.png to
artifacts/experiments/<name>-<time>/. With --labels-per-class N it uses N oracle labels per class
(an isolated label store); otherwise it reads your labels.csv without changing it.
"""

from __future__ import annotations

import argparse

from engine.commands._common import add_command, add_model_args, add_progress_arg, checkpoint_name, count, overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    add_model_args(p, checkpoint=False)
    p.add_argument("--name", default="run", type=checkpoint_name, help="run name (also the checkpoint's; default: run)")
    p.add_argument("--labels-per-class", type=count, help="use N true labels per class (fixed seed)")
    p.add_argument("--steps", type=count, help="overrides train.steps")
    p.add_argument(
        "--validation",
        type=count,
        help="overrides data.validation: hold out N training samples and report accuracy on them, not on test",
    )
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from engine import events as ev
    from engine.checkpoints import CheckpointStore
    from engine.commands._progress import TrainProgress
    from engine.config import config_to_dict
    from engine.datasets import oracle_labels, validation_idx
    from engine.io import atomic_write_bytes
    from engine.labels import LabelStore
    from engine.paths import artifacts_dir
    from engine.reports import plot_losses, write_csv
    from engine.trainer import Trainer
    from engine.workspace import open_workspace

    ws = open_workspace(args.config, overrides(args, **{"train.steps": args.steps, "data.validation": args.validation}))
    out = artifacts_dir() / "experiments" / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)
    labels = ws.labels
    if args.labels_per_class:
        labels = LabelStore(out / "labels.csv", ws.dataset.n_train, ws.dataset.num_classes)
        held_out = validation_idx(ws.dataset, ws.cfg.data.validation)
        chosen = oracle_labels(ws.dataset, args.labels_per_class, ws.cfg.seed, exclude=held_out)
        labels.set_many(chosen, source="oracle")
    trainer = Trainer(ws.cfg, ws.dataset, labels)
    evals: list[dict] = []
    trainer.listeners.append(lambda e: evals.append(e.__dict__) if isinstance(e, ev.Evaluation) else None)
    print(
        f"experiment {args.name}: {ws.cfg.backend} SSVAE on {ws.dataset.name}, {trainer.n_labels} labels, "
        f"{ws.cfg.train.steps} steps; run directory {out}"
    )
    progress = TrainProgress(ws.cfg.train.steps, bar=not args.no_progress)
    trainer.listeners.append(progress)
    summary = trainer.run()
    progress.close()
    trainer.save_checkpoint(f"{args.name}", store=CheckpointStore(out / "checkpoints"))
    write_csv(out / "history.csv", trainer.history)
    plot_losses(out / "loss.png", trainer.history)
    metrics = {**summary, "labels": trainer.n_labels, "backend": ws.cfg.backend, "evaluations": evals}
    split = summary.get("split", "test")
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=2, default=float).encode())
    report = [
        f"# Experiment {args.name}",
        "",
        f"- dataset: {ws.dataset.name} ({ws.dataset.n_train} train / {len(ws.dataset.test_idx)} test)"
        + (f"; {len(trainer.val_idx)} training samples held out for validation" if len(trainer.val_idx) else ""),
        f"- backend: {ws.cfg.backend}, steps: {summary['step']}, wall time: {summary['seconds']:.1f} s",
        f"- labels: {trainer.n_labels}",
        f"- {split} accuracy: {summary['test_acc']:.4f} (tau route: {summary['tau_acc']:.4f})",
        "",
        "## Evaluations",
        "",
        f"| step | {split} acc | tau acc |",
        "|---|---|---|",
    ]
    report += [f"| {e['step']} | {e['test_acc']:.4f} | {e['tau_acc']:.4f} |" for e in evals]
    report += [
        "",
        "![losses](loss.png)",
        "",
        "## Config",
        "",
        "```json",
        json.dumps(config_to_dict(ws.cfg), indent=2),
        "```",
        "",
    ]
    atomic_write_bytes(out / "REPORT.md", "\n".join(report).encode())
    print(
        f"{split} accuracy {summary['test_acc']:.4f} with {trainer.n_labels} labels in {summary['seconds']:.1f} s; "
        f"report {out / 'REPORT.md'}"
    )
    return 0
