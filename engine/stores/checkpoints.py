"""Checkpoints: ``artifacts/checkpoints/<name>.ckpt/`` directories shared by the app and the CLI.

A checkpoint directory holds (see docs/formats.md, "Checkpoints")::

    weights.safetensors    parameters + buffers in the neutral naming (engine/backends/base.py)
    optimizer.safetensors  optimizer state (adam.m.*, adam.v.*, adam.step)
    state.safetensors      trainer arrays (tau counts, rng state, ...); may hold no tensors
    meta.json              format_version 1 and the run's metadata (see engine/stores/checkpoint_meta.py)

The trainer's snapshots (``artifacts/snapshots/<run>/step_<N>/``) use the same format through
:func:`write_checkpoint_dir` / :func:`read_checkpoint_dir`. Loading never unpickles.

Writes are atomic: files go to a temp directory next to the target, are fsynced and read back,
and only then swapped in (old dir renamed aside, new renamed into place, old deleted), all under
an exclusive ``flock`` on ``<parent>/.lock``. Readers take the lock shared, so they never see a
mix of two checkpoints; a crash between the two renames is repaired on the next load.
"""

from __future__ import annotations

import copy
import glob
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy as stnp

from engine import paths
from engine.errors import CheckpointError
from engine.io import file_lock, fsync_dir, write_file_durable
from engine.paths import CHECKPOINT_NAME_RE as NAME_RE
from engine.paths import check_checkpoint_name as check_name
from engine.stores.checkpoint_meta import (
    FORMAT_VERSION,
    META_DEFAULTS,
    decode_meta,
    encode_meta,
    json_equal,
    now_iso,
    plain,
)

SUFFIX = ".ckpt"
ARRAY_FILES = {"weights": "weights.safetensors", "optimizer": "optimizer.safetensors", "state": "state.safetensors"}
META_FILE = "meta.json"
FILES = (*ARRAY_FILES.values(), META_FILE)
LOCK_FILE = ".lock"


class CheckpointExistsError(CheckpointError):
    """The target checkpoint exists and overwriting was not allowed."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: writable numpy arrays keyed by name, plus the parsed meta.json."""

    weights: dict[str, np.ndarray]
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    state: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def name(self) -> str | None:
        return self.meta.get("name")

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))


# ---------------------------------------------------------------------------------------------
# JSON and array (de)serialisation


def _as_array(value: Any) -> np.ndarray:
    """Little-endian, C-contiguous array: safetensors copies raw memory, so a non-contiguous view
    would otherwise be saved scrambled."""
    arr = np.asarray(value)
    if arr.dtype.byteorder == ">":
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    # (np.ascontiguousarray would turn a 0-d array such as adam.step into shape [1].)
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _encode_arrays(arrays: Mapping[str, Any] | None, what: str) -> bytes:
    tensors: dict[str, np.ndarray] = {}
    for key, value in (arrays or {}).items():
        if not isinstance(key, str) or not key:
            raise CheckpointError(f"{what}: array names must be non-empty strings, got {key!r}")
        arr = _as_array(value)
        if arr.dtype.kind not in "biuf":
            raise CheckpointError(f"{what}: array {key!r} has unsupported dtype {arr.dtype}")
        tensors[key] = arr
    try:
        return stnp.save(tensors)
    except Exception as err:
        raise CheckpointError(f"{what}: cannot encode arrays ({err})") from err


def _decode_arrays(blob: bytes, where: str) -> dict[str, np.ndarray]:
    try:
        loaded = stnp.load(blob)
    except Exception as err:
        raise CheckpointError(f"{where} is corrupt: {err}") from err
    return {k: np.array(v, copy=True) for k, v in loaded.items()}  # writable, owns its memory


