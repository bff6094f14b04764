"""`latentloop label`: set, clear, undo, import, export and count labels.

Edit the labels of a dataset's training images (data/<dataset>/labels.csv). Every change is appended
to labels.changes.jsonl and can be undone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.commands._common import add_actions, add_command, add_dataset_arg


def register(subparsers: Any) -> None:
    p = add_command(subparsers, __doc__)
    sub, common = add_actions(p, "label_action", add_dataset_arg)

    s = sub.add_parser("set", parents=[common], help="label one training image")
    s.add_argument("serial", metavar="SERIAL", help="dataset index of a training image")
    s.add_argument("label", metavar="LABEL", help="class, 0..num_classes-1")

    s = sub.add_parser("clear", parents=[common], help="remove one image's label")
    s.add_argument("serial", metavar="SERIAL")

    sub.add_parser("undo", parents=[common], help="revert the last set/clear/import/seed")

    s = sub.add_parser("import", parents=[common], help="merge a Serial,label CSV (validated first; all or nothing)")
    s.add_argument("file", metavar="FILE.csv")

    s = sub.add_parser("export", parents=[common], help="write the labels as csv or jsonl")
    s.add_argument("--format", choices=["csv", "jsonl"], default="csv", help="default: csv")
    s.add_argument("-o", "--output", metavar="FILE", help="output file (default: stdout)")

    s = sub.add_parser("stats", parents=[common], help="labelled / unlabelled counts per class")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("seed", parents=[common], help="oracle: write N true labels per class (for experiments)")
    s.add_argument("--per-class", type=int, required=True, metavar="N")
    s.add_argument("--seed", type=int, default=0, help="random seed for the choice (default: 0)")

    p.set_defaults(func=run)


def _store(dataset: str) -> tuple[Any, Any]:
    """The dataset (for sizes and true labels) and its label store."""
    from engine.datasets import load_dataset
    from engine.labels import label_store_for

    ds = load_dataset(dataset)
    return ds, label_store_for(dataset, ds.n_train, ds.num_classes)


def _fmt(label: int | None) -> str:
    return "unlabelled" if label is None else str(label)


def _describe(changes: list[dict[str, Any]], limit: int = 10) -> str:
    parts = [f"{c['serial']}: {_fmt(c['old'])} -> {_fmt(c['new'])}" for c in changes[:limit]]
    if len(changes) > limit:
        parts.append(f"... ({len(changes) - limit} more)")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from engine.errors import LabelError

    action = args.label_action
    ds, store = _store(args.dataset)
    source = "cli"

    if action == "set":
        entry = store.set(args.serial, args.label, source)
        print(
            f"{args.dataset}: "
            + (_describe(entry["changes"]) if entry else f"{args.serial} already labelled {args.label} (unchanged)")
        )
    elif action == "clear":
        entry = store.clear(args.serial, source)
        print(
            f"{args.dataset}: "
            + (_describe(entry["changes"]) if entry else f"{args.serial} was not labelled (unchanged)")
        )
    elif action == "undo":
        done = store.undo(source)
        if done is None:
            print("nothing to undo")
        else:
            msg = f"undid change #{done['undoes']} ({done['op']}): {len(done['changes'])} row(s)"
            if done["changes"]:
                msg += "; " + _describe(done["changes"])
            if done["skipped"]:
                msg += f"; left {len(done['skipped'])} row(s) changed since untouched"
            print(msg)
    elif action == "import":
        entry = store.import_csv(args.file, source)
        n = len(entry["changes"]) if entry else 0
        print(f"imported {args.file}: {n} label(s) changed, {store.stats()['labelled']} labelled")
    elif action == "export":
        if args.output:
            n = store.export(args.format, args.output)
            print(f"wrote {n} label(s) to {args.output}", file=sys.stderr)
        else:
            store.export(args.format, sys.stdout)
    elif action == "stats":
        st = store.stats()
        if args.json:
            print(json.dumps({"dataset": args.dataset, "num_classes": store.num_classes, **st}))
        else:
            print(
                f"dataset {args.dataset}: {st['labelled']} labelled, {st['unlabelled']} unlabelled "
                f"of {st['n_samples']} training images"
            )
            for c, count in enumerate(st["per_class"]):
                print(f"  class {c}: {count}")
    elif action == "seed":
        if args.per_class < 1:
            raise LabelError("--per-class must be at least 1")
        from engine.datasets import oracle_labels

        chosen = oracle_labels(ds, args.per_class, args.seed)
        entry = store.set_many(chosen, source="oracle")
        n = len(entry["changes"]) if entry else 0
        print(
            f"seeded {len(chosen)} true label(s) ({args.per_class} per class, seed {args.seed}): "
            f"{n} changed, {store.stats()['labelled']} labelled"
        )
    else:  # argparse restricts the choices; kept for type checkers
        raise LabelError(f"unknown label action {action!r}")
    return 0
