"""`latentloop label holdout [FRACTION]`: see or set the held-out labels of a dataset without test truth.

A dataset whose test split holds no true class (an import without classes, or without a test/
level) is scored on a fraction of the user's own labels, never trained on (engine/stores/holdout.py,
docs/formats.md "Held-out labels"). This action prints the fraction, how many labels it holds out
and how they are chosen; with FRACTION it writes data/NAME/holdout.json, which a running training
(CLI or app) picks up at its next label poll.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """The ``holdout`` action of ``latentloop label``."""
    s = sub.add_parser(
        "holdout",
        parents=[common],
        help="show or set the fraction of labels held out to score a dataset without test truth",
    )
    s.add_argument(
        "fraction",
        nargs="?",
        metavar="FRACTION",
        help="set the held-out fraction (0 to 0.5, e.g. 0.2 or 20%%); without it: show the current one",
    )
    s.set_defaults(func=run)


def parse_fraction(text: str) -> float:
    """``"0.2"`` or ``"20%"`` -> 0.2; LabelError for anything else (the range is checked on writing)."""
    from engine.errors import LabelError

    raw = text.strip()
    try:
        return float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise LabelError(f"held-out fraction {text!r} is not a number (0 to 0.5, e.g. 0.2 or 20%)") from None


def run(args: argparse.Namespace) -> int:
    from engine.datasets import load_dataset
    from engine.errors import LabelError
    from engine.paths import data_dir
    from engine.stores import holdout
    from engine.stores.labels import label_store_for

    ds = load_dataset(args.dataset)
    folder = data_dir(args.dataset)
    if ds.scored_on_test:
        n = int((ds.targets[ds.n_train :] >= 0).sum())
        why = f"its test split holds {n} image(s) with a true class, and the accuracy is scored on them"
        if args.fraction is not None:
            raise LabelError(f"dataset {args.dataset}: {why}; no labels are held out, so there is no fraction to set")
        print(f"dataset {args.dataset}: no labels are held out: {why}")
        return 0
    before = holdout.read_fraction(folder)
    if args.fraction is not None:
        value = parse_fraction(args.fraction)
        try:
            holdout.write_fraction(folder, value)
        except ValueError as err:
            raise LabelError(f"{err}: nothing changed") from None
    fraction = holdout.read_fraction(folder)
    labels = label_store_for(args.dataset, ds.n_train, ds.num_classes).read()
    trained, held = holdout.label_split(labels, fraction)
    where = str(holdout.holdout_path(folder)) if holdout.holdout_path(folder).exists() else "default, no holdout.json"
    if args.fraction is not None:
        print(f"dataset {args.dataset}: held-out fraction {before:g} -> {fraction:g} ({where})")
    else:
        print(f"dataset {args.dataset}: held-out fraction {fraction:g} ({where})")
    print(
        f"  {len(held)} of {len(trained) + len(held)} label(s) held out, never trained on: the accuracy is scored "
        "on them (this dataset's test split holds no true class)"
    )
    print(
        "  which: the labels in labels.csv whose Serial hashes below the fraction (engine/stores/holdout.py), "
        "so a label stays held out as others are added and raising the fraction only adds to them"
    )
    if args.fraction is not None:
        print("  a running training (CLI or app) picks the change up at its next label poll")
    return 0
