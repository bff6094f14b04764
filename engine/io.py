"""File primitives shared by every store: durable writes and atomic replaces."""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from pathlib import Path


def fsync_dir(d: str | Path) -> None:
    """Make renames in ``d`` durable (best effort: some filesystems refuse directory fsync)."""
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_durable(path: str | Path, data: bytes) -> None:
    """Write and fsync one file (no rename: for files inside a temp directory)."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def temp_prefix(path: str | Path) -> str:
    """Name prefix of the temp files :func:`atomic_write_bytes` leaves if killed mid-write."""
    return f".{Path(path).name}."


def atomic_write_bytes(path: str | Path, data: bytes | memoryview, mode: int | None = None) -> None:
    """Write a temp file in the same directory, fsync, ``os.replace``, fsync the directory:
    readers see the old file or the new one, never a half-written one.

    ``mode`` defaults to the existing file's permissions, else 0o666 minus the umask."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(path).st_mode & 0o777
    tmp = path.parent / f"{temp_prefix(path)}{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


@contextlib.contextmanager
def file_lock(lock_path: str | Path, exclusive: bool = True) -> Iterator[None]:
    """``flock`` on ``lock_path``: exclusive for writers, shared for readers. Works between
    processes and between threads (each call opens its own file description). A reader in a
    read-only location goes without the lock."""
    lock_path = Path(lock_path)
    if exclusive:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if exclusive:
            raise
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock
