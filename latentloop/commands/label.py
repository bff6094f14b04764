"""`latentloop label`: set, clear, undo, import, export, count labels and find labelling mistakes.

Edit the labels of a dataset's training images (data/<dataset>/labels.csv). Every change is appended
to labels.changes.jsonl and can be undone. `label issues` ranks the labels the model disagrees with
(cleanlab on out-of-sample probabilities, docs/label-issues.md); `label accept` marks a label as
right so it is not suggested again (labels.accepted.csv).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.analysis.label_issues import METHODS
from latentloop.commands import _label_holdout
from latentloop.commands._common import (
    add_actions,
    add_command,
    add_dataset_arg,
    add_force_arg,
    check_per_class,
    checkpoint_config,
    checkpoint_name,
    count,
    output_file,
)


def register(subparsers: Any) -> None:
    p = add_command(subparsers, __doc__)
    sub, common = add_actions(p, "label_action", add_dataset_arg)

    s = sub.add_parser("set", parents=[common], help="label one training image")
    s.add_argument("serial", metavar="SERIAL", help="dataset index of a training image")
    s.add_argument("label", metavar="LABEL", help="class: its name or its number, 0..num_classes-1")

    s = sub.add_parser("clear", parents=[common], help="remove one image's label")
    s.add_argument("serial", metavar="SERIAL")

    sub.add_parser("undo", parents=[common], help="revert the last set/clear/import/seed")

    s = sub.add_parser("import", parents=[common], help="merge a Serial,label CSV (validated first; all or nothing)")
    s.add_argument("file", metavar="FILE.csv")

    s = sub.add_parser(
        "export", parents=[common], help="write the labels: Serial,label (csv, jsonl) or with paths and class names"
    )
    s.add_argument(
        "--format",
        choices=["csv", "jsonl", "manifest", "json", "folder"],
        help="csv, jsonl: Serial and label (as labels.csv); manifest (CSV), json: path, class name, Serial and "
        "source of every label, manifest readable by `data import`; folder: an ImageFolder tree of links "
        "(-o names the folder). Default: manifest for an imported dataset, else csv",
    )
    s.add_argument("-o", "--output", metavar="FILE", help="output file, its directories created (default: stdout)")
    s.add_argument("--copy", action="store_true", help="--format folder: copy the images instead of linking them")
    s.add_argument(
        "--predictions",
        action="store_true",
        help="every image, labelled or not, with its split and the model's predicted class name and probability "
        "(not with --format folder)",
    )
    s.add_argument(
        "--checkpoint", type=checkpoint_name, help="--predictions: checkpoint (default: train.checkpoint, i.e. ssvae)"
    )
    add_force_arg(s)

    s = sub.add_parser("stats", parents=[common], help="labelled / unlabelled counts per class")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    s = sub.add_parser("issues", parents=[common], help="labels the model disagrees with, most suspicious first")
    s.add_argument("-k", type=count, default=20, metavar="N", help="show at most N (default 20; 0 = all)")
    s.add_argument("--format", choices=["table", "csv", "json"], default="table", help="default: table")
    s.add_argument("--all", action="store_true", help="every label, not only the suspicious ones")
    s.add_argument(
        "--method", choices=METHODS, default=METHODS[0], help=f"out-of-sample probabilities (default {METHODS[0]})"
    )
    s.add_argument("--config", "-c", help="YAML config (default: built-in defaults)")
    s.add_argument("--checkpoint", type=checkpoint_name, help="checkpoint (default: train.checkpoint, i.e. ssvae)")
    add_force_arg(s)
    _label_holdout.register(sub, common)

    s = sub.add_parser("accept", parents=[common], help="mark a label as right: label issues stop suggesting it")
    s.add_argument("serial", metavar="SERIAL")

    s = sub.add_parser("seed", parents=[common], help="oracle: write N true labels per class (for experiments)")
    s.add_argument("--per-class", type=count, required=True, metavar="N", help="labels per class (1 or more)")
    s.add_argument("--seed", type=count, default=0, help="random seed for the choice (default: 0)")

    p.set_defaults(func=run)


def _store(dataset: str) -> tuple[Any, Any, list[str]]:
    """The dataset (for sizes and true labels), its label store and its class names."""
    from engine.datasets import load_dataset
    from engine.datasets.classes import read_class_names
    from engine.stores.labels import label_store_for

    ds = load_dataset(dataset)
    return ds, label_store_for(dataset, ds.n_train, ds.num_classes), read_class_names(dataset, ds.num_classes)


def _class_index(text: str, names: list[str], dataset: str) -> int | str:
    """The class of ``label set``'s LABEL: the index of the class so named, else the text as given
    (a number, checked by the label store). A name wins over a number: the names are what every
    command shows. Neither a name nor a number: LabelError listing the names."""
    from engine.errors import LabelError
    from engine.stores.labels_csv import parse_int

    if text in names:
        return names.index(text)
    try:
        parse_int(text)
    except ValueError:
        shown = ", ".join(names[:40]) + (f", ... ({len(names)} in all)" if len(names) > 40 else "")
        raise LabelError(f"label {text!r} is not a number nor a class name of {dataset!r} (classes: {shown})") from None
    return text


def _fmt(label: int | None, names: list[str]) -> str:
    return "unlabelled" if label is None else names[label]


def _describe(changes: list[dict[str, Any]], names: list[str], limit: int = 10) -> str:
    parts = [f"{c['serial']}: {_fmt(c['old'], names)} -> {_fmt(c['new'], names)}" for c in changes[:limit]]
    if len(changes) > limit:
        parts.append(f"... ({len(changes) - limit} more)")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from engine.errors import LabelError

    action = args.label_action
    if action == "issues":
        return _issues(args)
    ds, store, names = _store(args.dataset)
    source = "cli"

    if action == "set":
        entry = store.set(args.serial, _class_index(args.label, names, args.dataset), source)
        print(
            f"{args.dataset}: "
            + (
                _describe(entry["changes"], names)
                if entry
                else f"{args.serial} already labelled {args.label} (unchanged)"
            )
        )
    elif action == "clear":
        entry = store.clear(args.serial, source)
        print(
            f"{args.dataset}: "
            + (_describe(entry["changes"], names) if entry else f"{args.serial} was not labelled (unchanged)")
        )
    elif action == "undo":
        done = store.undo(source)
        if done is None:
            print("nothing to undo")
        else:
            msg = f"undid change #{done['undoes']} ({done['op']}): {len(done['changes'])} row(s)"
            if done["changes"] and done["op"] == "accept":  # the label stays; only its acceptance goes
                msg += "; " + ", ".join(
                    f"{c['serial']}: label {names[c['old']]} no longer accepted" for c in done["changes"][:10]
                )
            elif done["changes"]:
                msg += "; " + _describe(done["changes"], names)
            if done["skipped"]:
                msg += f"; left {len(done['skipped'])} row(s) changed since untouched"
            print(msg)
    elif action == "import":
        entry = store.import_csv(args.file, source)
        n = len(entry["changes"]) if entry else 0
        print(f"imported {args.file}: {n} label(s) changed, {store.stats()['labelled']} labelled")
    elif action == "export":
        _export(args, ds, store)
    elif action == "stats":
        st = store.stats()
        if args.json:
            print(json.dumps({"dataset": args.dataset, "num_classes": store.num_classes, "classes": names, **st}))
        else:
            print(
                f"dataset {args.dataset}: {st['labelled']} labelled, {st['unlabelled']} unlabelled "
                f"of {st['n_samples']} training images"
            )
            for name, count in zip(names, st["per_class"], strict=True):
                print(f"  class {name}: {count}")
    elif action == "accept":
        entry = store.accept(args.serial, source)
        print(
            f"{args.dataset}: "
            + (
                f"accepted label {names[entry['changes'][0]['new']]} of #{entry['changes'][0]['serial']}"
                if entry
                else f"the label of #{args.serial} was already accepted (unchanged)"
            )
        )
    elif action == "seed":
        from engine.datasets import oracle_labels

        if args.per_class < 1:
            raise LabelError("--per-class must be at least 1")
        check_per_class(ds, args.per_class, "--per-class", names=names)
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


def _default_export(dataset: str) -> str:
    """``manifest`` for a dataset made by ``data import`` (it has source paths), else ``csv``."""
    from engine.datasets.provenance import sources_path

    return "manifest" if sources_path(dataset).exists() else "csv"


def _export(args: argparse.Namespace, ds: Any, store: Any) -> None:
    """``label export``: labels.csv's rows (csv, jsonl) or, with paths and class names, manifest,
    json or folder (engine.stores.label_export); ``--predictions`` adds every image's prediction."""
    from pathlib import Path

    from engine.datasets.classes import read_class_names
    from engine.errors import LabelError
    from engine.stores import label_export

    fmt = args.format or _default_export(args.dataset)
    if args.predictions and fmt == "folder":
        raise LabelError(
            "--predictions does not go with --format folder (the tree holds labelled images only): "
            "use --format manifest or json"
        )
    if not args.predictions and (args.checkpoint or args.force):
        raise LabelError("--checkpoint and --force choose the model of --predictions: add --predictions")
    if fmt in ("csv", "jsonl") and not args.predictions:
        if args.output:
            n = store.export(fmt, output_file(args.output))
            print(f"wrote {n} label(s) to {args.output}", file=sys.stderr)
        else:
            store.export(fmt, sys.stdout)
        return
    names = read_class_names(args.dataset, ds.num_classes)
    rows = label_export.labelled_rows(
        store, args.dataset, ds.num_classes, n_images=len(ds) if args.predictions else None
    )
    if args.predictions:
        label_export.add_predictions(rows, *_predicted(args, ds), names, ds.n_train)
    if fmt == "folder":
        if not args.output:
            raise LabelError("--format folder needs -o FOLDER")
        n = label_export.write_folder(rows, Path(args.output), copy=args.copy)
        print(f"wrote {n} image(s) in {len({r['label'] for r in rows})} class folder(s) to {args.output}")
        return
    if fmt == "manifest":
        text = label_export.format_manifest(rows, predictions=args.predictions)
    elif fmt == "json":
        text = label_export.format_json(rows, args.dataset, names)
    else:
        text = label_export.format_csv(rows, jsonl=fmt == "jsonl")
    if args.output:
        path = output_file(args.output)
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as err:
            raise LabelError(f"cannot write {path}: {err.strerror or err}") from None
        what = f"{len(rows)} image(s)" if args.predictions else f"{len(rows)} label(s)"
        print(f"wrote {what} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _predicted(args: argparse.Namespace, ds: Any) -> tuple[Any, Any]:
    """The predicted class and its probability of every image of ``ds``, by the checkpoint of
    ``--checkpoint`` (as infer chooses and checks it: one of another dataset or shape is refused),
    streamed in chunks of uint8 rows."""
    from engine.backends.base import Out
    from engine.errors import LabelError
    from engine.training.streaming import predict_rows
    from engine.workspace import make_trainer, open_workspace

    sets = {"data.name": args.dataset, "train.checkpoint": args.checkpoint}
    ws = open_workspace(None, sets, cfg=checkpoint_config(args, sets))
    trainer = make_trainer(ws, resume=True, weights_only=True, force=args.force)
    probs = predict_rows(trainer.backend, ws.dataset.images, keys=(Out.PROBS,))[Out.PROBS]
    if probs.shape[1] != ds.num_classes:
        raise LabelError(
            f"checkpoint {ws.cfg.train.checkpoint!r} predicts {probs.shape[1]} classes; "
            f"{args.dataset!r} has {ds.num_classes}"
        )
    return probs.argmax(1), probs.max(1)


ISSUE_COLUMNS = ("serial", "given", "suggested", "quality", "reason")


def _issues(args: argparse.Namespace) -> int:
    """``label issues``: score every label with the checkpoint's model and print the ranking."""
    import csv

    import numpy as np

    from engine.analysis.label_issues import NeighbourhoodIndex, score_labels
    from engine.backends.base import Out
    from engine.datasets.classes import read_class_names, short_name
    from engine.errors import LabelError
    from engine.stores.checkpoints import CheckpointStore
    from engine.training.tau import TauClassifier
    from engine.workspace import make_trainer, open_workspace, predict_all

    sets = {"data.name": args.dataset, "train.checkpoint": args.checkpoint}
    ws = open_workspace(args.config, sets, cfg=checkpoint_config(args, sets))
    name = ws.cfg.train.checkpoint
    if not CheckpointStore().exists(name):
        raise LabelError(f"no checkpoint {name!r}: train a model first (latentloop train), or pass --checkpoint")
    labels = ws.labels.read()
    serials = np.flatnonzero(labels >= 0)
    if len(serials) < 2:
        raise LabelError(f"{len(serials)} label(s): label issues need at least two labelled samples")
    trainer = make_trainer(ws, checkpoint=name, resume=True, weights_only=True, force=args.force)
    accepted = ws.labels.accepted()  # a malformed file is an error before the model runs
    index = None
    if args.method == "neighbourhood":  # every training sample: the labelled ones' neighbourhoods
        out = predict_all(trainer, ws.dataset.train_idx)
        index = NeighbourhoodIndex(out[Out.MU], out[Out.RESP])
        out = {k: v[serials] for k, v in out.items()}
    else:
        out = predict_all(trainer, serials)
    prior = TauClassifier(ws.cfg.model, ws.cfg.train.tau_prior).prior_counts
    ranking = score_labels(
        serials, labels[serials], out[Out.RESP], out[Out.MU], prior, accepted, args.method, index, labels >= 0
    )
    rows = ranking.issues(include_all=args.all)
    shown = rows[: args.k] if args.k > 0 else rows
    names = read_class_names(ws.dataset.name, ws.dataset.num_classes, ws.cfg.data.root)
    records: list[dict[str, Any]] = [
        {
            "serial": r.serial,
            "given": r.given,
            "suggested": r.suggested,
            "quality": float(f"{r.quality:.4g}"),  # 4 significant digits: small qualities stay apart
            "flagged": r.flagged,
            "reason": r.reason(names),
        }
        for r in shown
    ]
    n_accepted = sum(r.accepted for r in ranking.ranked)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "dataset": ws.dataset.name,
                    "checkpoint": name,
                    "method": args.method,
                    "labelled": len(serials),
                    "flagged": sum(r.flagged for r in ranking.ranked),
                    "accepted": n_accepted,
                    "classes": names,
                    "issues": records,
                },
                indent=2,
            )
        )
    elif args.format == "csv":
        w = csv.DictWriter(sys.stdout, fieldnames=[*ISSUE_COLUMNS[:4], "flagged", "reason"], lineterminator="\n")
        w.writeheader()  # the classes by name, as the table shows them
        w.writerows({**r, "given": names[r["given"]], "suggested": names[r["suggested"]]} for r in records)
    else:
        what = "labels ranked" if args.all else "suspicious labels"
        print(
            f"{ws.dataset.name}: {len(rows)} {what} of {len(serials)} labels "
            f"(checkpoint {name}, {args.method}; {n_accepted} accepted and left out)"
        )
        if records:
            width = max(5, *(len(short_name(n)) for n in names))  # 5: MNIST's table as it always was
            wide = max(width, 9)
            print(f"{'serial':>7} {'given':>{width}} {'suggested':>{wide}} {'quality':>7}  reason")
            for r in records:
                given, suggested = short_name(names[r["given"]]), short_name(names[r["suggested"]])
                print(f"{r['serial']:>7} {given:>{width}} {suggested:>{wide}} {r['quality']:>7.3g}  {r['reason']}")
    return 0