def _arrays_equal(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    if set(a) != set(b):
        return False
    for k in a:
        x, y = _as_array(a[k]), b[k]
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# filesystem primitives


def _locked(parent: Path, exclusive: bool):
    """The store's lock: ``<parent>/.lock`` (exclusive for writers, shared for readers)."""
    return file_lock(parent / LOCK_FILE, exclusive)


def _siblings(path: Path, kind: str) -> list[Path]:
    """Hidden work dirs ``.<name>.<kind>-<uuid>`` next to ``path``, oldest first."""
    found = [p for p in path.parent.glob(f".{glob.escape(path.name)}.{kind}-*") if p.is_dir()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns)


def _recover_locked(path: Path) -> bool:
    """Under the exclusive lock: if ``path`` is missing but a dir renamed aside exists (a crash
    between the two renames of a swap), put the newest one back. Also drop stale work dirs."""
    restored = False
    olds = _siblings(path, "old")
    if not path.exists() and olds:
        os.rename(olds.pop(), path)
        fsync_dir(path.parent)
        restored = True
    # Everything else is garbage from a crashed writer (writers hold this lock while working).
    for stale in olds + _siblings(path, "tmp") + _siblings(path, "rm"):
        shutil.rmtree(stale, ignore_errors=True)
    return restored


def _needs_recovery(path: Path) -> bool:
    return not path.exists() and bool(_siblings(path, "old"))


def _read_unlocked(path: Path, label: str) -> Checkpoint:
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {label!r}: {path} does not exist")
    blobs: dict[str, bytes] = {}
    for fname in FILES:
        try:
            blobs[fname] = (path / fname).read_bytes()
        except FileNotFoundError:
            raise CheckpointError(f"checkpoint {label!r}: missing file {fname} in {path}") from None
        except OSError as err:
            raise CheckpointError(f"checkpoint {label!r}: cannot read {fname}: {err}") from err
    arrays = {key: _decode_arrays(blobs[fname], f"checkpoint {label!r}: {fname}") for key, fname in ARRAY_FILES.items()}
    meta = decode_meta(blobs[META_FILE], f"checkpoint {label!r}: {META_FILE}")
    return Checkpoint(
        weights=arrays["weights"], optimizer=arrays["optimizer"], state=arrays["state"], meta=meta, path=path
    )


def read_checkpoint_dir(path: str | Path, label: str | None = None) -> Checkpoint:
    """Load and validate a checkpoint directory (any location, e.g. a snapshot).

    Raises CheckpointError naming the checkpoint and the bad file."""
    path = Path(path)
    label = label or path.name
    if _needs_recovery(path):
        with _locked(path.parent, exclusive=True):
            _recover_locked(path)
    with _locked(path.parent, exclusive=False):
        return _read_unlocked(path, label)


def write_checkpoint_dir(path: str | Path, ckpt: Checkpoint, *, overwrite: bool = True) -> Path:
    """Atomically write (or replace) the checkpoint directory ``path`` with ``ckpt``'s arrays and
    meta (its ``path`` is ignored); return it.

    ``meta`` gets ``format_version``, the standard keys of META_DEFAULTS (``name`` defaults to
    the directory name, ``created`` to now) and keeps any extra keys. The previous checkpoint at
    ``path`` survives any failure before the final rename."""
    path = Path(path)
    label = path.name
    weights, optimizer, state = ckpt.weights, ckpt.optimizer, ckpt.state
    full_meta: dict[str, Any] = copy.deepcopy(META_DEFAULTS)
    full_meta.update(plain(dict(ckpt.meta)))
    full_meta["format_version"] = FORMAT_VERSION
    full_meta["name"] = full_meta["name"] or (path.name[: -len(SUFFIX)] if path.name.endswith(SUFFIX) else path.name)
    full_meta["created"] = full_meta["created"] or now_iso()
    # Encode before touching the disk: bad input fails without side effects.
    blobs = {
        fname: _encode_arrays(arrs, f"checkpoint {label!r}: {key}")
        for (key, fname), arrs in zip(ARRAY_FILES.items(), (weights, optimizer, state), strict=True)
    }
    blobs[META_FILE] = encode_meta(full_meta)

    parent = path.parent
    with _locked(parent, exclusive=True):
        _recover_locked(path)
        if path.exists() and not overwrite:
            raise CheckpointExistsError(f"checkpoint {label!r} already exists at {path}")
        tmp = parent / f".{path.name}.tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            for fname in FILES:
                write_file_durable(tmp / fname, blobs[fname])
            fsync_dir(tmp)
            _verify(tmp, label, weights, optimizer, state, full_meta)
            if path.exists():
                old = parent / f".{path.name}.old-{uuid.uuid4().hex}"
                os.rename(path, old)
                os.rename(tmp, path)
                fsync_dir(parent)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, path)
                fsync_dir(parent)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return path


def _verify(
    tmp: Path,
    label: str,
    weights: Mapping[str, Any],
    optimizer: Mapping[str, Any] | None,
    state: Mapping[str, Any] | None,
    meta: Mapping[str, Any],
) -> None:
    """Read the freshly written files back and compare with what was meant to be written."""
    ck = _read_unlocked(tmp, label)
    for key, got, want in (
        ("weights", ck.weights, weights),
        ("optimizer", ck.optimizer, optimizer),
        ("state", ck.state, state),
    ):
        if not _arrays_equal(dict(want or {}), got):
            raise CheckpointError(f"checkpoint {label!r}: {ARRAY_FILES[key]} did not read back identically")
    if not json_equal(ck.meta, plain(dict(meta))):
        raise CheckpointError(f"checkpoint {label!r}: {META_FILE} did not read back identically")


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


# ---------------------------------------------------------------------------------------------
# the store


