"""Fork and steer: copy a checkpoint into a branch with a changed config, and continue training it.

A branch may change anything but the model's architecture: tasks (probes and auxiliary tasks), loss
weights, the curriculum, training settings. An auxiliary task added by the fork gets a fresh head
(``engine.backends.base.initial_weights`` of the new model, zero Adam moments); a removed one loses
its head. The branch's ``meta.json`` records ``parent``, and ``fork``: ``{"parent", "step", "diff"}``
with ``diff`` = ``{dotted.path: {"from": old, "to": new}}`` (tasks keyed by name:
``tasks.<name>`` for an added or removed task, ``tasks.<name>.<field>`` for a changed one). The
parent checkpoint is never written.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from engine.config import Config, ConfigError, apply_overrides, config_to_dict, from_dict
from engine.errors import CheckpointError
from engine.stores.checkpoint_meta import now_iso

MISSING = None  # a diff side for a key that does not exist on that side


def _flatten(raw: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(raw, dict):
        out: dict[str, Any] = {}
        for k, v in raw.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if raw else {prefix[:-1]: {}}
    return {prefix[:-1]: raw}


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{dotted.path: {"from": a, "to": b}}`` for every leaf that differs between two config dicts.
    ``model.aux`` is left out (it follows from tasks); tasks are compared by name."""

    def prepared(raw: dict[str, Any]) -> dict[str, Any]:
        raw = {k: v for k, v in raw.items() if k != "tasks"}
        raw["model"] = {k: v for k, v in (raw.get("model") or {}).items() if k != "aux"}
        return raw

    a, b = _flatten(prepared(old)), _flatten(prepared(new))
    diff = {k: {"from": a.get(k, MISSING), "to": b.get(k, MISSING)} for k in sorted(a.keys() | b.keys())}
    diff = {k: v for k, v in diff.items() if v["from"] != v["to"]}
    ta = {t["name"]: t for t in old.get("tasks") or []}
    tb = {t["name"]: t for t in new.get("tasks") or []}
    for name in sorted(ta.keys() | tb.keys()):
        if name not in ta or name not in tb:
            diff[f"tasks.{name}"] = {"from": ta.get(name, MISSING), "to": tb.get(name, MISSING)}
            continue
        for field in sorted(ta[name].keys() | tb[name].keys()):
            if ta[name].get(field) != tb[name].get(field):
                diff[f"tasks.{name}.{field}"] = {"from": ta[name].get(field), "to": tb[name].get(field)}
    return diff


def apply_sets(raw: dict[str, Any], sets: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` settings (VALUE parsed as YAML, so ``tasks=[{name: ink, ...}]`` works) onto a
    config dict; a copy is returned."""
    out = yaml.safe_load(yaml.safe_dump(raw))  # deep copy of plain data
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. loss.alpha=2")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML: {err}") from None
        try:
            apply_overrides(out, {key.strip(): value})
        except ConfigError as err:
            raise ConfigError(f"--set {item!r}: not a section: {err}") from None
    return out


def _check_architecture(old: dict[str, Any], new: Config) -> None:
    before = from_dict(old).model
    keep = {"aux"}
    a = {k: v for k, v in before.model_dump(mode="json").items() if k not in keep}
    b = {k: v for k, v in new.model.model_dump(mode="json").items() if k not in keep}
    changed = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if changed:
        raise CheckpointError(
            f"a branch keeps its parent's architecture (model.{', model.'.join(changed)} differ): "
            "train a new model for another architecture"
        )


def fork_branch(store: Any, src: str, dst: str, cfg: Config, *, overwrite: bool = False) -> tuple[Path, dict[str, Any]]:
    """Write checkpoint ``dst``: ``src``'s weights and state under config ``cfg``. Returns its path
    and the ``fork`` record. Raises CheckpointError when ``cfg`` changes the architecture."""
    from engine.backends.base import initial_weights, param_shapes
    from engine.stores.checkpoints import CheckpointExistsError, check_name

    check_name(dst)
    if src == dst:
        raise CheckpointError(f"cannot fork checkpoint {src!r} onto itself")
    ck = store.load(src)
    old_raw = ck.meta.get("config") or {}
    try:
        _check_architecture(old_raw, cfg)
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {src!r}: its stored config is invalid: {err}") from None
    shapes = param_shapes(cfg.model)
    fresh = initial_weights(cfg.model, cfg.seed)
    weights = {k: v for k, v in ck.weights.items() if k in shapes or not k.startswith("task.")}
    optimizer = {
        k: v for k, v in ck.optimizer.items() if not k.startswith("adam.") or k == "adam.step" or k[7:] in shapes
    }
    state = {k: v for k, v in ck.state.items() if not k.startswith("ema.task.") or k[4:] in shapes}
    for name, shape in shapes.items():
        if name in weights:
            if tuple(weights[name].shape) != tuple(shape):
                raise CheckpointError(f"checkpoint {src!r}: {name} has shape {weights[name].shape}, expected {shape}")
            continue
        weights[name] = fresh[name]  # a head the branch adds
        optimizer[f"adam.m.{name}"] = np.zeros(shape, np.float32)
        optimizer[f"adam.v.{name}"] = np.zeros(shape, np.float32)
        if any(k.startswith("ema.") for k in ck.state):
            state[f"ema.{name}"] = fresh[name]
    new_raw = config_to_dict(cfg)
    record = {"parent": src, "step": int(ck.meta.get("step", 0)), "diff": config_diff(old_raw, new_raw)}
    meta = dict(ck.meta)
    meta.update(
        name=dst,
        parent=src,
        parent_id=ck.meta.get("id"),
        id=uuid.uuid4().hex,
        created=now_iso(),
        config=new_raw,
        model=cfg.model.model_dump(mode="json"),
        fork=record,
    )
    if meta.get("dataset") and meta["dataset"] != cfg.data.name:  # a branch for another dataset
        meta.update(dataset=cfg.data.name, dataset_sha256=None)
    meta["config"]["train"]["checkpoint"] = dst
    try:
        path = store.save(dst, weights, optimizer, state, meta, overwrite=overwrite)
    except CheckpointExistsError as err:
        raise CheckpointExistsError(f"checkpoint {dst!r} already exists; choose a new name for the branch") from err
    return path, record


def checkpoint_config(store: Any, name: str) -> dict[str, Any]:
    """The config a checkpoint was trained with, as a dict (CheckpointError if it has none)."""
    raw = store.load(name).meta.get("config")
    if not isinstance(raw, dict) or not raw:
        raise CheckpointError(f"checkpoint {name!r} records no config")
    return raw


def branch_tree(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Checkpoint summaries (CheckpointStore.list rows) in tree order: ``(depth, row)``, each branch
    under its parent, siblings by creation time. A branch finds its parent by ``parent_id`` (so a
    renamed parent keeps it, and a new checkpoint of a removed one's name does not take it); one
    from before ids by ``parent`` name. A parent that no longer exists makes a root."""
    names = {r["name"] for r in rows}
    by_id = {r["id"]: r["name"] for r in rows if r.get("id")}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for r in rows:
        parent = by_id.get(r["parent_id"]) if r.get("parent_id") else r.get("parent")
        children.setdefault(parent if parent in names and parent != r["name"] else None, []).append(r)
    out: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=lambda r: (str(r.get("created") or ""), r["name"])):
            if r["name"] in seen:  # a cycle from hand-edited metas
                continue
            seen.add(r["name"])
            out.append((depth, r))
            walk(r["name"], depth + 1)

    walk(None, 0)
    out.extend((0, r) for r in rows if r["name"] not in seen)
    return out
