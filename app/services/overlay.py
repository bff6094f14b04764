"""The labelled-points overlay of the latent map, kept in sync with the label store.

The map is one big WebGL trace sent once per embedding version; labelled points are drawn by a
second, small trace on top. Keeping that trace current must cost a few bytes per label, not a
new figure, and must survive the way Dash delivers responses: a newer response of the same
callback makes Dash drop the older one, and two responses may carry overlapping changes.

So the overlay is a fixed-capacity array of *slots*. A labelled sample owns a slot for the whole
generation; every change is an assignment ``slot i := (serial, label)`` (or "hidden"), which is
idempotent, and the log of those assignments is numbered by a global revision. A client that
holds revision ``r`` of generation ``g`` gets the slots changed since ``r`` (each at its latest
state); anything older, or a new generation (new embedding version, slots exhausted), gets the
whole overlay. Pure numpy, no Dash.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

HEADROOM = 256  # free slots per generation before a full resend is needed
LOG_LIMIT = 4096  # slot changes remembered; older clients get the full overlay


@dataclass(frozen=True)
class SlotState:
    """One overlay slot: ``label`` -1 means the slot is hidden (its sample has no label now)."""

    slot: int
    serial: int
    label: int


@dataclass(frozen=True)
class OverlayFull:
    gen: int
    rev: int
    serial: np.ndarray  # int64 [capacity], -1 for never-used slots
    label: np.ndarray  # int64 [capacity], -1 for hidden/unused


class LabelOverlay:
    """Slot bookkeeping for the labelled points of the ``n_points`` map rows (rows == Serials)."""

    def __init__(self, n_points: int, headroom: int = HEADROOM, log_limit: int = LOG_LIMIT) -> None:
        self.n_points = int(n_points)
        self.headroom = int(headroom)
        self.log_limit = int(log_limit)
        self._lock = threading.Lock()
        self.gen = 0
        self.rev = 0
        self._serial = np.zeros(0, np.int64)
        self._label = np.zeros(0, np.int64)
        self._used = 0
        self._slot_of: dict[int, int] = {}
        self._seen = np.full(self.n_points, -1, np.int64)  # the labels the slots reflect
        self._log: list[tuple[int, int]] = []  # (rev, slot), rev ascending
        self._gen_rev = 0  # revision at which this generation started

    # -- generations ---------------------------------------------------------------------
    def rebuild(self, labels: np.ndarray) -> None:
        """Start a new generation holding exactly the labelled samples of ``labels``."""
        with self._lock:
            self._rebuild(self._clip(labels))

    def _clip(self, labels: np.ndarray) -> np.ndarray:
        out = np.full(self.n_points, -1, np.int64)
        n = min(self.n_points, len(labels))
        out[:n] = labels[:n]
        return out

    def _rebuild(self, labels: np.ndarray) -> None:
        serials = np.flatnonzero(labels >= 0)
        cap = len(serials) + self.headroom
        self._serial = np.full(cap, -1, np.int64)
        self._label = np.full(cap, -1, np.int64)
        self._serial[: len(serials)] = serials
        self._label[: len(serials)] = labels[serials]
        self._used = len(serials)
        self._slot_of = {int(s): i for i, s in enumerate(serials)}
        self._seen = labels.copy()
        self.gen += 1
        self.rev += 1
        self._gen_rev = self.rev
        self._log = []

    # -- changes ---------------------------------------------------------------------------
    def sync(self, labels: np.ndarray) -> bool:
        """Bring the slots up to ``labels`` (int [>= n_points], -1 = unlabelled).

        Returns True when something changed. Starts a new generation when the free slots run out.
        """
        with self._lock:
            labels = self._clip(labels)
            changed = np.flatnonzero(labels != self._seen)
            if len(changed) == 0:
                return False
            new = [int(s) for s in changed if int(s) not in self._slot_of and labels[s] >= 0]
            if self._used + len(new) > len(self._serial):
                self._rebuild(labels)
                return True
            for raw in changed:
                s = int(raw)
                lab = int(labels[s])
                slot = self._slot_of.get(s)
                if slot is None:
                    if lab < 0:
                        continue
                    slot = self._used
                    self._used += 1
                    self._slot_of[s] = slot
                    self._serial[slot] = s
                self._label[slot] = lab
                self.rev += 1
                self._log.append((self.rev, slot))
            self._seen = labels
            if len(self._log) > self.log_limit:
                del self._log[: len(self._log) - self.log_limit]
            return True

    # -- what a client needs ---------------------------------------------------------------------
    def full(self) -> OverlayFull:
        with self._lock:
            return OverlayFull(self.gen, self.rev, self._serial.copy(), self._label.copy())

    def delta(self, gen: int | None, rev: int | None) -> tuple[int, int, list[SlotState]] | None:
        """``(gen, rev, slots changed since rev)`` for a client at ``(gen, rev)``, or None when the
        client must get :meth:`full` (other generation, or older than the remembered log)."""
        with self._lock:
            if gen != self.gen or rev is None or rev < self._gen_rev or rev > self.rev:
                return None
            if rev < self.rev and (not self._log or self._log[0][0] > rev + 1):
                return None  # the changes right after ``rev`` were trimmed from the log
            slots = sorted({slot for r, slot in self._log if r > rev})
            return self.gen, self.rev, [SlotState(s, int(self._serial[s]), int(self._label[s])) for s in slots]

    @property
    def capacity(self) -> int:
        return len(self._serial)
