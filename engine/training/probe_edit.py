"""Changing the probes of a config while it trains: the checks of an added or changed probe and the
new task list, shared by the dashboard (which validates) and the trainer (which applies
:class:`engine.events.SetProbe` and :class:`engine.events.RemoveProbe` from its command queue).

Only probes (weight 0) change this way: they measure the latent space and take no part in the
loss. An auxiliary task (weight > 0) has a head in the model, so it changes by forking a checkpoint
with another config (docs/tasks.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from engine import events as ev
from engine.config import Config
from engine.tasks import TaskConfig, resolve

FORK_NOTE = "auxiliary tasks (weight > 0) are part of the model: change them in the config and fork a checkpoint"


def _message(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"])
        msg = str(e["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts)


def check_probe(raw: Mapping[str, Any], tasks: Sequence[TaskConfig], latent_dim: int, components: int) -> TaskConfig:
    """The probe ``raw`` (name, kind, target, input, head) as a TaskConfig with weight 0, checked
    against the model's latent size and the current ``tasks``; ValueError with a message for the user."""
    fields = {k: v for k, v in raw.items() if v is not None and v != ""}
    if float(fields.pop("weight", 0.0) or 0.0) != 0.0:
        raise ValueError(f"only probes (weight 0) change here; {FORK_NOTE}")
    try:
        task = TaskConfig(**fields, weight=0.0)
    except ValidationError as err:
        raise ValueError(_message(err)) from None
    except TypeError as err:
        raise ValueError(str(err)) from None
    old = next((t for t in tasks if t.name == task.name), None)
    if old is not None and not old.is_probe:
        raise ValueError(f"{task.name!r} is an auxiliary task; {FORK_NOTE}")
    resolve(task.input, latent_dim, components)  # ValueError naming the slice and the latent size
    return task


def with_probe(tasks: Sequence[TaskConfig], task: TaskConfig) -> list[TaskConfig]:
    """``tasks`` with ``task`` replacing the task of its name, or appended."""
    out = [task if t.name == task.name else t for t in tasks]
    return out if any(t.name == task.name for t in tasks) else [*out, task]


def without_probe(tasks: Sequence[TaskConfig], name: str) -> list[TaskConfig]:
    """``tasks`` without the probe ``name`` (an auxiliary task of that name stays)."""
    return [t for t in tasks if not (t.name == name and t.is_probe)]


def apply_probe_command(cfg: Config, cmd: ev.SetProbe | ev.RemoveProbe) -> Config:
    """The config after a probe command (a copy; ``model.aux`` is untouched since probes have no head).
    A SetProbe naming an auxiliary task is refused with ValueError (the dashboard never sends one)."""
    if isinstance(cmd, ev.SetProbe):
        task = TaskConfig(**{**cmd.task, "weight": 0.0})
        if any(t.name == task.name and not t.is_probe for t in cfg.tasks):
            raise ValueError(f"{task.name!r} is an auxiliary task; {FORK_NOTE}")
        return cfg.model_copy(update={"tasks": with_probe(cfg.tasks, task)})
    return cfg.model_copy(update={"tasks": without_probe(cfg.tasks, cmd.name)})