class CheckpointStore:
    """Named checkpoints under ``root`` (default ``artifacts/checkpoints``) as ``<name>.ckpt/``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else paths.checkpoints_dir()

    def path(self, name: str) -> Path:
        return self.root / f"{check_name(name)}{SUFFIX}"

    def exists(self, name: str) -> bool:
        path = self.path(name)
        return path.is_dir() or _needs_recovery(path)

    def names(self) -> list[str]:
        """Names of the checkpoints present (sorted); recovers interrupted swaps first."""
        if not self.root.is_dir():
            return []
        out = set()
        for p in self.root.iterdir():
            if p.name.startswith(".") and ".old-" in p.name:  # possibly an interrupted swap
                base = p.name[1:].split(".old-")[0]
                if (
                    base.endswith(SUFFIX)
                    and NAME_RE.fullmatch(base[: -len(SUFFIX)])
                    and _needs_recovery(self.root / base)
                ):
                    out.add(base[: -len(SUFFIX)])
            elif p.is_dir() and p.name.endswith(SUFFIX) and not p.name.startswith("."):
                out.add(p.name[: -len(SUFFIX)])
        return sorted(n for n in out if NAME_RE.fullmatch(n) and ".." not in n)

    def save(
        self,
        name: str,
        weights: Mapping[str, Any],
        optimizer: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        overwrite: bool = True,
    ) -> Path:
        """Write checkpoint ``name`` atomically (replacing an existing one unless overwrite=False)."""
        ckpt = Checkpoint(dict(weights), dict(optimizer or {}), dict(state or {}), {**(meta or {}), "name": name})
        return write_checkpoint_dir(self.path(name), ckpt, overwrite=overwrite)

    def load(self, name: str) -> Checkpoint:
        path = self.path(name)
        if not path.is_dir() and not _needs_recovery(path):
            raise CheckpointError(self._not_found(name))
        return read_checkpoint_dir(path, label=name)

    def _not_found(self, name: str) -> str:
        available = self.names()
        return f"checkpoint {name!r} not found in {self.root}" + (
            f" (available: {', '.join(available)})" if available else " (no checkpoints yet)"
        )

    def list(self) -> list[dict[str, Any]]:
        """One summary dict per checkpoint; a corrupt one is listed with an ``error`` entry."""
        rows = []
        for name in self.names():
            row: dict[str, Any] = {"name": name}
            try:
                ck = self.load(name)
            except CheckpointError as err:
                row["error"] = str(err)
                rows.append(row)
                continue
            m = ck.meta
            row.update(
                step=m.get("step"),
                backend=m.get("backend"),
                phase=m.get("phase"),
                created=m.get("created"),
                parent=m.get("parent"),
                id=m.get("id"),
                parent_id=m.get("parent_id"),
                dataset=m.get("dataset"),
                fork=m.get("fork"),
                metrics={
                    k: v
                    for k, v in (m.get("metrics") or {}).items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                },
                size=_dir_size(self.path(name)),
                split=(m.get("metrics") or {}).get("split") or "test",  # what test_acc is on (test, held-out)
            )
            rows.append(row)
        return rows

    def show(self, name: str) -> dict[str, Any]:
        """meta.json plus the name, shape and dtype of every array."""
        ck = self.load(name)
        return {
            "name": name,
            "path": str(self.path(name)),
            "size": _dir_size(self.path(name)),
            "meta": ck.meta,
            "arrays": {
                key: {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in sorted(getattr(ck, key).items())}
                for key in ARRAY_FILES
            },
        }

    def fork(self, src: str, dst: str, *, overwrite: bool = False) -> Path:
        """Copy ``src`` to ``dst`` with ``meta.parent = src``, ``parent_id`` = ``src``'s id, a new
        ``id``, a ``fork`` record with an empty diff and a new ``created`` time (a branch with
        changes: :func:`engine.training.fork.fork_branch`)."""
        check_name(dst)
        if src == dst:
            raise CheckpointError(f"cannot fork checkpoint {src!r} onto itself")
        ck = self.load(src)
        meta = dict(ck.meta)
        fork = {"parent": src, "step": int(meta.get("step") or 0), "diff": {}}  # engine/training/fork.py's record
        meta.update(parent=src, parent_id=meta.get("id"), id=uuid.uuid4().hex, created=now_iso(), name=dst, fork=fork)
        try:
            return self.save(dst, ck.weights, ck.optimizer, ck.state, meta, overwrite=overwrite)
        except CheckpointExistsError as err:
            raise CheckpointExistsError(f"checkpoint {dst!r} already exists; use overwrite to replace it") from err

    def rm(self, name: str) -> None:
        """Delete checkpoint ``name`` (renamed aside first, so it disappears atomically)."""
        path = self.path(name)
        with _locked(self.root, exclusive=True):
            _recover_locked(path)
            if not path.is_dir():
                raise CheckpointError(self._not_found(name))
            trash = self.root / f".{path.name}.rm-{uuid.uuid4().hex}"
            os.rename(path, trash)
            fsync_dir(self.root)
            shutil.rmtree(trash, ignore_errors=True)
