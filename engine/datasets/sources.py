"""What ``data import`` reads: the files of a source folder or a CSV manifest, with class and split.

Three kinds of source (docs/datasets.md, "Your own images"):

- **class subfolders** (torchvision's ``ImageFolder``): every image lies exactly one level below
  the root, and the subfolder's name is its class; optional ``train/`` and ``test/`` levels above
  the class folders give the split;
- **a flat or nested folder** with no classes (any other arrangement): every image unlabelled;
- **a CSV manifest** ``path[,label][,split]`` (an optional header row, one with a cell ``path``,
  names the columns in any order; other columns are ignored), paths relative to the manifest's
  folder (never outside it) or absolute.

Files are taken by extension (:data:`IMAGE_EXTENSIONS`); hidden files and folders (a leading dot)
are left out and symlinked folders are not followed (no loops). Anything wrong with one entry is a
:class:`Skip` naming it and the reason; nothing here raises for one bad file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jfif", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
SPLITS = {"train": 0, "test": 1, "": 0}


@dataclass(frozen=True)
class Entry:
    """One file to import: ``rel`` is its path as recorded (relative to the source, or absolute
    for an absolute manifest path), ``path`` the file to open, ``label`` its class name or None."""

    rel: str
    path: str
    label: str | None
    split: int  # 0 train, 1 test


@dataclass(frozen=True)
class Skip:
    """A file (or manifest line) left out, and why."""

    rel: str
    reason: str


@dataclass
class Scan:
    """A source's entries (train rows first, each split sorted by path), its skips, its classes
    (in label order) and its kind: ``folders``, ``flat`` or ``manifest``."""

    kind: str
    entries: list[Entry] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os gives undecodable bytes as surrogates
        return False
    return True


def _walk(root: Path, skipped: list[Skip]) -> list[str]:
    """Relative POSIX paths of the image files under ``root``, sorted; bad names go to ``skipped``."""
    found: list[str] = []

    def error(err: OSError) -> None:
        rel = os.path.relpath(err.filename or str(root), root) if err.filename else "."
        skipped.append(Skip(rel, f"cannot list folder: {err.strerror or err}"))

    for folder, dirs, files in os.walk(root, onerror=error, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            rel = Path(os.path.relpath(os.path.join(folder, name), root)).as_posix()
            if not _utf8(rel):
                skipped.append(Skip(rel.encode("utf-8", "backslashreplace").decode(), "file name is not valid UTF-8"))
                continue
            found.append(rel)
    return sorted(found)


def scan_folder(root: Path, classes: list[str] | None = None, no_classes: bool = False) -> Scan:
    """The entries of a folder source (class subfolders, optional train/test levels, or flat)."""
    skipped: list[Skip] = []
    rels = _walk(root, skipped)
    parts = [r.split("/") for r in rels]
    split_levels = bool(parts) and all(len(p) >= 2 and p[0] in ("train", "test") for p in parts)
    depth = 3 if split_levels else 2
    foldered = not no_classes and bool(parts) and all(len(p) == depth for p in parts)
    scan = Scan("folders" if foldered else "flat", skipped=skipped)
    if foldered:
        found = sorted({p[depth - 2] for p in parts})
        scan.classes = list(classes) if classes else found
    else:
        scan.classes = list(classes or [])
    known = set(scan.classes)
    for rel, p in zip(rels, parts, strict=True):
        split = SPLITS[p[0]] if split_levels else 0
        label = p[depth - 2] if foldered else None
        if label is not None and label not in known:
            scan.skipped.append(Skip(rel, f"class {label!r} is not one of the classes {scan.classes}"))
            continue
        scan.entries.append(Entry(rel, str(root / rel), label, split))
    scan.entries.sort(key=lambda e: (e.split, e.rel))
    return scan


def _natural(names: set[str]) -> list[str]:
    """Class names in order: numerically when every name is a whole number, else sorted."""
    if names and all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def scan_manifest(manifest: Path, classes: list[str] | None = None) -> Scan:
    """The entries of a CSV manifest ``path[,label][,split]`` (see the module docstring)."""
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(f"{manifest}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    rows = list(csv.reader(text.splitlines()))
    base = manifest.parent.resolve()
    cols = {"path": 0, "label": 1, "split": 2}
    first = 1
    if rows and "path" in [c.strip().lower() for c in rows[0]]:
        cols = {name.strip().lower(): i for i, name in enumerate(rows[0])}
        rows, first = rows[1:], 2
    scan = Scan("manifest")
    pending: list[tuple[int, str, str, str | None, int]] = []
    for line, row in enumerate(rows, first):
        if not row or not "".join(row).strip():
            continue
        cell = {k: (row[i].strip() if i < len(row) else "") for k, i in cols.items()}
        where = f"line {line}: {cell['path'] or '(no path)'}"
        if not cell["path"]:
            scan.skipped.append(Skip(f"line {line}", "no path"))
            continue
        split_text = cell.get("split", "").lower()
        if split_text not in SPLITS:
            scan.skipped.append(Skip(where, f"split {cell['split']!r} is not train or test"))
            continue
        target = Path(cell["path"])
        full = target if target.is_absolute() else Path(os.path.normpath(base / target))
        if not target.is_absolute() and os.path.commonpath([base, full]) != str(base):
            scan.skipped.append(Skip(where, f"path leaves the manifest's folder {base}"))
            continue
        if not full.is_file():
            scan.skipped.append(Skip(where, "no such file" if not full.exists() else "not a file"))
            continue
        label = cell.get("label") or None
        pending.append((line, cell["path"], str(full), label, SPLITS[split_text]))
    scan.classes = list(classes) if classes else _natural({p[3] for p in pending if p[3] is not None})
    known = set(scan.classes)
    seen: set[str] = set()
    for line, rel, file, label, split in pending:
        if label is not None and label not in known:
            why = f"class {label!r} is not one of the classes {scan.classes}"
            scan.skipped.append(Skip(f"line {line}: {rel}", why))
        elif file in seen:
            scan.skipped.append(Skip(f"line {line}: {rel}", "the file is listed twice"))
        else:
            seen.add(file)
            scan.entries.append(Entry(rel, file, label, split))
    scan.entries.sort(key=lambda e: (e.split, e.rel))
    return scan


def scan_source(source: Path, classes: list[str] | None = None, no_classes: bool = False) -> Scan:
    """A folder or a ``.csv`` manifest; DatasetError when ``source`` is neither."""
    if source.is_dir():
        return scan_folder(source, classes, no_classes)
    if source.is_file() and source.suffix.lower() == ".csv":
        scan = scan_manifest(source, classes)
        if no_classes:
            scan.entries = [Entry(e.rel, e.path, None, e.split) for e in scan.entries]
        return scan
    if not source.exists():
        raise DatasetError(f"{source}: no such folder or manifest")
    raise DatasetError(f"{source}: not a folder of images or a .csv manifest")
