"""The run directories under artifacts/: the files `latentloop experiment` writes so that its report can
be rebuilt (`latentloop report RUN_DIR`) without the dataset or a framework, and the one reader of
every run's files (experiments, simulations, branches), used by the report and by the Runs page:
JSON and CSV with errors that name the file and line, number coercion, and nested metrics flattened
for display.

The arrays come from the model as it is evaluated (the weight average when ``train.ema_decay``
is on) on the split the evaluations score, so the report's figures agree with its accuracy.
"""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from engine.analysis.mixture import top_responsibility
from engine.backends.base import Out
from engine.errors import LatentLoopError
from engine.io import atomic_write_bytes
from engine.reports.curves import write_csv
from engine.training.streaming import predict_rows

REPORT_SAMPLE = 5000  # training samples whose latents and responsibilities the report keeps
REPORT_SEED = 0  # fixes which unlabelled samples make up the rest of that sample
GALLERY = 16  # images per component in the gallery
RUN_FILES = ("run.json", "config.yaml", "metrics.json", "history.csv", "report.npz")
ARRAY_KEYS = (
    "split",
    "eval_idx",
    "eval_probs",
    "eval_targets",
    "tau",
    "sample_idx",
    "sample_mu",
    "sample_resp",
    "sample_targets",
    "sample_labels",
    "labelled_idx",
    "labelled_y",
    "phase_names",
    "phase_starts",
    "phase_ends",
    "gallery_rows",
    "gallery_images",
)


class RunDirError(LatentLoopError):
    """A run that cannot be found or read (the message names the file)."""


def phase_spans(phase_at: Callable[[int], str], steps: int) -> list[tuple[str, int, int]]:
    """``(phase, start, end)`` of each run of equal phases over steps ``0 .. steps - 1``; step ``s``
    (0-based) ends at ``s + 1`` steps done, so a span covers ``(start, end]`` on a steps-done axis."""
    spans: list[list[Any]] = []
    for s in range(steps):
        name = phase_at(s)
        if spans and spans[-1][0] == name:
            spans[-1][2] = s + 1
        else:
            spans.append([name, s, s + 1])
    return [(str(n), int(a), int(b)) for n, a, b in spans]


def git_commit() -> str:
    """``git rev-parse HEAD`` of the code's checkout, or "unknown" (no git, not a checkout)."""
    try:
        r = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else "unknown"


def collect_arrays(trainer: Any, sample: int = REPORT_SAMPLE, seed: int = REPORT_SEED) -> dict[str, np.ndarray]:
    """The report's arrays from a trained :class:`engine.training.trainer.Trainer` (see docs/formats.md).

    The sample holds every labelled training sample plus random other training samples (not the
    held-out validation ones) up to ``sample`` rows in all, sorted by serial.
    """
    ds = trainer.ds
    val = trainer.val_idx
    split, eval_idx, eval_targets = trainer.eval_rows()  # what Trainer.evaluate scores
    given = trainer.labels.read()
    given[val] = -1  # never trained on, as in Trainer.reload_labels
    given[trainer.held_out_rows] = -1  # held-out user labels (engine/stores/holdout.py): likewise
    labelled = np.flatnonzero(given >= 0).astype(np.int64)
    others = np.setdiff1d(np.setdiff1d(ds.train_idx, val), labelled)
    n_more = min(max(0, sample - len(labelled)), len(others))
    more = np.random.default_rng(seed).choice(others, n_more, replace=False) if n_more else others[:0]
    rows = np.sort(np.concatenate([labelled, more])).astype(np.int64)
    with trainer.averaged_weights():  # the weights and tau the evaluations use
        # streamed uint8 rows, as Trainer.evaluate reads them: no float copy (large colour images)
        ev_out = predict_rows(trainer.backend, ds.images, eval_idx, (Out.PROBS,))
        s_out = predict_rows(trainer.backend, ds.images, rows, (Out.MU, Out.RESP))
        tau = trainer.tau.matrix.astype(np.float32)
    resp = s_out[Out.RESP].astype(np.float32)
    gallery = np.unique(np.concatenate([top_responsibility(resp, c, GALLERY) for c in range(resp.shape[1])]))
    spans = phase_spans(trainer.curriculum.phase, trainer.step)
    return {
        "split": np.array(split),
        "eval_idx": np.asarray(eval_idx, np.int64),
        "eval_probs": ev_out[Out.PROBS].astype(np.float32),
        "eval_targets": eval_targets,  # true classes, or the held-out user labels
        "tau": tau,
        "sample_idx": rows,
        "sample_mu": s_out[Out.MU].astype(np.float32),
        "sample_resp": resp,
        "sample_targets": ds.targets[rows].astype(np.int64),
        "sample_labels": given[rows].astype(np.int64),
        "labelled_idx": labelled,
        "labelled_y": given[labelled].astype(np.int64),
        "phase_names": np.array([s[0] for s in spans], dtype=str),
        "phase_starts": np.array([s[1] for s in spans], np.int64),
        "phase_ends": np.array([s[2] for s in spans], np.int64),
        "gallery_rows": gallery.astype(np.int64),
        "gallery_images": np.asarray(ds.images[rows[gallery]], np.uint8),
    }


