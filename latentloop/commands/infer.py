"""`latentloop infer`: predict every sample and write a table under artifacts/.

For every sample: predicted class, certainty (max class probability), dominant mixture component and
2-D map coordinates. The CSV names the classes (predicted, label, true) by the dataset's class names;
the npz holds their numbers.
"""

from __future__ import annotations

import argparse

from latentloop.commands._common import (
    add_command,
    add_model_args,
    checkpoint_config,
    output_file,
    overrides,
    require_checkpoint,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, __doc__)
    add_model_args(p)
    p.add_argument("--format", choices=["csv", "npz"], default="csv", help="table format")
    p.add_argument("-o", "--output", help="output file (default artifacts/predictions/<dataset>-<checkpoint>.<format>)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from engine.analysis.projection import Projector
    from engine.backends.base import Out
    from engine.datasets.classes import read_class_names
    from engine.io import atomic_write_bytes
    from engine.paths import artifacts_dir
    from engine.reports.accuracy import HELD_OUT, describe_accuracy
    from engine.workspace import make_trainer, open_workspace, predict_all

    sets = overrides(args, **{"train.checkpoint": args.checkpoint})
    ws = open_workspace(args.config, sets, cfg=checkpoint_config(args, sets))
    name = ws.cfg.train.checkpoint
    require_checkpoint(name)
    trainer = make_trainer(ws, resume=True, weights_only=True, force=args.force)
    out = predict_all(trainer)
    xy = Projector(seed=ws.cfg.seed).fit_transform(out[Out.MU])
    probs = out[Out.PROBS]
    labels = np.full(len(probs), -1, np.int64)
    labels[: ws.dataset.n_train] = ws.labels.read()
    table = {
        "serial": np.arange(len(probs)),
        "split": np.where(np.arange(len(probs)) < ws.dataset.n_train, "train", "test"),
        "predicted": probs.argmax(1),
        "certainty": probs.max(1),
        "component": out[Out.RESP].argmax(1),
        "x": xy[:, 0],
        "y": xy[:, 1],
        "label": labels,
        "true": ws.dataset.targets,
    }
    path = output_file(args.output or str(artifacts_dir() / "predictions" / f"{ws.dataset.name}-{name}.{args.format}"))
    if args.format == "npz":
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, probs=probs.astype(np.float16), **{k: v for k, v in table.items() if k != "split"})
        atomic_write_bytes(path, buf.getvalue())
    else:
        import pandas as pd

        df = pd.DataFrame(table)
        names = np.array(read_class_names(ws.dataset.name, ws.dataset.num_classes, ws.cfg.data.root), dtype=object)
        for col in ("predicted", "label", "true"):  # by name; an unlabelled row or unknown target: empty
            v = np.asarray(table[col])
            df[col] = pd.Series(names[np.maximum(v, 0)], dtype=object).where(v >= 0)
        atomic_write_bytes(path, df.to_csv(index=False, float_format="%.5g").encode())
    split, rows, classes = trainer.eval_rows()  # the rows and classes the checkpoint's evaluations score
    acc = float((table["predicted"][rows] == classes).mean()) if len(rows) else float("nan")
    said = f"{split} accuracy {acc:.4f}"
    if split == HELD_OUT:  # no test truth: the user's held-out labels, with their count and interval
        said = f"accuracy {describe_accuracy(acc, len(rows), split)}"
    print(f"wrote {len(probs)} predictions to {path} ({said})")
    return 0
