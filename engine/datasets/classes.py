"""Class names of a dataset: ``data/<name>/classes.json`` (docs/formats.md, "Class names").

``{"classes": ["cat", "dog", ...]}``: name ``i`` is the name of label ``i``; the list has exactly
``num_classes`` names. A dataset without the file (MNIST, the synthetic sets) has the names
``"0"``, ``"1"``, ...; ``labels.csv`` always holds the integers.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine import paths
from engine.errors import DatasetError
from engine.io import atomic_write_bytes

CLASSES_FILE = "classes.json"
MAX_NAME = 64
FORBIDDEN = set(",=/\\")  # --classes a,b,c; --rename OLD=NEW; the folder export's directory names


def classes_path(name: str, root: str | Path | None = None) -> Path:
    return paths.data_dir(name, root) / CLASSES_FILE


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a class name, or None."""
    if not name or name != name.strip():
        return f"class name {name!r} is empty or has spaces at either end"
    if len(name) > MAX_NAME:
        return f"class name {name[:20]!r}... is longer than {MAX_NAME} characters"
    if any(c in FORBIDDEN or not c.isprintable() for c in name) or name in (".", ".."):
        return f"class name {name!r} holds one of , = / \\ or an unprintable character"
    return None


def check_class_names(names: list[str], where: str) -> list[str]:
    """``names`` if they are valid and distinct; DatasetError naming ``where`` otherwise."""
    for n in names:
        problem = class_name_problem(n)
        if problem:
            raise DatasetError(f"{where}: {problem}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DatasetError(f"{where}: class name(s) {dup} given more than once")
    return list(names)


def write_class_names(path: Path, names: list[str]) -> None:
    check_class_names(names, str(path))
    atomic_write_bytes(path, (json.dumps({"classes": names}, indent=2, ensure_ascii=False) + "\n").encode())


def read_class_names(name: str, num_classes: int, root: str | Path | None = None) -> list[str]:
    """The names of the dataset's classes (``"0"``.. when it has no classes.json)."""
    path = classes_path(name, root)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [str(i) for i in range(num_classes)]
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read class names ({err})") from None
    names = raw.get("classes") if isinstance(raw, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(f'{path}: expected {{"classes": ["name", ...]}}')
    if len(names) != num_classes:
        raise DatasetError(f"{path}: {len(names)} class names, but the dataset has {num_classes} classes")
    return check_class_names(names, str(path))


def rename_classes(name: str, num_classes: int, renames: dict[str, str], root: str | Path | None = None) -> list[str]:
    """Apply ``renames`` (old -> new) to the dataset's names and write them; returns the new list."""
    names = read_class_names(name, num_classes, root)
    missing = [old for old in renames if old not in names]
    if missing:
        raise DatasetError(f"dataset {name!r} has no class {missing[0]!r} (classes: {', '.join(names)})")
    new = [renames.get(n, n) for n in names]
    write_class_names(classes_path(name, root), check_class_names(new, f"dataset {name!r}"))
    return new


def short_name(name: str, width: int = 16) -> str:
    """``name`` cut to ``width`` characters with an ellipsis when longer: a table column or a plot
    axis, where the full name would push the rest aside."""
    return name if len(name) <= width else name[: width - 1] + "…"