def write_run_files(
    out: Path, run: dict[str, Any], config: dict[str, Any], metrics: dict[str, Any], history: list[dict], arrays: dict
) -> None:
    """Write run.json, config.yaml, metrics.json, history.csv and report.npz into ``out``."""
    atomic_write_bytes(out / "run.json", json.dumps(run, indent=2).encode())
    atomic_write_bytes(out / "config.yaml", yaml.safe_dump(config, sort_keys=False).encode())
    atomic_write_bytes(out / "metrics.json", json.dumps(metrics, indent=2, default=float).encode())
    write_csv(out / "history.csv", history)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(out / "report.npz", buf.getvalue())


@dataclass
class RunData:
    """A run directory read back."""

    path: Path
    run: dict[str, Any]
    config: dict[str, Any]
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    arrays: dict[str, np.ndarray]


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def load_run(run_dir: Path) -> RunData:
    """Read a run directory; a missing or unreadable file raises :class:`RunDirError` naming it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory (expected an experiment run directory)")
    missing = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if missing:
        raise RunDirError(
            f"{run_dir}: missing {', '.join(missing)}; a report needs {', '.join(RUN_FILES)} "
            "(written by `latentloop experiment`; rerun the experiment to get them)"
        )
    try:
        run, metrics = read_json(run_dir / "run.json"), read_json(run_dir / "metrics.json")
    except RunDirError as err:
        raise RunDirError(f"{run_dir}: {err}") from None
    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise RunDirError(f"{run_dir}: config.yaml is not valid YAML: {err}") from None
    with open(run_dir / "history.csv", newline="", encoding="utf-8") as f:
        history = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    try:
        with np.load(run_dir / "report.npz", allow_pickle=False) as z:
            absent = [k for k in ARRAY_KEYS if k not in z.files]
            if absent:
                raise RunDirError(f"{run_dir / 'report.npz'}: missing arrays {', '.join(absent)}")
            arrays = {k: z[k] for k in ARRAY_KEYS}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise RunDirError(f"{run_dir / 'report.npz'}: unreadable: {err}") from None
    if not all(isinstance(d, dict) for d in (run, metrics, config)):
        raise RunDirError(f"{run_dir}: run.json, metrics.json and config.yaml must each hold a mapping")
    return RunData(run_dir, run, config, metrics, history, arrays)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"no {path.name}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"{path.name} is malformed: {err}") from None


def read_csv(path: Path, need: tuple[str, ...]) -> list[dict[str, Any]]:
    """A run's CSV as rows of numbers (text where a value is not one); RunDirError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirError(f"no {path.name}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path.name} is malformed: {err}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in need if c not in (reader.fieldnames or [])]
    if missing:
        raise RunDirError(f"{path.name} is malformed: no column {', '.join(missing)}")
    rows = []
    for i, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {k: v if k == "strategy" else _cell(v) for k, v in raw.items() if k is not None}
        bad = [c for c in need if c != "strategy" and not isinstance(row.get(c), float)]
        if bad:
            raise RunDirError(f"{path.name} line {i}: {', '.join(bad)} is not a number")
        rows.append(row)
    return rows


def _cell(v: str | None) -> Any:
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
