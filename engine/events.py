"""Typed trainer commands and events (ARCHITECTURE.md section 5).

Every message is a frozen dataclass with a ``type`` tag; :func:`to_dict` / :func:`from_dict`
round-trip them through JSON-compatible dicts so they can cross a process boundary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

SCHEMA_VERSION = 1

# -- commands (into the trainer) ---------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    type: Literal["pause"] = "pause"


@dataclass(frozen=True)
class Resume:
    type: Literal["resume"] = "resume"


@dataclass(frozen=True)
class Stop:
    """Stop after the current step; ``save`` writes the checkpoint first."""

    save: bool = True
    type: Literal["stop"] = "stop"


@dataclass(frozen=True)
class SaveCheckpoint:
    name: str = "ssvae"
    type: Literal["save_checkpoint"] = "save_checkpoint"


@dataclass(frozen=True)
class SetLearningRate:
    lr: float
    type: Literal["set_lr"] = "set_lr"


@dataclass(frozen=True)
class ApplyFeedback:
    """ROI feedback items: dicts with sample_idx, x0, y0, x1, y1 (normalised), strength."""

    items: tuple[dict[str, Any], ...] = ()
    type: Literal["apply_feedback"] = "apply_feedback"


Command = Pause | Resume | Stop | SaveCheckpoint | SetLearningRate | ApplyFeedback

# -- events (out of the trainer) ---------------------------------------------------------


@dataclass(frozen=True)
class Metrics:
    step: int
    epoch: float
    phase: str
    losses: dict[str, float]
    acc_labeled: float
    samples_per_s: float
    type: Literal["metrics"] = "metrics"


@dataclass(frozen=True)
class Evaluation:
    """Held-out test metrics (never computed on the training labels)."""

    step: int
    test_acc: float
    tau_acc: float
    n_test: int
    n_labels: int
    type: Literal["evaluation"] = "evaluation"


@dataclass(frozen=True)
class Phase:
    name: str
    step: int
    type: Literal["phase"] = "phase"


@dataclass(frozen=True)
class Refresh:
    """New embeddings of every sample are ready (EmbeddingCache version)."""

    version: int
    step: int
    type: Literal["refresh"] = "refresh"


@dataclass(frozen=True)
class CheckpointSaved:
    name: str
    step: int
    type: Literal["checkpoint"] = "checkpoint"


@dataclass(frozen=True)
class Snapshot:
    path: str
    step: int
    type: Literal["snapshot"] = "snapshot"


@dataclass(frozen=True)
class LabelsError:
    """labels.csv could not be read (e.g. broken by hand): training goes on with the last good
    labels (``n_labels`` of them) and re-reads the file when it changes. Sent when the problem
    appears or its message changes, and once with ``message == ""`` when the file reads again."""

    step: int
    message: str
    n_labels: int
    type: Literal["labels_error"] = "labels_error"


@dataclass(frozen=True)
class State:
    state: Literal["running", "paused", "stopped", "finished", "error"]
    message: str = ""
    step: int = 0
    type: Literal["state"] = "state"


Event = Metrics | Evaluation | Phase | Refresh | CheckpointSaved | Snapshot | LabelsError | State


def type_registry(*classes: type) -> dict[str, type]:
    """``type`` tag -> dataclass, for :func:`decode`."""
    return {cls.__dataclass_fields__["type"].default: cls for cls in classes}  # type: ignore[attr-defined]


_TYPES = type_registry(
    Pause,
    Resume,
    Stop,
    SaveCheckpoint,
    SetLearningRate,
    ApplyFeedback,
    Metrics,
    Evaluation,
    Phase,
    Refresh,
    CheckpointSaved,
    Snapshot,
    LabelsError,
    State,
)


def to_dict(msg: Any) -> dict[str, Any]:
    """JSON-compatible dict with ``type`` and ``v`` (schema version)."""
    d = dataclasses.asdict(msg)
    d["v"] = SCHEMA_VERSION
    return d


def decode(d: dict[str, Any], types: dict[str, type]) -> Any:
    """Rebuild a message from :func:`to_dict`'s output, given the ``type`` registry it belongs
    to; ValueError on an unknown type or field. JSON lists become tuples where the field is one."""
    d = dict(d)
    d.pop("v", None)
    kind = d.get("type")
    if kind not in types:
        raise ValueError(f"unknown message type {kind!r}")
    cls = types[kind]
    fields = {f.name: f for f in dataclasses.fields(cls)}
    extra = set(d) - set(fields)
    if extra:
        raise ValueError(f"{kind}: unknown fields {sorted(extra)}")
    for name, value in d.items():
        if isinstance(value, list) and str(fields[name].type).startswith("tuple"):
            d[name] = tuple(value)
    try:
        return cls(**d)
    except TypeError as err:
        raise ValueError(f"{kind}: {err}") from None


def from_dict(d: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict` for trainer commands and events."""
    return decode(d, _TYPES)
