"""The shared label store: ``data/<dataset>/labels.csv`` plus its change log.

The dashboard and the CLI both write this file, possibly at the same time, so every write is a
read-modify-write under an inter-process lock and lands through an atomic ``os.replace``; a reader
never sees a half-written file. See docs/formats.md ("Labels", "Change log") for the exact format.

Crash consistency: the CSV is the source of truth and is replaced *before* the change-log entry is
appended. A crash between the two leaves at most one change applied but not logged (it cannot be
undone from the log and is missing from the audit trail); the log never records a change the CSV
does not hold. A crash while appending leaves a torn last log line, which readers skip.

Over 400 lines: the CSV and its change log are written under one lock in one order, and that
order is the crash-consistency argument above; splitting them would spread it over two files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from engine.errors import LabelError
from engine.io import atomic_write_bytes, temp_prefix
from engine.paths import data_dir
from engine.stores.accepted import AcceptedLabels
from engine.stores.labels_csv import format_labels, labels_hash, parse_int, parse_labels

_UNDOABLE_OPS = frozenset({"set", "clear", "import", "accept"})
_Source = str | os.PathLike[str]


class LabelStore(AcceptedLabels):
    """Labels of one dataset's training images, stored in ``path`` (``labels.csv``).

    ``n_samples`` is the number of training images (valid Serials are ``0..n_samples-1``),
    ``num_classes`` the number of classes. Safe to use from several threads and processes.
    """

    def __init__(self, path: Path | str, n_samples: int, num_classes: int) -> None:
        if n_samples <= 0 or num_classes <= 0:
            raise ValueError("n_samples and num_classes must be positive")
        self.path = Path(path)
        self.n_samples = int(n_samples)
        self.num_classes = int(num_classes)
        self.log_path = self.path.with_name(self.path.stem + ".changes.jsonl")
        # labels the user confirmed as right, so the label-issue ranking stops suggesting them
        self.accepted_path = self.path.with_name(self.path.stem + ".accepted.csv")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._rlock = threading.RLock()
        self._lock_depth = 0
        self._lock_fd: int | None = None
        # Parsed content keyed by version(); saves re-parsing on every keypress-driven write.
        self._cache: tuple[tuple[int, ...], dict[int, int]] | None = None
        self._log_tail: tuple[int, int] | None = None  # (log size, last id) we know of
        self._added: dict[tuple[int, str], tuple[int, int]] = {}  # added_since: key -> (bytes read, count)

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r}, n_samples={self.n_samples}, num_classes={self.num_classes})"

    # ---- reading -------------------------------------------------------------------------
    def version(self) -> tuple[int, ...]:
        """Cheap change detector for polling: ``(st_mtime_ns, st_size, st_ino, log size)``.

        Compare for equality only. The inode and the (append-only) log size are included because
        two same-size writes within one coarse timestamp tick would otherwise look identical.
        """
        try:
            st = os.stat(self.path)
            key = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            key = (0, 0, 0)
        try:
            log_size = os.stat(self.log_path).st_size
        except FileNotFoundError:
            log_size = 0
        return (*key, log_size)

    def _load(self) -> dict[int, int]:
        """Current labels (shared cached dict: copy before modifying). Missing file: none."""
        key = self.version()
        cache = self._cache
        if cache is not None and cache[0] == key:
            return cache[1]
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            labels: dict[int, int] = {}
        except IsADirectoryError:
            raise LabelError(f"{self.path}: is a directory, expected a CSV file") from None
        except OSError as err:
            raise LabelError(f"{self.path}: cannot read ({err.strerror})") from None
        else:
            labels, _ = parse_labels(data, self.n_samples, self.num_classes, str(self.path))
        # A concurrent replace between stat and read would pair a stale key with new content,
        # so only cache when the version did not move meanwhile.
        if self.version() == key:
            self._cache = (key, labels)
        return labels

    def labels_dict(self) -> dict[int, int]:
        """``{serial: label}`` for the labelled training images."""
        return dict(self._load())

    def read(self) -> np.ndarray:
        """int64 array of length ``n_samples``: the label, or -1 where unlabelled."""
        labels = self._load()
        out = np.full(self.n_samples, -1, dtype=np.int64)
        if labels:
            out[np.fromiter(labels.keys(), np.int64, len(labels))] = np.fromiter(labels.values(), np.int64, len(labels))
        return out

    def stats(self) -> dict[str, Any]:
        """``{"n_samples", "labelled", "unlabelled", "per_class": [count of class 0, 1, ...]}``."""
        labels = self._load()
        per_class = np.bincount(np.fromiter(labels.values(), np.int64, len(labels)), minlength=self.num_classes)
        return {
            "n_samples": self.n_samples,
            "labelled": len(labels),
            "unlabelled": self.n_samples - len(labels),
            "per_class": [int(c) for c in per_class],
        }

    def hash(self) -> str:
        """sha256 hex of the canonical labelled content (independent of the file's form)."""
        return labels_hash(self._load())

    def export(self, fmt: str, out: IO[str] | _Source) -> int:
        """Write the labelled rows as ``csv`` (canonical form) or ``jsonl``
        (``{"serial": s, "label": l}`` per line) to a text stream or a path. Returns the row count.
        """
        labels = self._load()
        if fmt == "csv":
            text = format_labels(labels)
        elif fmt == "jsonl":
            text = "".join(json.dumps({"serial": s, "label": labels[s]}) + "\n" for s in sorted(labels))
        else:
            raise LabelError(f"unknown export format {fmt!r} (use csv or jsonl)")
        if isinstance(out, (str, os.PathLike)):
            try:
                Path(out).write_text(text, encoding="utf-8")
            except OSError as err:
                raise LabelError(f"cannot write {out}: {err.strerror}") from None
        else:
            out.write(text)
        return len(labels)

    # ---- change log ----------------------------------------------------------------------
    def _iter_log_reverse(self) -> Iterator[dict[str, Any]]:
        """Log entries newest first; unreadable (e.g. torn) lines are skipped."""
        with contextlib.ExitStack() as stack:
            try:
                f = stack.enter_context(open(self.log_path, "rb"))
            except FileNotFoundError:
                return
            pos = f.seek(0, os.SEEK_END)
            rest = b""
            while pos > 0:
                step = min(1 << 16, pos)
                pos -= step
                f.seek(pos)
                lines = (f.read(step) + rest).split(b"\n")
                rest = lines[0]  # may continue in the previous chunk
                for raw in reversed(lines[1:]):
                    entry = _parse_log_line(raw)
                    if entry is not None:
                        yield entry
            entry = _parse_log_line(rest)
            if entry is not None:
                yield entry

    def history(self) -> list[dict[str, Any]]:
        """All readable change-log entries, oldest first."""
        return list(reversed(list(self._iter_log_reverse())))

    def added_since(self, start_id: int, exclude_source: str = "app") -> int:
        """Labels set (``set``/``import`` entries with a new value) after change-log entry
        ``start_id`` by any source but ``exclude_source``.

        Incremental: each call reads only the bytes appended since the previous call with the same
        arguments; a line still being appended is read next time, a shrunken log is counted afresh.
        """
        key = (int(start_id), exclude_source)
        try:
            size = os.stat(self.log_path).st_size
        except FileNotFoundError:
            return 0
        offset, count = self._added.get(key, (0, 0))
        if size < offset:  # the log was replaced
            offset, count = 0, 0
        if size > offset:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            end = chunk.rfind(b"\n") + 1
            for raw in chunk[:end].splitlines():
                entry = _parse_log_line(raw)
                if (
                    entry is None
                    or not isinstance(entry.get("id"), int)
                    or entry["id"] <= key[0]
                    or entry.get("source") == exclude_source
                    or entry.get("op") not in ("set", "import")
                ):
                    continue
                count += sum(1 for c in entry.get("changes", []) if isinstance(c, dict) and c.get("new") is not None)
            offset += end
            with self._rlock:
                if len(self._added) > 256:
                    self._added.clear()
                self._added[key] = (offset, count)
        return count

    def _next_id(self) -> int:
        size = os.stat(self.log_path).st_size if self.log_path.exists() else 0
        if self._log_tail is not None and self._log_tail[0] == size:
            return self._log_tail[1] + 1
        for entry in self._iter_log_reverse():
            if isinstance(entry.get("id"), int):
                return entry["id"] + 1
        return 1

    def _append_log(self, op: str, changes: list[dict[str, int | None]], source: str, **extra: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "op": op,
            "changes": changes,
            "source": source,
            "id": self._next_id(),
            **extra,
        }
        line = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
        with open(self.log_path, "a+b") as f:
            size = f.seek(0, os.SEEK_END)
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    line = b"\n" + line  # a crashed append left a torn line: start afresh
            f.write(line)  # O_APPEND: lands at the end whatever the position
            f.flush()
            os.fsync(f.fileno())
            self._log_tail = (f.tell(), entry["id"])
        return entry

    # ---- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive lock: an RLock for threads, ``flock`` on ``labels.csv.lock`` for processes."""
        with self._rlock:
            if self._lock_depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._lock_fd = fd
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0 and self._lock_fd is not None:
                    fd, self._lock_fd = self._lock_fd, None
                    os.close(fd)  # closing the last descriptor releases the flock

    def _write_csv(self, labels: Mapping[int, int]) -> None:
        """Atomically replace the CSV (caller holds the lock)."""
        # Temp files only exist while a writer holds the lock, so any left now are from a
        # writer that was killed mid-write.
        for stale in self.path.parent.glob(temp_prefix(self.path) + "*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        atomic_write_bytes(self.path, format_labels(labels).encode())

    def _apply(self, op: str, new_values: Mapping[int, int | None], source: str, **extra: Any) -> dict[str, Any] | None:
        """Set (or clear, for None) rows under the lock; log what actually changed.

        Returns the log entry, or None when nothing changed (nothing is written then).
        """
        with self._locked():
            current = self._load()
            changes: list[dict[str, Any]] = []  # {"serial": int, "old": int | None, "new": int | None}
            for serial in sorted(new_values):
                old, new = current.get(serial), new_values[serial]
                if old != new:
                    changes.append({"serial": serial, "old": old, "new": new})
            if not changes and op != "undo":
                return None
            if changes:
                updated = dict(current)
                for ch in changes:
                    if ch["new"] is None:
                        del updated[ch["serial"]]
                    else:
                        updated[ch["serial"]] = ch["new"]
                self._write_csv(updated)
            entry = self._append_log(op, changes, source, **extra)
            if changes:
                self._cache = (self.version(), updated)
            return entry

    def _check(self, serial: Any, label: Any | None) -> tuple[int, int | None]:
        def as_int(value: Any, what: str) -> int:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                try:
                    return parse_int(str(value))
                except ValueError as err:
                    raise LabelError(f"{what} {value!r} is {err}") from None
            return int(value)

        s = as_int(serial, "Serial")
        if not 0 <= s < self.n_samples:
            raise LabelError(f"unknown Serial {s}: training indices are 0..{self.n_samples - 1}")
        if label is None:
            return s, None
        lab = as_int(label, "label")
        if not 0 <= lab < self.num_classes:
            raise LabelError(f"label {lab} is out of range 0..{self.num_classes - 1}")
        return s, lab

    def set(self, serial: int, label: int, source: str = "cli") -> dict[str, Any] | None:
        """Label one image. Returns the change-log entry, or None if it already had that label."""
        s, lab = self._check(serial, label)
        return self._apply("set", {s: lab}, source)

    def set_many(self, mapping: Mapping[int, int | None], source: str = "cli") -> dict[str, Any] | None:
        """Set several labels as one change (one undo step); a None label clears the row."""
        checked = dict(self._check(s, lab) for s, lab in mapping.items())
        return self._apply("set", checked, source)

    def clear(self, serial: int, source: str = "cli") -> dict[str, Any] | None:
        """Remove one image's label. Returns the log entry, or None if it was unlabelled."""
        s, _ = self._check(serial, None)
        return self._apply("clear", {s: None}, source)

    def import_csv(self, path: _Source, source: str = "cli") -> dict[str, Any] | None:
        """Merge a labels file (same format, sparse or full) as one change, all or nothing.

        The whole input is validated first. Rows with a label are set; rows with an empty label
        are ignored (a full pandas export of an older state must not wipe newer labels).
        Returns the log entry, or None when nothing changed.
        """
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise LabelError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise LabelError(f"{path}: is a directory, expected a CSV file") from None
        labels, _ = parse_labels(data, self.n_samples, self.num_classes, str(path))
        return self._apply("import", labels, source)

    def undo(self, source: str = "cli") -> dict[str, Any] | None:
        """Revert the newest set/clear/import/accept entry not already undone.

        Rows changed since (outside the log) are left alone and reported under ``"skipped"``.
        Returns ``{"id", "undoes", "op", "changes", "skipped"}`` or None if there is nothing
        to undo. Undo entries themselves are not undone (there is no redo).
        """
        with self._locked():
            current = self._load()  # a broken labels file is reported even with nothing to undo
            undone: set[int] = set()
            target = None
            for entry in self._iter_log_reverse():
                if entry.get("op") == "undo" and isinstance(entry.get("undoes"), int):
                    undone.add(entry["undoes"])
                elif entry.get("op") in _UNDOABLE_OPS and entry.get("id") not in undone:
                    target = entry
                    break
            if target is None:
                return None
            if target.get("op") == "accept":
                return self._undo_accept(target, source)
            revert: dict[int, int | None] = {}
            skipped: list[int] = []
            for ch in target.get("changes", []):
                serial = ch.get("serial")
                if not isinstance(serial, int) or not 0 <= serial < self.n_samples:
                    continue
                old = ch.get("old")
                valid_old = old is None or (isinstance(old, int) and 0 <= old < self.num_classes)
                if valid_old and current.get(serial) == ch.get("new"):
                    revert[serial] = old
                else:
                    skipped.append(serial)
            done = self._apply("undo", revert, source, undoes=target["id"])
            assert done is not None  # an undo is always logged, even when nothing could be reverted
            return {
                "id": done["id"],
                "undoes": target["id"],
                "op": target["op"],
                "changes": done["changes"],
                "skipped": skipped,
            }


def _parse_log_line(raw: bytes) -> dict[str, Any] | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def label_store_for(dataset: str, n_samples: int, num_classes: int, root: str | Path | None = None) -> LabelStore:
    """The store of ``data/<dataset>/labels.csv`` (``root`` overrides the data directory)."""
    return LabelStore(data_dir(dataset, root) / "labels.csv", n_samples, num_classes)
