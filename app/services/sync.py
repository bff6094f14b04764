"""Client event sync: each browser tab's events applied once, in order, and the diff it needs.

Browser sync model (see app/assets/keyboard.js): the page sends its keyboard/click events with a
per-tab sequence number and keeps re-sending them until acknowledged; :meth:`ClientSync.sync`
applies each (tab, seq) exactly once, in order, then tells the tab what changed relative to the
state the tab says it holds (:class:`~app.viewmodels.ClientView`), so a response Dash drops costs
nothing. Malformed events (a hand-made request, an older page) give a notice or are ignored; they
never raise and never block the tab's later events.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.services.embeddings import MapVersion
from app.services.workers import worker_status
from app.viewmodels import UNCHANGED, ClientView, QueueView, SyncResult
from engine.errors import LatentLoopError

if TYPE_CHECKING:
    from app.state import AppState

MAX_CLIENTS = 64
MAX_SEQ_JUMP = 1_000_000  # a tab numbers its events 1, 2, 3, ...: a larger jump is not from keyboard.js


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


def point_xy(v: MapVersion, serial: int | None) -> tuple[float, float] | None:
    """Map coordinates of ``serial`` in version ``v`` (None: no such point)."""
    if serial is None or not 0 <= serial < v.n_points:
        return None
    return float(v.xy[serial, 0]), float(v.xy[serial, 1])


class ClientSync:
    """Per-tab event bookkeeping and the sync diff, over the app's model (``state``)."""

    def __init__(self, state: AppState) -> None:
        self.state = state
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
        return s if s is not None and 0 <= s < self.state.n_points else None

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
                res = self.state.labels.undo(source="app")
            except LatentLoopError as err:
                return f"undo failed: {err}"
            if res is None:
                return "nothing to undo"
            changed = ", ".join(f"#{c['serial']}" for c in res["changes"][:5])
            what = "acceptance" if res["op"] == "accept" else res["op"]
            return f"undid {what} of {changed or 'nothing (changed since)'}"
        return f"unknown event {_shown(kind)}"

    def _label(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        st = self.state
        if e.get("serial") is None:
            return "select a sample first (click a point or press n)"
        serial = self._serial(e.get("serial"))
        if serial is None:
            return f"no sample {_shown(e.get('serial'))}"
        rec.selected = serial
        label = as_int(e.get("label"))
        if label is None:
            return f"bad label {_shown(e.get('label'))}: a class number 0..{st.num_classes - 1}"
        if serial >= st.n_train:
            return f"#{serial} is a held-out test image: it cannot be labelled"
        if not 0 <= label < st.num_classes:
            return f"label {label} is out of range 0..{st.num_classes - 1}"
        try:
            st.labels.set(serial, label, source="app")
        except LatentLoopError as err:
            return f"label not saved: {err}"
        return ""

    def _accept(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        """The user says the selected sample's label is right (labels.accepted.csv)."""
        if e.get("serial") is None:
            return "select a labelled sample first"
        serial = self._serial(e.get("serial"))
        if serial is None or serial >= self.state.n_train:
            return f"no labelled training sample {_shown(e.get('serial'))}"
        rec.selected = serial
        try:
            entry = self.state.labels.accept(serial, source="app")
        except LatentLoopError as err:
            return f"not accepted: {err}"
        return f"accepted the label of #{serial}" if entry else f"the label of #{serial} was already accepted"

    def selected_of(self, client_id: str) -> int | None:
        with self._lock:
            rec = self._clients.get(client_id)
            return rec.selected if rec else None

    # -- the sync --------------------------------------------------------------------------------------
    def sync(
        self,
        client_id: str,
        events: Sequence[dict[str, Any]],
        view: ClientView,
        strategy: str,
        start_id: int = 0,
        colour_mode: str = "",
        highlight: int | None = None,
    ) -> SyncResult:
        """Apply the tab's events, then report what differs from ``view``. ``colour_mode``: the
        tab's map colour mode (only "quality" needs data from here: the label quality scores).

        When the tab's events recoloured points of the map the tab shows, the answer is lean: the
        overlay slots, the selection ring and the acknowledgement only, with ``more`` set; the
        panels (sample, stats, queue, ...) keep their old keys in the returned view, so the tab's
        next sync, which keyboard.js sends once the recolour is drawn, brings them."""
        from app import figures

        st = self.state
        with self._lock:
            seq_before = self._clients[client_id].last_seq if client_id in self._clients else 0
        labels_before = st.labels.version()
        ack, notices = self.apply_events(client_id, events) if client_id else (0, [])
        with self._lock:
            selected = self._client(client_id).selected if client_id else None
        labels = st.label_reader.read()
        st.overlay.sync(labels)
        v = st.cache.current
        out = SyncResult(client=ClientView(**view.to_dict()), ack=ack, notices=notices)
        if v is None:
            return out
        new = out.client
        out.ring = point_xy(v, selected)
        if view.version != v.version:
            full = st.overlay.full()
            if st.density.active(v):  # too many points to send: a raster of the view (app/services/density.py)
                from app import density_figures

                out.figure = st.cache.derived("map_figure", v, lambda u: density_figures.map_figure(u, st.density))
                out.colours = st.cache.derived("colours", v, density_figures.colour_store)
            else:
                out.figure = st.cache.derived("map_figure", v, figures.map_figure)  # built once per version
                out.colours = st.cache.derived("colours", v, figures.colour_store)
            out.overlay_figure = figures.overlay_figure(v, full)
            new.version, new.gen, new.rev = v.version, full.gen, full.rev
            new.highlight_key = ""  # the new overlay's highlight trace is empty
        else:
            delta = st.overlay.delta(view.gen, view.rev)
            if delta is None:
                full = st.overlay.full()
                out.overlay_full = figures.overlay_trace(v, full)
                new.gen, new.rev = full.gen, full.rev
            else:
                new.gen, new.rev, slots = delta
                out.overlay_slots = figures.overlay_slot_values(v, slots)
            # lean only for this request's own new events: its ack is new, so the tab's ack
            # callback runs (and asks for the rest), which an unchanged value would not make it do
            recoloured = bool(out.overlay_slots) or out.overlay_full is not UNCHANGED
            if recoloured and ack > seq_before and st.labels.version() != labels_before:
                out.more = True
                return out
        lab_sel = int(labels[selected]) if selected is not None and selected < st.n_train else -1
        sample_key = f"{v.version}:{selected}:{lab_sel}:{st.labels.accepted_version()}"
        if sample_key != view.sample_key:
            out.sample = st.sample_view(selected, v, labels) if selected is not None else None
            new.sample_key = sample_key
        xai_key = f"{v.version}:{selected}"  # not the label: a label leaves the saliency as it is
        if xai_key != view.xai_key:
            out.xai_want = None
            if selected is not None:
                out.xai_want = {"serial": selected, "train": selected < st.n_train, "v": v.version}
            new.xai_key = xai_key
        status = st.session.status()
        stats_key = f"{st.labels.version()}:{status.get('test_acc')}:{start_id}:{st.label_reader.error}"
        if stats_key != view.stats_key:
            out.stats = st.stats_view(labels, start_id)
            new.stats_key = stats_key
        self._queue(out, strategy, v, labels)
        highlight_key = f"{v.version}:{highlight}" if highlight is not None else ""
        if highlight_key != new.highlight_key:
            out.highlight = figures.highlight_trace(v, highlight)
            new.highlight_key = highlight_key
        ps = st.projection.status()
        projection_note = ps["settings_error"] or ps["message"]
        if projection_note != view.projection_key:
            out.projection = projection_note
            new.projection_key = projection_note
        if colour_mode == "quality":
            quality_key = st.issues.key(v)
            if quality_key != view.quality_key:
                out.quality = st.issues.colours(v, labels)
                new.quality_key = quality_key
        # The worker line and the list of feedback boxes ride on this poll too: every callback
        # costs the browser tens of milliseconds of CPU (next to the training thread), so the page
        # has no timer of its own for them.
        ws = worker_status(st.hub)
        f = ws["forecast"]
        workers_key = repr(
            [(w.name, w.state, w.restarts) for w in ws["workers"]]
            + [f and (f.version, f.window_open, f.reason), ws["forecast_error"]]
        )
        if workers_key != view.workers_key:
            out.workers = ws
            new.workers_key = workers_key
        feedback_key = repr(st.feedback.version())
        if feedback_key != view.feedback_key:
            out.feedback = st.boxes.items()
            new.feedback_key = feedback_key
        return out

    def _queue(self, out: SyncResult, strategy: str, v: MapVersion, labels: Any) -> None:
        st = self.state
        try:
            qv = st.queue_view(strategy, v, labels)  # cached ranking; filtering is cheap
        except (LatentLoopError, ValueError) as err:
            qv = QueueView([], f"error: {err}", strategy)
        # Keyed by what is shown, so labelling a sample outside the queue re-sends nothing.
        queue_key = f"{st.queue_key(strategy, v)}:{','.join(str(c.serial) for c in qv.items)}"
        if queue_key != out.client.queue_key:
            out.queue = qv
            out.client.queue_key = queue_key
