"""Tasks: what the latent space should encode, declared in the config's ``tasks:`` list.

A task names a target (the class label, a derived image attribute of :mod:`engine.datasets.attributes`, or
the image itself), an input slice of the model's latent outputs, a head and a weight. Weight 0 makes
it a *probe* (fitted with scikit-learn, measures only: :mod:`engine.analysis.probes`); a weight above 0 also
makes it an *auxiliary loss*: the backend builds a head on the slice and its loss, times the weight,
joins the SSVAE's loss, so its gradient shapes the encoder (docs/tasks.md, engine/backends/base.py).

Input slices (``z`` is the latent mean ``mu`` [D], ``q`` the responsibilities [K])::

    z | mu          all of mu
    z[a:b] z[a:] z[:b] z[i]   a slice of mu (Python rules; negative indices count from D)
    q               the responsibilities
    all             concat(mu, q)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

TaskKind = Literal["classification", "regression", "reconstruction"]
HeadKind = Literal["linear", "mlp"]

# Derived image attributes (computed by engine.datasets.attributes, formulas in docs/tasks.md).
ATTRIBUTES = ("ink", "slant", "stroke_width", "com_x", "com_y")
# A regression target ``factor_<name>`` is the dataset's own per-image factor <name> (the
# ``factor_<name>`` array of its file, docs/formats.md); whether the dataset has it is checked
# when the targets are read (engine.training.task_targets), since a config names no dataset shape.
FACTOR_TARGET_PREFIX = "factor_"
_FACTOR_TARGET_RE = re.compile(r"^factor_[a-z][a-z0-9_]{0,31}$")
LABEL_TARGET = "label"
IMAGE_TARGET = "image"
AUX_HIDDEN = 64  # width of an ``mlp`` head's hidden layer
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_SLICE_RE = re.compile(r"^(?:z|mu)\[\s*(-?\d+)?\s*(:)?\s*(-?\d+)?\s*\]$")


class Slice(NamedTuple):
    """A resolved input: rows ``start:stop`` of concat(mu, q) (``mu`` occupies 0..D-1, ``q`` D..D+K-1)."""

    start: int
    stop: int

    @property
    def width(self) -> int:
        return self.stop - self.start


def check_input(text: str) -> str:
    """Validate the syntax of an input slice (its range is checked against the model by :func:`resolve`)."""
    t = text.strip()
    if t in ("z", "mu", "q", "all") or _SLICE_RE.match(t):
        return t
    raise ValueError(f"input {text!r}: use z, z[a:b], z[a:], z[:b], z[i], mu, q or all")


def resolve(text: str, latent_dim: int, components: int) -> Slice:
    """The columns of concat(mu, q) that an input slice reads; ValueError if empty or out of range."""
    t = check_input(text)
    d, k = latent_dim, components
    if t in ("z", "mu"):
        return Slice(0, d)
    if t == "q":
        return Slice(d, d + k)
    if t == "all":
        return Slice(0, d + k)
    m = _SLICE_RE.match(t)
    assert m is not None  # check_input matched it
    a, colon, b = m.groups()
    if colon is None:  # z[i]
        if a is None:
            raise ValueError(f"input {text!r}: empty index")
        i = int(a) + (d if int(a) < 0 else 0)
        if not 0 <= i < d:
            raise ValueError(f"input {text!r}: index out of range for latent_dim {d}")
        return Slice(i, i + 1)
    start, stop, _ = slice(None if a is None else int(a), None if b is None else int(b)).indices(d)
    if stop <= start:
        raise ValueError(f"input {text!r}: selects no latent dimension (latent_dim {d})")
    return Slice(start, stop)


class AuxHead(BaseModel):
    """What a backend needs to build one auxiliary head (a task with weight > 0)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: TaskKind
    input: str
    head: HeadKind = "linear"


class TaskConfig(BaseModel):
    """One entry of the config's ``tasks:`` list."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str
    kind: TaskKind
    target: str = Field(
        LABEL_TARGET, description="label, an attribute (ink, slant, ...), factor_<name> (a dataset factor), or image"
    )
    input: str = "z"
    head: HeadKind = "linear"
    weight: float = Field(0.0, ge=0.0, description="0 = probe (measures only); > 0 = auxiliary loss")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"task name {value!r}: lower-case letters, digits and _, starting with a letter")
        return value

    @field_validator("input")
    @classmethod
    def _input(cls, value: str) -> str:
        return check_input(value)

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, raw: object) -> object:
        if isinstance(raw, dict) and "target" not in raw and raw.get("kind") == "reconstruction":
            return {**raw, "target": IMAGE_TARGET}
        return raw

    @model_validator(mode="after")
    def _target(self) -> TaskConfig:
        allowed = {"classification": (LABEL_TARGET,), "regression": ATTRIBUTES, "reconstruction": (IMAGE_TARGET,)}[
            self.kind
        ]
        if self.kind == "regression" and _FACTOR_TARGET_RE.match(self.target):
            return self
        if self.target not in allowed:
            more = " or factor_<name> (a per-image factor of the dataset)" if self.kind == "regression" else ""
            raise ValueError(f"task {self.name!r}: a {self.kind} target is one of {', '.join(allowed)}{more}")
        return self

    @property
    def is_probe(self) -> bool:
        return self.weight == 0.0

    def aux_head(self) -> AuxHead:
        return AuxHead(name=self.name, kind=self.kind, input=self.input, head=self.head)


def aux_heads(tasks: Sequence[TaskConfig]) -> tuple[AuxHead, ...]:
    """The heads a backend builds: one per task with weight > 0, in config order."""
    return tuple(t.aux_head() for t in tasks if t.weight > 0)


def check_unique(tasks: Sequence[TaskConfig | AuxHead]) -> None:
    """ValueError naming a task name used twice."""
    seen: set[str] = set()
    for t in tasks:
        if t.name in seen:
            raise ValueError(f"task name {t.name!r} is used twice")
        seen.add(t.name)
