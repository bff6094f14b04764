"""`latentloop probe`: measure what a checkpoint's latent space encodes, one probe per task.

Predict every dataset row with the checkpoint, then fit a scikit-learn probe per task of the
config's tasks: list (the config given with -c, else the checkpoint's own) on the training rows and
score it on the test split (docs/tasks.md). Print a table and write JSON to
artifacts/probes/<checkpoint>-step<step>.json (with --task: <checkpoint>-step<step>.<tasks>.json, so the
full probe the Runs page reads stays; or --out). Progress goes to stderr.

The model and the dataset are always the checkpoint's; -c only supplies the tasks.
"""

from __future__ import annotations

import argparse
import sys

from latentloop.commands._common import add_command, add_force_arg, checkpoint_name, count, output_file


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    p.add_argument("--checkpoint", type=checkpoint_name, required=True, help="checkpoint to probe")
    p.add_argument("--config", "-c", help="YAML config whose tasks: to probe (default: the checkpoint's config)")
    p.add_argument(
        "--task", action="append", metavar="NAME", help="probe only this task (repeatable; default: every task)"
    )
    p.add_argument("--format", choices=["table", "json"], default="table", help="stdout format (default: table)")
    p.add_argument("--out", metavar="PATH", help="JSON file (default artifacts/probes/<checkpoint>-step<step>.json)")
    p.add_argument("--max-train", type=count, metavar="N", help="fit on at most N training rows (a fixed subsample)")
    add_force_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from engine.analysis.probes import ProbeError, probe_table
    from engine.config import from_dict, load_config
    from engine.paths import artifacts_dir
    from engine.stores.checkpoints import CheckpointStore
    from engine.workspace import probe_checkpoint

    name = args.checkpoint
    meta = CheckpointStore().load(name).meta  # a missing checkpoint: CheckpointError naming the ones there are
    tasks = (load_config(args.config) if args.config else from_dict(meta.get("config") or {})).tasks
    source = args.config or f"checkpoint {name!r}"
    if args.task:
        known = {t.name for t in tasks}
        unknown = [t for t in args.task if t not in known]
        if unknown:
            raise ProbeError(
                f"no task {', '.join(map(repr, unknown))} in {source} (tasks: {', '.join(sorted(known)) or 'none'})"
            )
        tasks = [t for t in tasks if t.name in args.task]
    if not tasks:
        print(
            f"error: {source} has no tasks to probe; add a tasks: list to a config and pass it with -c, e.g.\n"
            "tasks:\n  - {name: digit, kind: classification, input: z}\n"
            "  - {name: ink, kind: regression, target: ink, input: 'z[0:2]'}\n(docs/tasks.md)",
            file=sys.stderr,
        )
        return 2
    out = output_file(args.out) if args.out else None
    if out is None and args.task:  # a partial probe: the full probe file the Runs page reads stays
        step = int(meta.get("step", 0))
        out = artifacts_dir() / "probes" / f"{name}-step{step}.{'+'.join(t.name for t in tasks)}.json"
    t0 = time.perf_counter()
    probes, doc, path = probe_checkpoint(
        name,
        tasks=tasks,
        max_train=args.max_train,
        out=out,
        force=args.force,
        log=lambda msg: print(f"probe: {msg} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True),
    )
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(f"{doc['dataset']}: probes of checkpoint {name} (step {doc['step']}), tasks from {source}")
        print(probe_table(probes.results))
        print(f"wrote {path}")
    return 0
