"""meta.json of a checkpoint: its standard keys, JSON (de)serialisation and validation."""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CheckpointError

FORMAT_VERSION = 1

# Keys every meta.json carries; missing ones are filled with these defaults on write.
META_DEFAULTS: dict[str, Any] = {
    "name": None,  # checkpoint (or snapshot) name
    "backend": None,  # "torch" | "tensorflow" | "jax"
    "model": {},  # ModelConfig as a dict
    "config": {},  # the full run config as a dict
    "step": 0,
    "epoch": 0,  # int or float (fractional epochs)
    "phase": None,  # curriculum phase name
    "labels_count": 0,
    "labels_hash": None,
    "metrics": {},
    "created": None,  # ISO 8601 UTC, filled on write
    "parent": None,  # source checkpoint name for forks
}


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (``created``)."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def make_meta(
    *,
    backend: str | None = None,
    model: Any = None,
    config: Any = None,
    step: int = 0,
    epoch: float = 0,
    phase: str | None = None,
    labels_count: int = 0,
    labels_hash: str | None = None,
    metrics: Mapping[str, Any] | None = None,
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Build a meta dict with the standard keys (pydantic models are dumped to dicts)."""
    meta = {
        "backend": backend,
        "model": plain(model) or {},
        "config": plain(config) or {},
        "step": int(step),
        "epoch": epoch,
        "phase": phase,
        "labels_count": int(labels_count),
        "labels_hash": labels_hash,
        "metrics": dict(metrics or {}),
        "parent": parent,
    }
    meta.update(extra)
    return meta


def plain(obj: Any) -> Any:
    """JSON-compatible copy of ``obj`` (numpy scalars/arrays, pydantic models, paths, tuples)."""
    if obj is None or isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, float):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    raise CheckpointError(f"meta value of type {type(obj).__name__} is not JSON-serialisable: {obj!r}")


def encode_meta(meta: Mapping[str, Any]) -> bytes:
    """meta.json bytes: sorted keys, indented, NaN allowed (metrics after a divergence)."""
    return (json.dumps(plain(dict(meta)), indent=2, sort_keys=True, allow_nan=True) + "\n").encode()


def decode_meta(blob: bytes, where: str) -> dict[str, Any]:
    """Parse and check meta.json bytes; CheckpointError (prefixed ``where``) if they are not a
    JSON object of this format version with an integer step."""
    try:
        meta = json.loads(blob.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{where} is not valid JSON: {err}") from err
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{where}: unsupported format_version {version!r} (this version reads {FORMAT_VERSION})")
    if not isinstance(meta.get("step", 0), int):
        raise CheckpointError(f"{where}: 'step' must be an integer, got {meta.get('step')!r}")
    return meta


def json_equal(a: Any, b: Any) -> bool:
    """Equality that treats NaN == NaN (metrics may be NaN after a divergence)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
