"""`latentloop train`: train the SSVAE on the current labels and save a checkpoint.

Train with whatever labels data/<dataset>/labels.csv holds; evaluate on the held-out test split;
save artifacts/checkpoints/<name>.ckpt/.
"""

from __future__ import annotations

import argparse
import signal

from engine.config import Config
from latentloop.commands._common import add_command, add_model_args, add_progress_arg, count, overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    add_model_args(p)
    p.add_argument("--resume", action="store_true", help="continue exactly from the checkpoint")
    p.add_argument("--steps", type=count, help="total steps to reach (overrides train.steps)")
    p.add_argument("--lr", type=float, help="overrides train.lr")
    add_progress_arg(p)
    p.set_defaults(func=run)


def _resumed_config(args: argparse.Namespace, sets: dict) -> Config | None:
    """``--resume`` without ``-c``: the checkpoint's own config (a branch continues with the tasks,
    weights and curriculum it was forked with), plus the command line's settings."""
    if not args.resume or args.config is not None:
        return None
    from engine.config import apply_overrides, from_dict
    from engine.stores.checkpoints import CheckpointStore
    from engine.training.fork import checkpoint_config

    name = args.checkpoint or from_dict({}).train.checkpoint
    raw = checkpoint_config(CheckpointStore(), name)
    return from_dict(apply_overrides(raw, {k: v for k, v in sets.items() if v is not None}))


def run(args: argparse.Namespace) -> int:
    import queue

    from engine import events as ev
    from engine.workspace import make_trainer, open_workspace
    from latentloop.commands._progress import TrainProgress

    sets = overrides(args, **{"train.steps": args.steps, "train.lr": args.lr, "train.checkpoint": args.checkpoint})
    ws = open_workspace(args.config, sets, cfg=_resumed_config(args, sets))
    commands: queue.Queue = queue.Queue()
    trainer = make_trainer(ws, resume=args.resume, commands=commands)
    total = ws.cfg.train.steps
    print(
        f"training {ws.cfg.backend} SSVAE on {ws.dataset.name}: {trainer.n_labels} labels, "
        f"steps {trainer.step} -> {total}"
    )
    progress = TrainProgress(total, trainer.step, bar=not args.no_progress)
    trainer.listeners.append(progress)
    # Ctrl+C: stop after the current step and save, instead of losing the run.
    signal.signal(signal.SIGINT, lambda *_: commands.put(ev.Stop(save=True)))
    summary = trainer.run()
    progress.close()
    if trainer._stop is None:
        path = trainer.save_checkpoint()
    else:
        from engine.stores.checkpoints import CheckpointStore

        path = CheckpointStore().root / f"{ws.cfg.train.checkpoint}.ckpt"
    print(
        f"test accuracy {summary.get('test_acc', float('nan')):.4f} with {trainer.n_labels} labels "
        f"after {summary['step']} steps ({summary['seconds']:.1f} s); checkpoint {path}"
    )
    return 0
