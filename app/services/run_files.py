"""Reading a run's files: JSON and CSV with errors that name the file and line, number coercion
and the flattening of nested metrics for display (the Runs page's services share them)."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from engine.errors import LatentLoopError


class RunError(LatentLoopError):
    """A run that cannot be found or read (the message names the file)."""


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"no {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunError(f"{path.name} is malformed: {err}") from None


def read_csv(path: Path, need: tuple[str, ...]) -> list[dict[str, Any]]:
    """A run's CSV as rows of numbers (text where a value is not one); RunError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError(f"no {path.name}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunError(f"{path.name} is malformed: {err}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise RunError(f"{path.name} is malformed: no column {', '.join(missing)}")
    rows = []
    for i, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {k: v if k == "strategy" else _number(v) for k, v in raw.items() if k is not None}
        bad = [c for c in need if c != "strategy" and not isinstance(row.get(c), float)]
        if bad:
            raise RunError(f"{path.name} line {i}: {', '.join(bad)} is not a number")
        rows.append(row)
    return rows


def _number(v: str | None) -> Any:
    try:
        return float(v) if v not in (None, "") else None
    except ValueError:
        return v


def as_int(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return int(v)


def as_float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Nested JSON as (dotted key, text) pairs; a long list or a list of objects is counted, not spelt out."""
    if isinstance(obj, dict):
        out = []
        for k, v in obj.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(obj, list):
        if len(obj) <= 10 and not any(isinstance(v, (dict, list)) for v in obj):
            return [(prefix, ", ".join(_text(v) for v in obj))]
        return [(prefix, f"{len(obj)} entries")]
    return [(prefix or "value", _text(obj))]


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
