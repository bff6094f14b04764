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
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine.datasets.classes import read_class_names
from engine.datasets.provenance import read_import_settings, read_sources, sources_path
from engine.errors import LabelError
from engine.stores.labels import LabelStore

MANIFEST_COLUMNS = ("path", "label", "serial", "source")


def labelled_rows(
    store: LabelStore, dataset: str, num_classes: int, root: str | Path | None = None
) -> list[dict[str, Any]]:
    """One dict per labelled image (by Serial): path, label (name), class_index, serial, source."""
    names = read_class_names(dataset, num_classes, root)
    settings = read_import_settings(dataset, root)
    rels = {r.serial: r.path for r in read_sources(sources_path(dataset, root))}
    base = None
    if settings is not None:
        src = Path(settings["source"])
        base = src.parent if settings.get("kind") == "manifest" else src
    accepted = store.accepted()
    labels = store.read()
    rows = []
    for serial in map(int, (labels >= 0).nonzero()[0]):
        label = int(labels[serial])
        rel = rels.get(serial, "")
        path = str(base / rel) if base is not None and rel and not os.path.isabs(rel) else rel
        rows.append(
            {
                "path": path,
                "label": names[label],
                "class_index": label,
                "serial": serial,
                "source": "accepted" if accepted.get(serial) == label else "human",
            }
        )
    return rows


def format_manifest(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(MANIFEST_COLUMNS)
    w.writerows([r[c] for c in MANIFEST_COLUMNS] for r in rows)
    return buf.getvalue()


def format_json(rows: list[dict[str, Any]], dataset: str, classes: list[str]) -> str:
    return json.dumps({"dataset": dataset, "classes": classes, "labels": rows}, indent=2, ensure_ascii=False) + "\n"


def write_folder(rows: list[dict[str, Any]], out: Path, copy: bool = False) -> int:
    """The ``ImageFolder`` tree of ``rows`` under ``out`` (new or empty); returns the files made."""
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
