"""Accepted labels: the labels the user confirmed as right (``labels.accepted.csv``, docs/formats.md).

The label-issue ranking (engine/analysis/label_issues.py) leaves them out. A mixin of
:class:`engine.stores.labels.LabelStore`: it writes under the store's lock and logs to the store's change
log, so an accept is undone like a label change.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import LabelError
from engine.io import atomic_write_bytes, temp_prefix
from engine.stores.labels_csv import format_labels, parse_labels


class AcceptedLabels:
    """The accepted-labels half of the label store (needs the store's lock, log and labels)."""

    path: Path
    accepted_path: Path
    n_samples: int
    num_classes: int

    if TYPE_CHECKING:  # provided by LabelStore

        def _locked(self) -> contextlib.AbstractContextManager[None]: ...

        def _load(self) -> dict[int, int]: ...

        def _check(self, serial: Any, label: Any | None) -> tuple[int, int | None]: ...

        def _append_log(self, op: str, changes: list[dict[str, Any]], source: str, **extra: Any) -> dict[str, Any]: ...

    def accepted(self) -> dict[int, int]:
        """``{serial: label}`` the user confirmed as right (``labels.accepted.csv``, the labels.csv
        format). An acceptance holds for that label only: relabelling the sample voids it.
        A malformed file raises LabelError (it is never rewritten: fix or delete it by hand)."""
        try:
            data = self.accepted_path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise LabelError(f"{self.accepted_path}: cannot read ({err.strerror})") from None
        rows, _ = parse_labels(data, self.n_samples, self.num_classes, str(self.accepted_path))
        return rows

    def accepted_version(self) -> tuple[int, ...]:
        """Change detector of the accepted-labels file (like :meth:`version`)."""
        try:
            st = os.stat(self.accepted_path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _write_accepted(self, rows: Mapping[int, int]) -> None:
        for stale in self.path.parent.glob(temp_prefix(self.accepted_path) + "*.tmp"):
            with contextlib.suppress(OSError):
                stale.unlink()
        atomic_write_bytes(self.accepted_path, format_labels(rows).encode())

    def accept(self, serial: int, source: str = "cli") -> dict[str, Any] | None:
        """Record that ``serial``'s current label is right (one undoable change, op ``accept``).
        Returns the log entry, or None if that label was already accepted. LabelError if the sample
        is unlabelled or either file is malformed (nothing is written then)."""
        s, _ = self._check(serial, None)
        with self._locked():
            label = self._load().get(s)
            if label is None:
                raise LabelError(f"#{s} has no label: only a given label can be accepted")
            rows = self.accepted()
            if rows.get(s) == label:
                return None
            old = rows.get(s)
            self._write_accepted({**rows, s: label})
            return self._append_log("accept", [{"serial": s, "old": old, "new": label}], source)

    def _undo_accept(self, target: dict[str, Any], source: str) -> dict[str, Any]:
        """Revert an ``accept`` entry in the accepted-labels file (caller holds the lock)."""
        rows = self.accepted()
        updated = dict(rows)
        changes: list[dict[str, Any]] = []
        skipped: list[int] = []
        for ch in target.get("changes", []):
            serial, old, new = ch.get("serial"), ch.get("old"), ch.get("new")
            if isinstance(serial, int) and rows.get(serial) == new and (old is None or isinstance(old, int)):
                if old is None:
                    del updated[serial]
                else:
                    updated[serial] = old
                changes.append({"serial": serial, "old": new, "new": old})
            elif isinstance(serial, int):
                skipped.append(serial)
        if changes:
            self._write_accepted(updated)
        done = self._append_log("undo", changes, source, undoes=target["id"], of="accept")
        return {"id": done["id"], "undoes": target["id"], "op": "accept", "changes": changes, "skipped": skipped}
