"""Where the shared files live. One place, so the app and the CLI agree."""

from __future__ import annotations

import os
import re
from pathlib import Path

from engine.errors import CheckpointError, DatasetError

# Names become directory names, so they are checked with a full match (a pattern ending in "$"
# used with re.match would admit a trailing newline).
DATASET_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHECKPOINT_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_dataset_name(name: str) -> str:
    """``name`` if it is a valid dataset name (1-64 letters, digits, '_', '-'); else DatasetError."""
    if not isinstance(name, str) or not DATASET_NAME_RE.fullmatch(name):
        raise DatasetError(f"invalid dataset name {name!r}: use 1-64 letters, digits, '_' and '-'")
    return name


def check_checkpoint_name(name: str) -> str:
    """``name`` if it is a valid checkpoint name (no separators, no leading dot, no '..',
    <= 64 chars); else CheckpointError."""
    if not isinstance(name, str) or not CHECKPOINT_NAME_RE.fullmatch(name) or ".." in name:
        raise CheckpointError(
            f"invalid checkpoint name {name!r}: use 1-64 letters, digits, '_', '-', '.', starting "
            "with a letter or digit, without '..' or path separators"
        )
    return name


def project_root() -> Path:
    """Root for data/ and artifacts/: $LATENTLOOP_HOME or the current directory."""
    return Path(os.environ.get("LATENTLOOP_HOME", ".")).resolve()


def data_dir(dataset: str, root: str | Path | None = None) -> Path:
    """``<root or $LATENTLOOP_HOME/data>/<dataset>``; the name is validated first."""
    check_dataset_name(dataset)
    base = Path(root) if root is not None else project_root() / "data"
    if not base.is_absolute():
        base = project_root() / base
    return base / dataset


def artifacts_dir() -> Path:
    return project_root() / "artifacts"


def checkpoints_dir() -> Path:
    return artifacts_dir() / "checkpoints"


def snapshots_dir() -> Path:
    return artifacts_dir() / "snapshots"
