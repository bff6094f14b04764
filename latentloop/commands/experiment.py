"""`latentloop experiment`: train from scratch into a run directory with a report.

Train a fresh model with a config into artifacts/experiments/<name>-<time>/: the checkpoint, the
files a report needs, and REPORT.md with its figures (`latentloop report` rebuilds them). With
--labels-per-class N it uses N oracle labels per class (an isolated label store); otherwise it
reads your labels.csv without changing it.
"""

from __future__ import annotations

import argparse

from latentloop.commands._common import (
    add_command,
    add_model_args,
    add_progress_arg,
    check_per_class,
    checkpoint_name,
    count,
    overrides,
    positive,
    run_directory,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    add_model_args(p, checkpoint=False)
    p.add_argument("--name", default="run", type=checkpoint_name, help="run name (also the checkpoint's; default: run)")
    p.add_argument(
        "--labels-per-class",
        type=positive,
        metavar="N",
        help="use N true labels per class (fixed seed; default: your labels.csv)",
    )
    p.add_argument("--steps", type=count, help="overrides train.steps")
    p.add_argument(
        "--validation",
        type=count,
        help="overrides data.validation: hold out N training samples and report accuracy on them, not on test",
    )
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime
    import time

    from engine import events as ev
    from engine.backends.base import cpu_threads
    from engine.config import ConfigError, config_to_dict
    from engine.datasets import dataset_info, oracle_labels, validation_idx
    from engine.datasets.classes import read_class_names
    from engine.paths import artifacts_dir
    from engine.reports.experiment import write_report
    from engine.reports.rundir import collect_arrays, git_commit, write_run_files
    from engine.stores.checkpoints import CheckpointStore
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer
    from engine.workspace import open_workspace, predict_all
    from latentloop.commands._progress import TrainProgress

    t0 = time.perf_counter()
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    ws = open_workspace(args.config, overrides(args, **{"train.steps": args.steps, "data.validation": args.validation}))
    try:
        held_out = validation_idx(ws.dataset, ws.cfg.data.validation)
    except ValueError as err:
        raise ConfigError(f"{err}: hold out fewer (--validation N)") from None
    if args.labels_per_class:
        names = read_class_names(ws.cfg.data.name, ws.dataset.num_classes, ws.cfg.data.root)
        check_per_class(ws.dataset, args.labels_per_class, "--labels-per-class", exclude=held_out, names=names)
    out = artifacts_dir() / "experiments" / f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    with run_directory(out, ("checkpoints",)):
        labels = ws.labels
        if args.labels_per_class:
            labels = LabelStore(out / "labels.csv", ws.dataset.n_train, ws.dataset.num_classes)
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
        metrics = {**summary, "labels": trainer.n_labels, "backend": ws.cfg.backend, "evaluations": evals}
        if ws.cfg.tasks:  # what the latent space encodes, with the weights the evaluations used
            from engine.analysis.probes import probe_json, probe_outputs

            predictions = predict_all(trainer)  # by the averaged weights, as the evaluations
            metrics["probes"] = probe_json(probe_outputs(ws.cfg, ws.dataset, predictions))["probes"]
        arrays = collect_arrays(trainer)
        run_info = {
            "name": args.name,
            "dataset": ws.dataset.name,
            "dataset_sha256": dataset_info(ws.cfg.data.name, ws.cfg.data.root)["sha256"],
            "n_train": ws.dataset.n_train,
            "n_test": ws.dataset.n_test,
            "n_validation": len(trainer.val_idx),
            "class_names": read_class_names(ws.cfg.data.name, ws.dataset.num_classes, ws.cfg.data.root),
            "labels_per_class": args.labels_per_class,
            "seed": ws.cfg.seed,
            "backend": ws.cfg.backend,
            "device": ws.cfg.device,
            "threads": cpu_threads(ws.cfg.threads),
            "git_commit": git_commit(),
            "started": started,
            "wall_seconds": time.perf_counter() - t0,
        }
        write_run_files(out, run_info, config_to_dict(ws.cfg), metrics, trainer.history, arrays)
        report = write_report(out)
    split = summary.get("split", "test")
    print(
        f"{split} accuracy {summary['test_acc']:.4f} with {trainer.n_labels} labels in {summary['seconds']:.1f} s; "
        f"report {report}"
    )
    return 0
