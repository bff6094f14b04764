"""`latentloop feedback`: add, list, remove or parse 'look here' boxes.

Per-sample focus boxes shared with the dashboard. The trainer penalises input gradients outside the
box, weighted by strength.
"""

from __future__ import annotations

import argparse
import json

from latentloop.commands._common import add_actions, add_command, add_dataset_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    fsub, common = add_actions(p, "action", add_dataset_arg)
    a = fsub.add_parser("add", parents=[common], help="store a box for a sample (replaces its earlier one)")
    a.add_argument("sample", type=int)
    a.add_argument(
        "--box", nargs=4, type=float, metavar=("X0", "Y0", "X1", "Y1"), help="normalised box (x right, y down)"
    )
    a.add_argument("--instruction", "-i", default="", help="e.g. 'focus center', 'bottom right corner'")
    a.add_argument(
        "--strength", type=float, help="penalty weight (default: the sample's stored box's strength, else 1.0)"
    )
    fsub.add_parser("list", parents=[common], help="list stored boxes").add_argument("--json", action="store_true")
    fsub.add_parser("rm", parents=[common], help="remove the box of a sample").add_argument("sample", type=int)
    pp = fsub.add_parser("parse", parents=[common], help="show what an instruction means, without storing it")
    pp.add_argument("instruction")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.stores.feedback import FeedbackError, feedback_store_for, parse_instruction

    if args.action == "parse":
        print(parse_instruction(args.instruction).describe())
        return 0
    from engine.datasets import load_dataset

    ds = load_dataset(args.dataset)
    store = feedback_store_for(args.dataset, ds.n_train)
    if args.action == "add":
        # An instruction such as "increase focus by 10%" changes the sample's stored box and strength.
        stored = next((i for i in store.list() if i.sample_idx == args.sample), None)
        box = tuple(args.box) if args.box else (stored.x0, stored.y0, stored.x1, stored.y1) if stored else None
        strength = args.strength if args.strength is not None else stored.strength if stored else 1.0
        parsed = parse_instruction(args.instruction, box, strength)
        if parsed.action == "remove":
            removed = store.remove(args.sample)
            print(f"sample {args.sample}: " + ("box removed" if removed else "had no box"))
            return 0
        if parsed.box is None:
            raise FeedbackError("no region: give --box X0 Y0 X1 Y1 or an instruction naming one")
        item = store.add(args.sample, parsed.box, parsed.strength, args.instruction)
        print(f"sample {item.sample_idx}: {parsed.describe()}")
    elif args.action == "list":
        items = store.list()
        if args.json:
            print(json.dumps([i.__dict__ for i in items]))
        else:
            for i in items:
                print(
                    f"{i.sample_idx:>7}  box ({i.x0:.2f}, {i.y0:.2f}, {i.x1:.2f}, {i.y1:.2f})  "
                    f"strength {i.strength:.2f}  {i.instruction!r}  {i.time}"
                )
            print(f"{len(items)} feedback box(es)")
    elif args.action == "rm":
        if not store.remove(args.sample):
            raise FeedbackError(f"sample {args.sample} has no feedback box")
        print(f"sample {args.sample}: box removed")
    return 0
