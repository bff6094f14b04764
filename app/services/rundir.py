"""This process's run directory (snapshots for the XAI worker, forecast arrays) under snapshots/."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def remove_orphan_run_dirs(root: Path) -> list[Path]:
    """Delete the run directories (``app-*``) of dashboard processes that are gone (killed, crashed:
    close() never ran). A directory without a readable pid file is left alone."""
    removed = []
    for d in root.glob("app-*"):
        try:
            pid = int((d / "pid").read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's live process
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


def make_run_dir(root: Path) -> Path:
    """A fresh ``app-*`` directory under ``root`` naming this process (after clearing dead ones)."""
    root.mkdir(parents=True, exist_ok=True)
    remove_orphan_run_dirs(root)
    run_dir = Path(tempfile.mkdtemp(prefix="app-", dir=root))
    (run_dir / "pid").write_text(str(os.getpid()))
    return run_dir
