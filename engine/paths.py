"""Where the shared files live. One place, so the app and the CLI agree."""
from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """Root for data/ and artifacts/: $LATENTLOOP_HOME or the current directory."""
    return Path(os.environ.get("LATENTLOOP_HOME", ".")).resolve()


def data_dir(dataset: str, root: str | Path | None = None) -> Path:
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
