"""`latentloop train`: train the SSVAE with the labels in labels.csv."""
from __future__ import annotations

import argparse
import signal
import sys

from engine.commands._common import add_model_args, count, overrides


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the SSVAE on the current labels and save a checkpoint",
                       description="Train with whatever labels data/<dataset>/labels.csv holds; evaluate "
                       "on the held-out test split; save artifacts/checkpoints/<name>.ckpt/.")
    add_model_args(p)
    p.add_argument("--resume", action="store_true", help="continue exactly from the checkpoint")
    p.add_argument("--steps", type=count, help="total steps to reach (overrides train.steps)")
    p.add_argument("--lr", type=float, help="overrides train.lr")
    p.add_argument("--no-progress", action="store_true", help="print one line per log step instead of a bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import queue

    from tqdm import tqdm

    from engine import events as ev
    from engine.workspace import make_trainer, open_workspace

    ws = open_workspace(args.config, overrides(args, **{"train.steps": args.steps, "train.lr": args.lr,
                                                         "train.checkpoint": args.checkpoint}))
    commands: queue.Queue = queue.Queue()
    trainer = make_trainer(ws, resume=args.resume, commands=commands)
    total = ws.cfg.train.steps
    print(f"training {ws.cfg.backend} SSVAE on {ws.dataset.name}: {trainer.n_labels} labels, "
          f"steps {trainer.step} -> {total}")
    bar = None if args.no_progress else tqdm(total=total, initial=trainer.step, unit="step", dynamic_ncols=True)
    state = {"test": float("nan")}

    def show(e: object) -> None:
        if isinstance(e, ev.Evaluation):
            state["test"] = e.test_acc
            msg = f"step {e.step}: test acc {e.test_acc:.4f} (tau {e.tau_acc:.4f}) on {e.n_test} held-out images"
            (bar.write if bar else print)(msg)
        elif isinstance(e, ev.Metrics):
            info = {"phase": e.phase, "loss": f"{e.losses['loss']:.4f}", "rec": f"{e.losses['rec']:.4f}",
                    "sup": f"{e.losses['sup']:.3f}", "acc_lab": f"{e.acc_labeled:.3f}",
                    "test": f"{state['test']:.3f}", "sps": f"{e.samples_per_s:.0f}"}
            if bar:
                bar.n = e.step
                bar.set_postfix(info, refresh=True)
            else:
                print(f"step {e.step} " + " ".join(f"{k}={v}" for k, v in info.items()), flush=True)
        elif isinstance(e, ev.Phase) and bar:
            bar.write(f"step {e.step}: phase {e.name}")
        elif isinstance(e, ev.LabelsError):
            msg = (f"step {e.step}: labels file unreadable, training on with the last good {e.n_labels} "
                   f"labels until it is fixed: {e.message}" if e.message else
                   f"step {e.step}: labels file readable again: {e.n_labels} labels")
            if bar:
                bar.write(msg, file=sys.stderr)
            else:
                print(msg, file=sys.stderr, flush=True)

    trainer.listeners.append(show)
    # Ctrl+C: stop after the current step and save, instead of losing the run.
    signal.signal(signal.SIGINT, lambda *_: commands.put(ev.Stop(save=True)))
    summary = trainer.run()
    if bar:
        bar.close()
    if trainer._stop is None:
        path = trainer.save_checkpoint()
    else:
        from engine.checkpoints import CheckpointStore
        path = CheckpointStore().root / f"{ws.cfg.train.checkpoint}.ckpt"
    print(f"test accuracy {summary.get('test_acc', float('nan')):.4f} with {trainer.n_labels} labels "
          f"after {summary['step']} steps ({summary['seconds']:.1f} s); checkpoint {path}")
    return 0
