"""`latentloop ckpt`: list, show, fork (branch) or delete checkpoints.

Checkpoints live in artifacts/checkpoints/<name>.ckpt/ (see docs/formats.md). `fork SRC DST`
makes a branch: SRC's weights under SRC's config changed by `-c` and `--set`, recorded in DST's
meta (engine/training/fork.py); `latentloop train --checkpoint DST --resume` continues it.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from engine.config import config_to_dict, from_dict
from engine.errors import CheckpointError
from latentloop.commands._common import add_command, fmt_bytes


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __doc__)
    sub = p.add_subparsers(dest="ckpt_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="one line per checkpoint")
    ls.add_argument("--json", action="store_true", help="print the summaries as JSON")
    show = sub.add_parser("show", help="meta.json and array shapes of a checkpoint (JSON)")
    show.add_argument("name")
    fork = sub.add_parser("fork", help="branch SRC into DST (optionally with a changed config); DST records SRC")
    fork.add_argument("src")
    fork.add_argument("dst")
    fork.add_argument("--config", "-c", help="the branch's config (default: SRC's own)")
    fork.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one setting (YAML value), e.g. loss.alpha=2 or 'tasks=[{name: ink, kind: regression, "
        "target: ink, weight: 1}]'; repeatable",
    )
    fork.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    tree = sub.add_parser("tree", help="checkpoints as a tree of branches")
    tree.add_argument("--json", action="store_true", help="print [depth, summary] pairs as JSON")
    rm = sub.add_parser("rm", help="delete a checkpoint (needs --yes)")
    rm.add_argument("name")
    rm.add_argument("--yes", action="store_true", help="really delete it")
    p.set_defaults(func=run)


def _fmt_metrics(metrics: dict) -> str:
    """``key=value`` pairs; counts (``n_*``) as whole numbers, not ``1e+04``."""
    return (
        " ".join(
            f"{k}={int(v)}" if k.startswith("n_") and float(v).is_integer() else f"{k}={v:.4g}"
            for k, v in sorted(metrics.items())
        )
        or "-"
    )


def _fork(store: Any, args: argparse.Namespace) -> int:
    from engine.config import load_config
    from engine.stores.checkpoints import CheckpointExistsError
    from engine.training.fork import apply_sets, checkpoint_config, fork_branch

    try:
        if not args.config and not args.set:  # a plain copy: also of a checkpoint that records no config
            path = store.fork(args.src, args.dst, overwrite=args.overwrite)
            record = store.load(args.dst).meta["fork"]
        else:
            raw = config_to_dict(load_config(args.config)) if args.config else checkpoint_config(store, args.src)
            cfg = from_dict(apply_sets(raw, args.set))
            path, record = fork_branch(store, args.src, args.dst, cfg, overwrite=args.overwrite)
    except CheckpointExistsError:
        raise CheckpointError(f"checkpoint {args.dst!r} already exists; pass --overwrite to replace it") from None
    print(f"forked {args.src} (step {record['step']}) -> {args.dst}: {path}")
    for key, change in record["diff"].items():
        print(f"  {key}: {change['from']!r} -> {change['to']!r}")
    if not record["diff"]:
        print("  (same config)")
    print(f"continue it with: latentloop train --checkpoint {args.dst} --resume --steps N")
    return 0


def _tree(store: Any, as_json: bool) -> int:
    from engine.training.fork import branch_tree

    rows = branch_tree(store.list())
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no checkpoints in {store.root}")
        return 0
    for depth, r in rows:
        if "error" in r:
            print(f"{'  ' * depth}{r['name']}  CORRUPT: {r['error']}")
            continue
        print(f"{'  ' * depth}{'└ ' if depth else ''}{r['name']}  step {r['step']}  {_fmt_metrics(r['metrics'])}")
    return 0


def run(args: argparse.Namespace) -> int:
    from engine.stores.checkpoints import CheckpointStore

    store = CheckpointStore()
    cmd = args.ckpt_command
    if cmd == "list":
        rows = store.list()
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print(f"no checkpoints in {store.root}")
            return 0
        print(
            f"{'NAME':<20} {'DATASET':<12} {'STEP':>7} {'BACKEND':<10} {'PHASE':<17} {'CREATED':<25} "
            f"{'PARENT':<12} {'SIZE':>9}  METRICS"
        )
        for r in rows:
            if "error" in r:
                print(f"{r['name']:<20} CORRUPT: {r['error']}")
                continue
            print(
                f"{r['name']:<20} {r['dataset'] or '-':<12} {r['step']!s:>7} {r['backend'] or '-':<10} "
                f"{r['phase'] or '-':<17} {r['created'] or '-':<25} {r['parent'] or '-':<12} "
                f"{fmt_bytes(r['size']):>9}  {_fmt_metrics(r['metrics'])}"
            )
        return 0
    if cmd == "show":
        print(json.dumps(store.show(args.name), indent=2))
        return 0
    if cmd == "fork":
        return _fork(store, args)
    if cmd == "tree":
        return _tree(store, args.json)
    if cmd == "rm":
        if not args.yes:
            if not store.exists(args.name):  # report a missing name before the --yes hint
                store.load(args.name)
            raise CheckpointError(f"refusing to delete checkpoint {args.name!r} without --yes")
        store.rm(args.name)
        print(f"deleted checkpoint {args.name}")
        return 0
    raise AssertionError(cmd)
