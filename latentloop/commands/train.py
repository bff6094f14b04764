"""`latentloop train`: train the SSVAE on the current labels and save a checkpoint.

Train with whatever labels data/<dataset>/labels.csv holds; evaluate on the held-out test split;
save artifacts/checkpoints/<name>.ckpt/. An existing checkpoint is continued with --resume (with
its own config unless -c is given) or replaced with --overwrite.
"""

from __future__ import annotations

import argparse
import signal
import sys

from engine.errors import CheckpointError
from latentloop.commands._common import (
    add_command,
    add_model_args,
    add_progress_arg,
    checkpoint_config,
    count,
    overrides,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    add_model_args(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--resume", action="store_true", help="continue exactly from the checkpoint")
    how.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint with a new model")
    p.add_argument("--steps", type=count, help="total steps to reach (overrides train.steps)")
    p.add_argument("--lr", type=float, help="overrides train.lr")
    add_progress_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import queue

    from engine import events as ev
    from engine.reports.accuracy import HELD_OUT, describe_accuracy
    from engine.stores.checkpoints import CheckpointStore
    from engine.workspace import make_trainer, open_workspace
    from latentloop.commands._progress import TrainProgress

    sets = overrides(args, **{"train.steps": args.steps, "train.lr": args.lr, "train.checkpoint": args.checkpoint})
    ws = open_workspace(args.config, sets, cfg=checkpoint_config(args, sets) if args.resume else None)
    for note in ws.notes:
        print(f"note: {note}", file=sys.stderr)
    name = ws.cfg.train.checkpoint
    store = CheckpointStore()
    if not args.resume and not args.overwrite and store.exists(name):
        meta = store.load(name).meta
        raise CheckpointError(
            f"checkpoint {name!r} exists (step {meta.get('step')}, dataset {meta.get('dataset') or '?'}): "
            "pass --resume to continue it, --overwrite to replace it, or --checkpoint NEW"
        )
    commands: queue.Queue = queue.Queue()
    trainer = make_trainer(ws, resume=args.resume, commands=commands, force=args.force)
    total = ws.cfg.train.steps
    if args.resume and trainer.step >= total:
        raise CheckpointError(
            f"checkpoint {name!r} is at step {trainer.step} already; training to step {total} would do nothing: "
            f"pass --steps N with N > {trainer.step} (the total to reach)"
        )
    print(
        f"training {ws.cfg.backend} SSVAE on {ws.dataset.name}: {trainer.n_labels} labels, "
        f"steps {trainer.step} -> {total}"
    )
    if not trainer.n_labels:
        print(
            f"hint: {ws.dataset.name} has no labels yet, so the classifier learns nothing: label some "
            f"(latentloop label set / import) or seed them (latentloop label seed --per-class N --dataset "
            f"{ws.dataset.name})",
            file=sys.stderr,
        )
    progress = TrainProgress(total, trainer.step, bar=not args.no_progress)
    progress.test = float(trainer.last_eval.get("test_acc", float("nan")))  # a resumed run's last evaluation
    trainer.listeners.append(progress)
    # Ctrl+C: stop after the current step and save, instead of losing the run.
    signal.signal(signal.SIGINT, lambda *_: commands.put(ev.Stop(save=True)))
    summary = trainer.run()
    progress.close()
    # (a stopped trainer saved as it stopped)
    path = trainer.save_checkpoint() if trainer._stop is None else store.path(name)
    last = trainer.last_eval
    if last.get("split") == HELD_OUT:  # no test truth: scored on the user's held-out labels
        acc = f"accuracy {describe_accuracy(last.get('test_acc'), int(last.get('n_test', 0)), HELD_OUT)}"
    else:
        acc = f"test accuracy {summary.get('test_acc', float('nan')):.4f}"
    print(
        f"{acc} with {trainer.n_labels} labels after {summary['step']} steps ({summary['seconds']:.1f} s); "
        f"checkpoint {path}"
    )
    if trainer._stop is not None:
        print(f"interrupted at step {trainer.step} of {total}; saved checkpoint {path}", file=sys.stderr)
        return 130
    return 0
