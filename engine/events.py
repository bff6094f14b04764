"""Typed trainer commands and events (docs/architecture.md section 6).

Every message is a frozen dataclass with a ``type`` tag (a :class:`Message` subclass);
:func:`to_dict` / :func:`from_dict` round-trip them through JSON-compatible dicts so they can cross a process boundary.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, dataclass_transform

SCHEMA_VERSION = 1


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
class Message:
    """Base of the typed messages: ``class Phase(Message, tag="phase")`` makes ``Phase`` a frozen
    dataclass whose last field is ``type``, defaulting to the tag (so ``to_dict`` writes it and
    :func:`decode` finds the class by it)."""

    # A dataclass field at run time (added by __init_subclass__); declared as a ClassVar so that
    # type checkers keep it out of the positional constructor arguments.
    type: ClassVar[str]

    def __init_subclass__(cls, *, tag: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The subclass's own annotations (not an inherited dict), with ``type`` last.
        cls.__annotations__ = {**inspect.get_annotations(cls), "type": f'Literal["{tag}"]'}
        cls.type = tag
        dataclass(frozen=True)(cls)


# -- commands (into the trainer) ---------------------------------------------------------


class Pause(Message, tag="pause"):
    """Hold training after the current step."""


class Resume(Message, tag="resume"):
    """Go on with a paused run."""


class Stop(Message, tag="stop"):
    """Stop after the current step; ``save`` writes the checkpoint first."""

    save: bool = True


class SaveCheckpoint(Message, tag="save_checkpoint"):
    name: str = "ssvae"


class ApplyFeedback(Message, tag="apply_feedback"):
    """ROI feedback items: dicts with sample_idx, x0, y0, x1, y1 (normalised), strength."""

    items: tuple[dict[str, Any], ...] = ()


class AdvancePhase(Message, tag="advance_phase"):
    """Start the next curriculum phase with the next step (engine/training/curriculum.py); the trainer
    answers with a Phase event. In the last phase (refinement) it changes nothing and sends nothing."""


class SetProbe(Message, tag="set_probe"):
    """Add the probe ``task["name"]`` to the trainer's ``cfg.tasks``, or replace the one of that name:
    a TaskConfig with weight 0 as a dict (engine/training/probe_edit.py; the sender has validated it)."""

    task: dict[str, Any]


class RemoveProbe(Message, tag="remove_probe"):
    """Remove the probe ``name`` (weight 0) from the trainer's ``cfg.tasks``; nothing if it has none."""

    name: str


Command = Pause | Resume | Stop | SaveCheckpoint | ApplyFeedback | AdvancePhase | SetProbe | RemoveProbe

# -- events (out of the trainer) ---------------------------------------------------------


class Metrics(Message, tag="metrics"):
    step: int
    epoch: float
    phase: str
    losses: dict[str, float]
    acc_labeled: float
    samples_per_s: float


class Evaluation(Message, tag="evaluation"):
    """Held-out metrics (never computed on the training labels). ``split`` is ``"test"``, or
    ``"validation"`` when the run holds out part of the training split for tuning
    (``data.validation``); the accuracies and ``n_test`` are then on that split."""

    step: int
    test_acc: float
    tau_acc: float
    n_test: int
    n_labels: int
    split: str = "test"


class Phase(Message, tag="phase"):
    """The curriculum entered phase ``name`` (engine/training/curriculum.py) at ``step``."""

    name: str
    step: int


class Refresh(Message, tag="refresh"):
    """New embeddings of every sample are ready (EmbeddingCache version)."""

    version: int
    step: int


class CheckpointSaved(Message, tag="checkpoint"):
    """Checkpoint ``name`` was written (atomically: it loads from now on) with the weights of
    ``step``. The dashboard refreshes its checkpoint list on it."""

    name: str
    step: int


class Snapshot(Message, tag="snapshot"):
    """Weights of ``step`` written to ``path`` for the XAI worker: checkpoint format, no optimizer
    state, in the app's run directory; only the newest few are kept."""

    path: str
    step: int


class LabelsError(Message, tag="labels_error"):
    """labels.csv could not be read (e.g. broken by hand): training goes on with the last good
    labels (``n_labels`` of them) and re-reads the file when it changes. Sent when the problem
    appears or its message changes, and once with ``message == ""`` when the file reads again."""

    step: int
    message: str
    n_labels: int


class State(Message, tag="state"):
    state: Literal["running", "paused", "stopped", "finished", "error"]
    message: str = ""
    step: int = 0


Event = Metrics | Evaluation | Phase | Refresh | CheckpointSaved | Snapshot | LabelsError | State


def type_registry(*classes: type[Message]) -> dict[str, type]:
    """``type`` tag -> message class, for :func:`decode`."""
    return {cls.type: cls for cls in classes}


_TYPES = type_registry(
    Pause,
    Resume,
    Stop,
    SaveCheckpoint,
    ApplyFeedback,
    AdvancePhase,
    SetProbe,
    RemoveProbe,
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
