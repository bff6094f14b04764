"""``latentloop label export`` with paths and class names (docs/formats.md, "Label export").

Every labelled image as ``path, label (class name), serial, source``: ``path`` is the image's
source file (absolute: the import's source folder joined with ``sources.csv``'s relative path;
empty for a dataset that was not imported), ``source`` is ``accepted`` when the label was marked
right (``labels.accepted.csv``), else ``human``. Three forms:

- ``manifest``: that CSV, with a header; ``data import`` reads it back as a manifest (the
  ``serial`` and ``source`` columns are ignored there), giving the same labels;
- ``json``: ``{"dataset", "classes", "labels": [{"path", "label", "class_index", "serial", "source"}]}``;
- ``folder``: an ``ImageFolder`` tree ``OUT/<class name>/<serial>-<file name>`` of symbolic links
  to the source files (or copies).

With a model's predictions (``--predictions``) every image of the dataset is a row, labelled or
not (an unlabelled one has no label and no source), with ``split`` and the model's ``predicted``
class name and its ``probability``; the ``csv`` and ``jsonl`` forms then hold those columns too
(``label`` there is the class index, as in ``labels.csv``). The folder tree holds labelled images
only, so it has no predictions.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from engine.datasets.classes import read_class_names
from engine.datasets.provenance import read_import_settings, read_sources, sources_path
from engine.errors import LabelError
from engine.stores.labels import LabelStore

MANIFEST_COLUMNS = ("path", "label", "serial", "source")
PREDICTION_COLUMNS = ("split", "predicted", "probability")
CSV_COLUMNS = ("Serial", "label", *PREDICTION_COLUMNS)  # --format csv with predictions


def labelled_rows(
    store: LabelStore, dataset: str, num_classes: int, root: str | Path | None = None, n_images: int | None = None
) -> list[dict[str, Any]]:
    """One dict per labelled image (by Serial): path, label (name), class_index, serial, source.
    ``n_images``: one dict per Serial ``0 .. n_images - 1`` instead, an unlabelled image's label,
    class_index and source None."""
    names = read_class_names(dataset, num_classes, root)
    settings = read_import_settings(dataset, root)
    rels = {r.serial: r.path for r in read_sources(sources_path(dataset, root))}
    base = None
    if settings is not None:
        src = Path(settings["source"])
        base = src.parent if settings.get("kind") == "manifest" else src
    accepted = store.accepted()
    labels = store.read()
    serials = range(n_images) if n_images is not None else map(int, (labels >= 0).nonzero()[0])
    rows = []
    for serial in serials:
        label = int(labels[serial]) if serial < len(labels) and labels[serial] >= 0 else None
        rel = rels.get(serial, "")
        path = str(base / rel) if base is not None and rel and not os.path.isabs(rel) else rel
        rows.append(
            {
                "path": path,
                "label": None if label is None else names[label],
                "class_index": label,
                "serial": serial,
                "source": None if label is None else "accepted" if accepted.get(serial) == label else "human",
            }
        )
    return rows


def add_predictions(
    rows: list[dict[str, Any]], predicted: np.ndarray, probability: np.ndarray, names: list[str], n_train: int
) -> None:
    """Give each row (one per Serial, :func:`labelled_rows` with ``n_images``) its split, the name
    of its predicted class and that class's probability (4 decimals)."""
    for r in rows:
        s = r["serial"]
        r["split"] = "train" if s < n_train else "test"
        r["predicted"] = names[int(predicted[s])]
        r["probability"] = round(float(probability[s]), 4)


def _csv(head: tuple[str, ...], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue()


def format_manifest(rows: list[dict[str, Any]], predictions: bool = False) -> str:
    """The manifest CSV (with the prediction columns after the others when ``predictions``)."""
    cols = MANIFEST_COLUMNS + (PREDICTION_COLUMNS if predictions else ())
    return _csv(cols, [[_cell(r[c]) for c in cols] for r in rows])


def format_csv(rows: list[dict[str, Any]], jsonl: bool = False) -> str:
    """``Serial,label,split,predicted,probability`` (label: the class index, empty when
    unlabelled), or that as one JSON object per line (``jsonl``): the csv and jsonl forms of rows
    with predictions."""
    cells = [[r["serial"], r["class_index"], r["split"], r["predicted"], r["probability"]] for r in rows]
    if jsonl:
        keys = [c.lower() for c in CSV_COLUMNS]
        return "".join(json.dumps(dict(zip(keys, c, strict=True)), ensure_ascii=False) + "\n" for c in cells)
    return _csv(CSV_COLUMNS, [[_cell(v) for v in c] for c in cells])


def _cell(value: Any) -> Any:
    return f"{value:.4f}" if isinstance(value, float) else value


def format_json(rows: list[dict[str, Any]], dataset: str, classes: list[str]) -> str:
    return json.dumps({"dataset": dataset, "classes": classes, "labels": rows}, indent=2, ensure_ascii=False) + "\n"


def write_folder(rows: list[dict[str, Any]], out: Path, copy: bool = False) -> int:
    """The ``ImageFolder`` tree of ``rows`` (labelled images) under ``out`` (new or empty); returns
    the files made."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LabelError(f"{out}: the folder export needs a new or empty folder")
    missing = [r for r in rows if not r["path"]]
    if missing:
        raise LabelError(
            f"Serial {missing[0]['serial']} has no source file: the folder export needs an imported dataset"
        )
    made = 0
    for r in rows:
        target = out / r["label"] / f"{r['serial']}-{Path(r['path']).name}"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if copy:
                shutil.copyfile(r["path"], target)
            else:
                os.symlink(r["path"], target)
        except OSError as err:
            raise LabelError(f"cannot write {target}: {err.strerror or err}") from None
        made += 1
    return made
