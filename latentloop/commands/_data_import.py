"""`latentloop data import` and `data classes`: the user's own images into a dataset, and its class names.

The pipeline is :mod:`engine.datasets.importer`; this module declares the options, shows the
progress bar (stderr) and prints the report (stdout).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.datasets.imagefile import FITS

SHOWN = 50  # skipped files, duplicates, changed and vanished files listed in the report, each


def register(sub: Any, common: argparse.ArgumentParser, side: Any, dataset_name: Any) -> None:
    """The ``import`` and ``classes`` actions of ``latentloop data``."""
    from latentloop.commands._common import count

    p = sub.add_parser(
        "import",
        help="import a folder of images (class subfolders, or none) or a CSV manifest path[,label][,split] "
        "into data/NAME/",
    )
    p.add_argument("name", type=dataset_name)
    p.add_argument("source", metavar="SOURCE", help="a folder of images or a .csv manifest")
    p.add_argument(
        "--mode",
        choices=["auto", "gray", "rgb"],
        help="gray, rgb, or auto: rgb when any image has colour (default auto)",
    )
    p.add_argument("--size", type=side, help="image height and width, a multiple of 4 from 8 to 256 (default 64)")
    p.add_argument("--height", type=side, help="image height (with --width: non-square; default --size)")
    p.add_argument("--width", type=side, help="image width (default --size)")
    p.add_argument(
        "--fit",
        choices=FITS,
        help="crop: fill the shape and cut the centre; pad: whole image on black; stretch: each side on its "
        "own (default crop)",
    )
    p.add_argument(
        "--classes", help="class names in label order, comma-separated (default: the subfolders or the manifest)"
    )
    p.add_argument("--no-classes", action="store_true", help="import every image unlabelled (needs --classes)")
    p.add_argument("--strict", action="store_true", help="fail on the first bad file instead of skipping it")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--append", action="store_true", help="add the source's new files to the dataset")
    mode.add_argument("--force", action="store_true", help="replace an existing dataset")
    p.add_argument("--workers", type=count, default=0, help="decoding processes (default 0: every core)")
    p.add_argument(
        "--layout",
        choices=["auto", "npz", "npy"],
        default="auto",
        help="as data synth (default auto: npy above 100,000)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(parser=p)

    c = sub.add_parser("classes", help="show a dataset's class names, or rename them")
    c.add_argument("name", type=dataset_name)
    c.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename class OLD (repeatable)")
    c.set_defaults(parser=c)


def run_import(args: argparse.Namespace) -> int:
    from engine.datasets.importer import ImportOptions, import_images

    if args.size is not None and (args.height is not None or args.width is not None):
        args.parser.error("give --size, or --height and --width, not both")
    if args.no_classes and not args.classes and not args.append:
        args.parser.error("--no-classes imports every image unlabelled: name the classes with --classes a,b,c")
    height = args.height or args.size
    width = args.width or args.size or args.height
    bar: list[Any] = []

    def progress(done: int, total: int) -> None:
        if args.no_progress:
            return
        if not bar:
            from tqdm import tqdm

            bar.append(tqdm(total=total, unit="img", dynamic_ncols=True, file=sys.stderr))
        bar[0].update(done - bar[0].n)

    opts = ImportOptions(
        height=height,
        width=width,
        mode=args.mode,
        fit=args.fit,
        classes=[c.strip() for c in args.classes.split(",")] if args.classes else None,
        no_classes=args.no_classes,
        strict=args.strict,
        append=args.append,
        force=args.force,
        workers=args.workers,
        layout=args.layout,
        progress=progress,
    )
    try:
        report = import_images(args.name, args.source, opts)
    finally:
        if bar:
            bar[0].close()
    _print_report(report)
    return 0


def _listing(title: str, items: list[str]) -> None:
    if not items:
        return
    print(f"{title}:")
    for line in items[:SHOWN]:
        print(f"  {line}")
    if len(items) > SHOWN:
        print(f"  ... and {len(items) - SHOWN} more")


def _print_report(r: Any) -> None:
    kinds = {"folders": "class subfolders", "flat": "a folder without classes", "manifest": "a manifest"}
    shape = "x".join(map(str, r.shape))
    print(
        f"{r.name}: {r.added} new image(s) from {r.source} ({kinds[r.kind]}); {r.total} in all, "
        f"{r.n_train} train, {r.total - r.n_train} test, {shape} ({r.fit}, {r.layout or 'unchanged'})"
    )
    per = ", ".join(f"{i}={name} {n}" for i, (name, n) in enumerate(zip(r.classes, r.added_per_class, strict=False)))
    print(f"classes: {len(r.classes)}: {per or ', '.join(r.classes)}; unlabelled {r.added_unlabelled}")
    small = [name for name, n in zip(r.classes, r.added_per_class, strict=False) if 0 < n < 2]
    if small:
        print(f"note: class(es) with one image: {', '.join(small)}")
    _listing(f"skipped {len(r.skipped)} file(s)", [f"{s.rel}: {s.reason}" for s in r.skipped])
    _listing(f"duplicates {len(r.duplicates)} (same sha256, imported once)", [f"{a} = {b}" for a, b in r.duplicates])
    _listing(f"changed since imported {len(r.changed)} (rows kept as imported)", r.changed)
    _listing(f"vanished since imported {len(r.vanished)} (rows kept)", r.vanished)
    print(r.path)


def run_classes(args: argparse.Namespace) -> int:
    from engine.datasets import load_dataset
    from engine.datasets.classes import read_class_names, rename_classes
    from engine.errors import DatasetError

    ds = load_dataset(args.name)
    if args.rename:
        renames: dict[str, str] = {}
        for item in args.rename:
            old, sep, new = item.partition("=")
            if not sep:
                raise DatasetError(f"--rename {item!r}: expected OLD=NEW")
            renames[old.strip()] = new.strip()
        names = rename_classes(args.name, ds.num_classes, renames)
    else:
        names = read_class_names(args.name, ds.num_classes)
    for i, name in enumerate(names):
        print(f"{i}\t{name}")
    return 0
