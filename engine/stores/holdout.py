"""Held-out user labels: the accuracy of a dataset with no test truth (docs/formats.md, "Held-out labels").

A dataset imported without classes has no ground truth to score a model on, and one whose test
split holds no true class cannot be scored on it either. Such a dataset scores the model on the
user's own labels instead: a fraction of them is set aside, never trained on, and the model's
accuracy on them is the number every accuracy display shows (with its count and interval,
:func:`engine.reports.accuracy.describe_accuracy`).

Which labels are held out is a pure function of the Serial and the fraction: Serial ``s`` is held
out when ``u(s) < fraction``, with ``u`` a fixed hash of ``s`` into [0, 1). So the CLI, the page
and a resumed run agree without a stored list, labelling a sample never moves another one in or
out, and raising the fraction only adds held-out labels (lowering it returns some to training).

The fraction lives in ``data/<name>/holdout.json`` (``{"fraction": 0.2}``), written atomically;
without the file it is :data:`DEFAULT_FRACTION`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from engine.errors import DatasetError
from engine.io import atomic_write_bytes

HOLDOUT_FILE = "holdout.json"
HELD_OUT = "held-out"  # the Evaluation split of held-out user labels (engine/reports/accuracy.py)
DEFAULT_FRACTION = 0.2  # one label in five: ~20 held out by 100 labels, a ±20-point interval at worst
MAX_FRACTION = 0.5


def held_out(serials: np.ndarray, fraction: float) -> np.ndarray:
    """Bool mask: which of ``serials`` are held out at ``fraction`` (splitmix64 of the Serial)."""
    if fraction <= 0:
        return np.zeros(len(serials), bool)
    z = np.asarray(serials, np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < fraction


def fraction_problem(fraction: object) -> str | None:
    """Why ``fraction`` cannot be a held-out fraction, or None."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not np.isfinite(fraction):
        return f"held-out fraction {fraction!r} is not a number"
    if not 0 <= fraction <= MAX_FRACTION:
        return f"held-out fraction {fraction} is outside 0..{MAX_FRACTION}"
    return None


def holdout_path(data_dir: Path) -> Path:
    return Path(data_dir) / HOLDOUT_FILE


def read_fraction(data_dir: Path) -> float:
    """The dataset's held-out fraction (:data:`DEFAULT_FRACTION` without a file); DatasetError if
    the file is unreadable or holds a bad value."""
    path = holdout_path(data_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_FRACTION
    except (OSError, ValueError) as err:
        raise DatasetError(f"{path}: cannot read the held-out fraction ({err})") from None
    value = raw.get("fraction") if isinstance(raw, dict) else None
    problem = fraction_problem(value)
    if problem:
        raise DatasetError(f"{path}: {problem}")
    return float(value)  # type: ignore[arg-type]


def write_fraction(data_dir: Path, fraction: float) -> None:
    """Set the dataset's held-out fraction (ValueError on a bad value), atomically."""
    problem = fraction_problem(fraction)
    if problem:
        raise ValueError(problem)
    atomic_write_bytes(holdout_path(data_dir), (json.dumps({"fraction": float(fraction)}) + "\n").encode())


def fraction_version(data_dir: Path) -> tuple[int, int]:
    """Cheap change detector for the fraction file (mtime, size; zeros without a file)."""
    try:
        st = os.stat(holdout_path(data_dir))
    except FileNotFoundError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def label_split(labels: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(trained, held)``: the Serials of the labelled rows of ``labels`` (-1: unlabelled) that are
    trained on and those held out at ``fraction`` (the trainer's split, before any validation rows)."""
    lab = np.flatnonzero(np.asarray(labels) >= 0).astype(np.int64)
    held = held_out(lab, fraction)
    return lab[~held], lab[held]
