"""Client events: each browser tab's label, accept, select and undo events applied once, in order.

Browser sync model (see app/assets/input.js): the page sends its keyboard/click events with a
per-tab sequence number and keeps re-sending them until acknowledged; :meth:`ClientSync.apply_events`
applies each (tab, seq) exactly once, in order, and remembers the tab's selection. What the tab must
be sent afterwards (the diff) is the presenter's job (app/presenter/label_page.py). Malformed
events (a hand-made request, an older page) give a notice or are ignored; they never raise and
never block the tab's later events.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from engine.errors import LatentLoopError
from engine.stores.labels import LabelStore

MAX_CLIENTS = 64
MAX_SEQ_JUMP = 1_000_000  # a tab numbers its events 1, 2, 3, ...: a larger jump is not from input.js


@dataclass
class ClientRecord:
    """Server-side memory of one browser tab: the events already applied and its selection."""

    last_seq: int = 0
    selected: int | None = None
    touched: float = field(default_factory=time.time)


def as_int(value: Any) -> int | None:
    """An integer from a JSON value (int, integral float, or decimal string); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] == "-" else text
        return int(text) if digits.isascii() and digits.isdigit() and len(digits) <= 18 else None
    return None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ClientSync:
    """Per-tab event bookkeeping over the label store. ``n_points``: the map's points (Serials
    0..n_points-1 can be selected); ``n_train``: the training samples (the labellable ones)."""

    def __init__(self, labels: LabelStore, n_points: int, n_train: int, num_classes: int) -> None:
        self.labels = labels
        self.n_points = int(n_points)
        self.n_train = int(n_train)
        self.num_classes = int(num_classes)
        self._clients: OrderedDict[str, ClientRecord] = OrderedDict()
        self._lock = threading.Lock()

    # -- events --------------------------------------------------------------------------------------
    def _client(self, client_id: str) -> ClientRecord:
        rec = self._clients.get(client_id)
        if rec is None:
            rec = self._clients[client_id] = ClientRecord()
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(client_id)
        rec.touched = time.time()
        return rec

    def apply_events(self, client_id: str, events: Any) -> tuple[int, list[str]]:
        """Apply the tab's not-yet-applied events in sequence order. Returns (ack seq, notices)."""
        notices: list[str] = []
        numbered: list[tuple[int, dict[str, Any]]] = []
        for e in events if isinstance(events, (list, tuple)) else []:
            seq = as_int(e.get("seq")) if isinstance(e, dict) else None
            if seq is None or seq <= 0:
                notices.append(f"ignored a malformed event {_shown(e)}")
            else:
                numbered.append((seq, e))
        with self._lock:
            rec = self._client(client_id)
            for seq, e in sorted(numbered, key=lambda p: p[0]):
                if seq <= rec.last_seq:
                    continue  # already applied (the tab re-sends until acknowledged)
                if seq > rec.last_seq + MAX_SEQ_JUMP:
                    notices.append(f"ignored event number {_shown(seq)}: not in sequence")
                    continue
                rec.last_seq = seq
                msg = self._apply_event(rec, e)
                if msg:
                    notices.append(msg)
            return rec.last_seq, notices

    def _serial(self, value: Any) -> int | None:
        s = as_int(value)
        return s if s is not None and 0 <= s < self.n_points else None

    def _apply_event(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        kind = e.get("kind")
        if kind == "clear" or (kind == "select" and e.get("serial") is None):
            rec.selected = None
            return ""
        if kind == "select":
            serial = self._serial(e.get("serial"))
            if serial is None:
                return f"no sample {_shown(e.get('serial'))}"
            rec.selected = serial
            return ""
        if kind == "label":
            return self._label(rec, e)
        if kind == "accept":
            return self._accept(rec, e)
        if kind == "undo":
            try:
                res = self.labels.undo(source="app")
            except LatentLoopError as err:
                return f"undo failed: {err}"
            if res is None:
                return "nothing to undo"
            changed = ", ".join(f"#{c['serial']}" for c in res["changes"][:5])
            what = "acceptance" if res["op"] == "accept" else res["op"]
            return f"undid {what} of {changed or 'nothing (changed since)'}"
        return f"unknown event {_shown(kind)}"

    def _label(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        if e.get("serial") is None:
            return "select a sample first (click a point or press n)"
        serial = self._serial(e.get("serial"))
        if serial is None:
            return f"no sample {_shown(e.get('serial'))}"
        rec.selected = serial
        label = as_int(e.get("label"))
        if label is None:
            return f"bad label {_shown(e.get('label'))}: a class number 0..{self.num_classes - 1}"
        if serial >= self.n_train:
            return f"#{serial} is a held-out test image: it cannot be labelled"
        if not 0 <= label < self.num_classes:
            return f"label {label} is out of range 0..{self.num_classes - 1}"
        try:
            self.labels.set(serial, label, source="app")
        except LatentLoopError as err:
            return f"label not saved: {err}"
        return ""

    def _accept(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        """The user says the selected sample's label is right (labels.accepted.csv)."""
        if e.get("serial") is None:
            return "select a labelled sample first"
        serial = self._serial(e.get("serial"))
        if serial is None or serial >= self.n_train:
            return f"no labelled training sample {_shown(e.get('serial'))}"
        rec.selected = serial
        try:
            entry = self.labels.accept(serial, source="app")
        except LatentLoopError as err:
            return f"not accepted: {err}"
        return f"accepted the label of #{serial}" if entry else f"the label of #{serial} was already accepted"

    def selected_of(self, client_id: str) -> int | None:
        """The tab's selection (None: nothing selected, or a tab never seen)."""
        with self._lock:
            rec = self._clients.get(client_id)
            return rec.selected if rec else None

    def last_seq(self, client_id: str) -> int:
        """The tab's last applied event number (0: none yet)."""
        with self._lock:
            rec = self._clients.get(client_id)
            return rec.last_seq if rec else 0
