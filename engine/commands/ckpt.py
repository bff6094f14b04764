"""`latentloop ckpt`: list, show, fork or delete checkpoints.

Checkpoints live in artifacts/checkpoints/<name>.ckpt/ (see docs/formats.md).
"""

from __future__ import annotations

import argparse
import json

from engine.commands._common import add_command
from engine.errors import CheckpointError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __doc__)
    sub = p.add_subparsers(dest="ckpt_command", metavar="ACTION", required=True)
    ls = sub.add_parser("list", help="one line per checkpoint")
    ls.add_argument("--json", action="store_true", help="print the summaries as JSON")
    show = sub.add_parser("show", help="meta.json and array shapes of a checkpoint (JSON)")
    show.add_argument("name")
    fork = sub.add_parser("fork", help="copy SRC to DST, recording SRC as DST's parent")
    fork.add_argument("src")
    fork.add_argument("dst")
    fork.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    rm = sub.add_parser("rm", help="delete a checkpoint (needs --yes)")
    rm.add_argument("name")
    rm.add_argument("--yes", action="store_true", help="really delete it")
    p.set_defaults(func=run)


def _fmt_metrics(metrics: dict) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())) or "-"


def run(args: argparse.Namespace) -> int:
    from engine.checkpoints import CheckpointExistsError, CheckpointStore

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
            f"{'NAME':<20} {'STEP':>7} {'BACKEND':<10} {'PHASE':<17} {'CREATED':<25} {'PARENT':<12} "
            f"{'SIZE':>10}  METRICS"
        )
        for r in rows:
            if "error" in r:
                print(f"{r['name']:<20} CORRUPT: {r['error']}")
                continue
            print(
                f"{r['name']:<20} {r['step']!s:>7} {r['backend'] or '-':<10} {r['phase'] or '-':<17} "
                f"{r['created'] or '-':<25} {r['parent'] or '-':<12} {r['size']:>10}  {_fmt_metrics(r['metrics'])}"
            )
        return 0
    if cmd == "show":
        print(json.dumps(store.show(args.name), indent=2))
        return 0
    if cmd == "fork":
        try:
            path = store.fork(args.src, args.dst, overwrite=args.overwrite)
        except CheckpointExistsError:
            raise CheckpointError(f"checkpoint {args.dst!r} already exists; pass --overwrite to replace it") from None
        print(f"forked {args.src} -> {args.dst}: {path}")
        return 0
    if cmd == "rm":
        if not args.yes:
            if not store.exists(args.name):  # report a missing name before the --yes hint
                store.load(args.name)
            raise CheckpointError(f"refusing to delete checkpoint {args.name!r} without --yes")
        store.rm(args.name)
        print(f"deleted checkpoint {args.name}")
        return 0
    raise AssertionError(cmd)
