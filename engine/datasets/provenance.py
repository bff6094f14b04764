"""Where an imported dataset's images came from (docs/formats.md, "Provenance").

- ``data/<name>/sources.csv``: ``Serial,path,sha256``, one row per imported image: its path
  relative to the source (absolute where a manifest named it so) and the sha256 of the file's bytes.
- ``data/<name>/import.json``: the source and the settings of the import (``source`` absolute,
  ``kind``, ``height``, ``width``, ``mode`` gray|rgb, ``fit``), so that ``--append`` decodes new
  files the same way; ``appended_from``: the image sha256 of every version an ``--append``
  extended, so that checkpoints trained on them stay valid.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import paths
from engine.errors import DatasetError
from engine.io import atomic_write_bytes

SOURCES_FILE = "sources.csv"
IMPORT_FILE = "import.json"
HEADER = ["Serial", "path", "sha256"]


@dataclass(frozen=True)
class Source:
    serial: int
    path: str
    sha256: str


def sources_path(name: str, root: str | Path | None = None) -> Path:
    return paths.data_dir(name, root) / SOURCES_FILE


def format_sources(rows: list[Source]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(HEADER)
    w.writerows([r.serial, r.path, r.sha256] for r in rows)
    return buf.getvalue().encode("utf-8")


def read_sources(path: Path) -> list[Source]:
    """The rows of a ``sources.csv`` (empty when there is none); DatasetError naming the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"{path}: cannot read ({err})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows or rows[0] != HEADER:
        raise DatasetError(f"{path}: line 1 must be {','.join(HEADER)}")
    out = []
    for line, row in enumerate(rows[1:], 2):
        if len(row) != 3 or not row[0].isdigit() or len(row[2]) != 64:
            raise DatasetError(f"{path}: line {line}: expected Serial,path,sha256, got {row!r}")
        out.append(Source(int(row[0]), row[1], row[2]))
    return out


def read_import_settings(name: str, root: str | Path | None = None) -> dict[str, Any] | None:
    """The ``import.json`` of dataset ``name``, or None when it was not imported."""
    path = paths.data_dir(name, root) / IMPORT_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read ({err})") from None
    if not isinstance(raw, dict) or not {"source", "height", "width", "mode", "fit"} <= raw.keys():
        raise DatasetError(f"{path}: expected source, height, width, mode and fit")
    return raw


def write_import_settings(path: Path, settings: dict[str, Any]) -> None:
    atomic_write_bytes(path, (json.dumps(settings, indent=2, ensure_ascii=False) + "\n").encode())


def appended_from(name: str, root: str | Path | None = None) -> list[str]:
    """The image sha256 of the earlier versions of dataset ``name`` that ``--append`` extended
    (empty for a dataset that was not imported or never appended to; an unreadable import.json
    counts as none: this only widens which checkpoints are accepted)."""
    try:
        settings = read_import_settings(name, root)
    except DatasetError:
        return []
    shas = (settings or {}).get("appended_from", [])
    return [s for s in shas if isinstance(s, str)] if isinstance(shas, list) else []
