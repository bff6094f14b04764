"""`latentloop suggest`: the next samples to label, by an acquisition strategy."""
from __future__ import annotations

import argparse
import sys

from engine.commands._common import add_model_args, overrides


def register(sub: argparse._SubParsersAction) -> None:
    from engine.acquisition import STRATEGIES

    p = sub.add_parser("suggest", help="print the next samples to label",
                       description="Rank the unlabelled training samples with an acquisition strategy "
                       "and print the top k (Serial, score, prediction, certainty).")
    add_model_args(p)
    p.add_argument("--strategy", "-s", default="entropy", choices=STRATEGIES)
    p.add_argument("-k", type=int, default=20, help="how many samples (default 20)")
    p.add_argument("--mc-samples", type=int, default=10, help="MC dropout passes for bald/variation_ratios")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.set_defaults(func=run)


def acquisition_inputs(trainer, strategy: str, idx, mc_samples: int = 10, seed: int = 0) -> dict:
    """Compute exactly the model outputs a strategy needs for the dataset indices ``idx``."""
    from engine.acquisition import required_inputs
    from engine.backends.base import Out

    needs = required_inputs(strategy)
    x = trainer.ds.float_images(idx)
    out: dict = {}
    if "probs_mc" in needs:
        out["probs_mc"] = trainer.backend.predict_mc(x, mc_samples, seed=seed)
    if "probs" in needs or "features" in needs:
        pred = trainer.backend.predict(x)
        out["probs"], out["features"] = pred[Out.PROBS], pred[Out.MU]
    return out


def suggest(trainer, strategy: str, k: int, mc_samples: int = 10, seed: int = 0, pool_size: int = 0,
            rng=None):
    """Rank unlabelled training samples; returns (Serials, scores).

    The labelled samples go into the arrays too (as ``exclude``): k-center starts from them.
    ``pool_size`` > 0 ranks a random subset of that many unlabelled samples (faster)."""
    import numpy as np

    from engine.acquisition import select

    labels = trainer.labels.read()
    unl = np.flatnonzero(labels < 0)
    if pool_size and pool_size < len(unl):
        unl = np.sort(np.random.default_rng(rng if rng is not None else seed).choice(unl, pool_size, replace=False))
    idx = np.concatenate([unl, np.flatnonzero(labels >= 0)])
    exclude = np.zeros(len(idx), bool)
    exclude[len(unl):] = True
    inputs = acquisition_inputs(trainer, strategy, idx, mc_samples, seed)
    sel = select(strategy, k, exclude=exclude, n_samples=len(idx), rng=seed, **inputs)
    return idx[sel.indices], sel.scores


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from engine.backends.base import Out
    from engine.checkpoints import CheckpointStore
    from engine.workspace import make_trainer, open_workspace

    ws = open_workspace(args.config, overrides(args, **{"train.checkpoint": args.checkpoint}))
    has_ckpt = CheckpointStore().exists(ws.cfg.train.checkpoint)
    if not has_ckpt:
        print(f"warning: no checkpoint {ws.cfg.train.checkpoint!r}: ranking with an untrained model", file=sys.stderr)
    trainer = make_trainer(ws, resume=has_ckpt, weights_only=True)
    serials, scores = suggest(trainer, args.strategy, args.k, args.mc_samples, ws.cfg.seed)
    probs = trainer.backend.predict(ws.dataset.float_images(serials))[Out.PROBS] if len(serials) else None
    rows = [{"serial": int(s), "score": float(sc) if np.isfinite(sc) else None, "predicted": int(probs[i].argmax()),
             "certainty": float(probs[i].max())} for i, (s, sc) in enumerate(zip(serials, scores))]
    if args.format == "json":
        print(json.dumps(rows))
    elif args.format == "csv":
        print("serial,score,predicted,certainty")
        for r in rows:
            print(f"{r['serial']},{r['score'] if r['score'] is None else format(r['score'], '.6g')},{r['predicted']},{r['certainty']:.4f}")
    else:
        print(f"{'Serial':>7}  {'score':>9}  pred  certainty   ({args.strategy}, {len(rows)} of "
              f"{ws.labels.stats()['unlabelled']} unlabelled)")
        for r in rows:
            print(f"{r['serial']:>7}  {(r['score'] if r['score'] is not None else float('inf')):>9.4f}  {r['predicted']:>4}  {r['certainty']:>9.3f}")
    return 0
