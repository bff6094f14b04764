"""`latentloop suggest`: print the next samples to label.

Rank the unlabelled training samples with an acquisition strategy and print the top k (Serial,
score, prediction, certainty).
"""

from __future__ import annotations

import argparse

from latentloop.commands._common import (
    add_command,
    add_model_args,
    checkpoint_config,
    count,
    overrides,
    positive,
    require_checkpoint,
)


def register(sub: argparse._SubParsersAction) -> None:
    from engine.analysis.acquisition import DEFAULT_STRATEGY, STRATEGIES
    from engine.analysis.ranking import MC_POOL

    p = add_command(sub, __doc__)
    add_model_args(p)
    p.add_argument(
        "--strategy", "-s", default=DEFAULT_STRATEGY, choices=STRATEGIES, metavar="STRATEGY", help=_strategies()
    )
    p.add_argument("-k", type=count, default=20, metavar="N", help="how many samples (default 20; 0 = all)")
    p.add_argument(
        "--mc-samples", type=positive, default=10, help="MC dropout passes for bald/variation_ratios (default 10)"
    )
    p.add_argument(
        "--mc-pool",
        type=count,
        default=MC_POOL,
        help=f"bald/variation_ratios score only this many most-entropic samples (default {MC_POOL}, "
        "as the dashboard; 0 = all)",
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="default: table")
    p.set_defaults(func=run)


def _strategies() -> str:
    from engine.analysis.acquisition import DEFAULT_STRATEGY, STRATEGIES

    return f"acquisition strategy: {', '.join(STRATEGIES)} (default: {DEFAULT_STRATEGY})"


def suggest(
    trainer,
    strategy: str,
    k: int,
    mc_samples: int = 10,
    seed: int = 0,
    pool_size: int = 0,
    rng=None,
    depth: int = 0,
    mc_pool: int = 0,
):
    """Rank unlabelled training samples with :func:`engine.analysis.ranking.rank_unlabelled`; returns
    (Serials, scores), best first.

    ``pool_size`` > 0 ranks a random subset of that many unlabelled samples (faster: only those and
    the labelled samples go through the model). ``depth``: rank this many (at least ``k``) and
    return the first ``k``; ``mc_pool``: MC passes for only this many most-entropic candidates
    (0 = all). The dashboard's queue uses RANK_DEPTH and MC_POOL; ``run`` passes them so that
    ``latentloop suggest`` prints the queue's order."""
    import numpy as np

    from engine.analysis.ranking import rank_unlabelled
    from engine.backends.base import Out
    from engine.workspace import predict_all

    n = trainer.ds.n_train
    labelled = trainer.labels.read()[:n] >= 0
    free = ~labelled
    free[trainer.val_idx] = False  # validation rows are never trained on, so never worth a label
    pool = None if len(trainer.val_idx) == 0 else np.flatnonzero(free)
    if pool_size and pool_size < int(free.sum()):
        gen = np.random.default_rng(rng if rng is not None else seed)
        pool = np.sort(gen.choice(np.flatnonzero(free), pool_size, replace=False))
    # Every sample, as the dashboard's map (Trainer.embed) does, so the numbers are identical.
    rows = np.arange(len(trainer.ds)) if pool is None else np.concatenate([pool, np.flatnonzero(labelled)])
    out = predict_all(trainer, rows)
    probs = np.zeros((n, out[Out.PROBS].shape[1]), np.float32)
    features = np.zeros((n, out[Out.MU].shape[1]), np.float32)
    resp = np.zeros((n, out[Out.RESP].shape[1]), np.float32)
    train_rows = rows < n
    probs[rows[train_rows]] = out[Out.PROBS][train_rows]
    features[rows[train_rows]] = out[Out.MU][train_rows]
    resp[rows[train_rows]] = out[Out.RESP][train_rows]

    def mc(serials: np.ndarray) -> np.ndarray:
        return trainer.backend.predict_mc(trainer.ds.float_images(serials), mc_samples, seed=seed)

    sel = rank_unlabelled(
        strategy,
        max(k, depth),
        probs=probs,
        features=features,
        labelled=labelled,
        resp=resp,
        mc=mc,
        pool=pool,
        mc_pool=mc_pool,
        seed=seed,
    )
    return sel.indices[:k], sel.scores[:k]


def run(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from engine.analysis.ranking import RANK_DEPTH
    from engine.backends.base import Out
    from engine.datasets.classes import read_class_names, short_name
    from engine.workspace import make_trainer, open_workspace

    sets = overrides(args, **{"train.checkpoint": args.checkpoint})
    ws = open_workspace(args.config, sets, cfg=checkpoint_config(args, sets))
    require_checkpoint(ws.cfg.train.checkpoint)
    trainer = make_trainer(ws, resume=True, weights_only=True, force=args.force)
    k = args.k or ws.labels.stats()["unlabelled"]  # 0: all
    serials, scores = suggest(
        trainer, args.strategy, k, args.mc_samples, ws.cfg.seed, depth=RANK_DEPTH, mc_pool=args.mc_pool
    )
    probs = (
        trainer.backend.predict(ws.dataset.float_images(serials))[Out.PROBS]
        if len(serials)
        else np.zeros((0, ws.dataset.num_classes), np.float32)
    )
    names = read_class_names(ws.dataset.name, ws.dataset.num_classes, ws.cfg.data.root)
    rows = [
        {
            "serial": int(s),
            "score": float(sc) if np.isfinite(sc) else None,
            "predicted": int(probs[i].argmax()),
            "predicted_name": names[int(probs[i].argmax())],
            "certainty": float(probs[i].max()),
        }
        for i, (s, sc) in enumerate(zip(serials, scores, strict=True))
    ]
    if args.format == "json":
        print(json.dumps(rows))
    elif args.format == "csv":
        print("serial,score,predicted,certainty")
        for r in rows:
            score = "" if r["score"] is None else format(r["score"], ".6g")
            print(f"{r['serial']},{score},{_csv_cell(str(r['predicted_name']))},{r['certainty']:.4f}")
    else:
        width = max(4, *(len(short_name(n)) for n in names))  # 4: MNIST's table as it always was
        print(
            f"{'Serial':>7}  {'score':>9}  {'pred':>{width}}  certainty   ({args.strategy}, {len(rows)} of "
            f"{ws.labels.stats()['unlabelled']} unlabelled)"
        )
        for r in rows:
            shown = r["score"] if r["score"] is not None else float("inf")
            pred = short_name(str(r["predicted_name"]))
            print(f"{r['serial']:>7}  {shown:>9.4f}  {pred:>{width}}  {r['certainty']:>9.3f}")
    return 0


def _csv_cell(text: str) -> str:
    """A CSV field: quoted when it holds a comma or a quote (a class name may hold a quote)."""
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
