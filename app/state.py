"""AppState: everything the dashboard knows, as plain Python (no Dash).

It wires the shared stores (dataset, labels, checkpoints) to the app's services (embedding cache,
training session, candidate queue, label overlay) and answers the page's questions with plain
dataclasses. Callbacks translate those into component props and Patches.

Browser sync model (see app/assets/keyboard.js): the page sends its keyboard/click events with a
per-tab sequence number and keeps re-sending them until acknowledged; :meth:`AppState.sync`
applies each (tab, seq) exactly once, in order, then tells the tab what changed relative to the
state the tab says it holds (``ClientView``), so a response Dash drops costs nothing.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from app.services.candidates import Candidate, CandidateQueue
from app.services.embeddings import EmbeddingCache, MapVersion
from app.services.images import png_data_uri
from app.services.overlay import LabelOverlay, OverlayFull
from app.services.training import SessionError, TrainingSession, TrainSettings, validate_settings
from app.services.workers import WorkerHub, XaiAnswer
from app.settings import AppSettings, checkpoint_name, resolve_config
from engine.errors import LatentLoopError
from engine.feedback import FeedbackError, FeedbackItem, ParsedFeedback, parse_instruction

UNCHANGED: Any = object()  # "the tab already has this": callbacks turn it into no_update
MAX_CLIENTS = 64


@dataclass
class ClientRecord:
    """Server-side memory of one browser tab: the events already applied and its selection."""

    last_seq: int = 0
    selected: int | None = None
    touched: float = field(default_factory=time.time)


@dataclass
class ClientView:
    """What a tab holds; echoed back by the tab with every sync (a dcc.Store)."""

    version: int | None = None
    gen: int | None = None
    rev: int | None = None
    sel: int | None = -2  # -2: unknown (never sent)
    sample_key: str = ""
    stats_key: str = ""
    queue_key: str = ""
    workers_key: str = ""
    feedback_key: str = ""

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "ClientView":
        if not isinstance(d, dict):
            return cls()
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SampleView:
    serial: int
    split: str  # "train" | "test"
    image: str  # PNG data URI
    recon: str | None
    top: list[tuple[int, float]]  # top-3 (class, probability)
    label: int | None
    true: int
    predicted: int
    certainty: float
    num_classes: int
    queue_pos: int | None = None


@dataclass
class StatsView:
    per_class: list[int]
    labelled: int
    unlabelled: int
    test_acc: float | None
    test_acc_step: int | None
    cli_added: int
    error: str = ""


@dataclass
class QueueView:
    items: list[Candidate]
    source: str
    strategy: str


@dataclass
class SyncResult:
    """Answer to one sync: every field is UNCHANGED unless the tab needs it."""

    client: ClientView
    ack: int
    figure: Any = UNCHANGED  # the big map figure (new embedding version)
    colours: Any = UNCHANGED  # per-version colour arrays (with a new figure)
    overlay_figure: Any = UNCHANGED  # the small overlay figure (new embedding version)
    overlay_full: Any = UNCHANGED  # dict: the whole overlay trace
    overlay_slots: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    selected_xy: Any = UNCHANGED  # (x, y) or None
    sample: Any = UNCHANGED  # SampleView or None
    stats: Any = UNCHANGED
    queue: Any = UNCHANGED
    workers: Any = UNCHANGED  # AppState.worker_status()
    feedback: Any = UNCHANGED  # (items, error) of AppState.feedback_items()
    notices: list[str] = field(default_factory=list)


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


class AppState:
    """The dashboard's model. Build it with :meth:`create` (loads data, model, first map)."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self._clients: OrderedDict[str, ClientRecord] = OrderedDict()
        self._events_lock = threading.Lock()
        self._labels_lock = threading.Lock()
        self._labels_cache: tuple[Any, np.ndarray] | None = None
        self._labels_error = ""
        self._cli_cache: dict[int, tuple[int, int]] = {}  # start id -> (log bytes read, count)
        self._viewer: Any = None
        self._viewer_weights: dict[str, np.ndarray] | None = None
        self._viewer_version = -1
        self._viewer_loaded = -1
        self._viewer_lock = threading.Lock()
        self._last_emb: tuple[int, int] | None = None
        self.startup_seconds = 0.0
        self.hub: WorkerHub | None = None
        self.run_dir: Path | None = None
        self._xai_pending: dict[str, tuple[int, int, Any, float]] = {}  # tab -> (id, serial, target, sent)
        self._xai_last: dict[str, XaiAnswer] = {}  # tab -> its newest answer
        self._xai_lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def create(cls, settings: AppSettings) -> "AppState":
        """Open the workspace, load the checkpoint if there is one and compute the first map."""
        from engine.checkpoints import CheckpointStore
        from engine.paths import project_root, snapshots_dir
        from engine.workspace import make_trainer, open_workspace

        t0 = time.perf_counter()
        self = cls(settings)
        self.checkpoints = CheckpointStore()
        name = checkpoint_name(settings)
        meta = None
        if self.checkpoints.exists(name):
            meta = self.checkpoints.load(name).meta
        cfg = resolve_config(settings, meta)
        self.cfg = cfg
        self.checkpoint = cfg.train.checkpoint
        ws = open_workspace(cfg=cfg)
        self.dataset = ws.dataset
        self.labels = ws.labels
        self.feedback = ws.feedback
        self.n_train = ws.dataset.n_train
        self.n_points = len(ws.dataset) if settings.map_points == "all" else ws.dataset.n_train
        self.num_classes = ws.dataset.num_classes
        self.has_checkpoint = meta is not None
        # This process's snapshots (weights for the XAI worker) and forecast arrays; removed by close().
        snapshots_dir().mkdir(parents=True, exist_ok=True)
        remove_orphan_run_dirs(snapshots_dir())
        self.run_dir = Path(tempfile.mkdtemp(prefix="app-", dir=snapshots_dir()))
        (self.run_dir / "pid").write_text(str(os.getpid()))
        trainer = make_trainer(ws, checkpoint=self.checkpoint, resume=self.has_checkpoint,
                               embed_every=cfg.train.refresh_every, snapshot_dir=self.run_dir)
        self.cache = EmbeddingCache(ws.dataset.targets, self.n_train, self.n_points, seed=cfg.seed)
        self.overlay = LabelOverlay(self.n_points)
        self.queue = CandidateQueue(self.n_train, size=settings.queue_size, seed=cfg.seed)
        self.session = TrainingSession(trainer, self.checkpoint, self.checkpoints, on_refresh=self._on_refresh)
        self.session.trained = self.has_checkpoint
        if settings.workers:
            trainer.write_snapshot()  # the XAI worker can explain the loaded model before any training
            self.hub = WorkerHub(project_root(), cfg.data.name, cfg.data.root, self.run_dir,
                                 self.run_dir / "forecast.npz", on_forecast=self._on_forecast,
                                 xai_budget_ms_per_min=settings.xai_budget_ms_per_min).start()
        emb = trainer.embed()
        self._on_refresh(emb, trainer.backend.get_weights(), self.has_checkpoint,
                         trainer.tau.predict_hard(emb.resp))
        self.session.drain()  # discard the startup Refresh (already applied)
        self.startup_seconds = time.perf_counter() - t0
        return self

    def close(self) -> None:
        """Stop the workers and remove this process's snapshots (the app is shutting down)."""
        if self.hub is not None:
            self.hub.stop()
            self.hub = None
        if self.run_dir is not None and not self.session.active:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def _on_refresh(self, emb: Any, weights: dict[str, np.ndarray] | None, trained: bool,
                    tau_pred: np.ndarray | None = None) -> None:
        key = (id(emb), int(emb.version))
        if key == self._last_emb:
            return  # the same embeddings reached us twice (direct call and trainer listener)
        self._last_emb = key
        v = self.cache.update(emb.mu, emb.probs, emb.resp, emb.step, trained)
        with self._viewer_lock:
            if weights is not None:
                self._viewer_weights = weights
                self._viewer_version = v.version
        labels = self.read_labels()
        self.overlay.rebuild(labels)
        if self.hub is not None:
            acc = self.session.last_eval.get("test_acc") if trained else None
            try:
                self.hub.submit_forecast(v.version, int(emb.step), emb.probs, labels, tau_pred, emb.mu,
                                         acc, int(self.session.target))
            except OSError as err:  # a full disk must not break the map refresh
                self.hub.forecast_error = f"could not write the forecast input: {err}"

    def _on_forecast(self, res: Any) -> None:
        """A forecast result (pump thread): its top candidates feed the queue's "forecast" source
        while the review window is open; when it is closed the queue says which gate holds it."""
        if res.window_open:
            note = f"review window open (step {res.step}): {len(res.candidates)} samples likely wrong next"
            self.queue.set_external(res.candidates, note=note)
        else:
            self.queue.set_external([], note=f"review window {res.reason} (step {res.step})")

    # -- labels ------------------------------------------------------------------------------------
    def read_labels(self) -> np.ndarray:
        """Current labels (-1 = none), cached by the store's version. A broken labels.csv (edited
        by hand while the app runs) keeps the last good labels and reports the error."""
        key = self.labels.version()
        with self._labels_lock:
            if self._labels_cache is not None and self._labels_cache[0] == key:
                return self._labels_cache[1]
        try:
            arr = self.labels.read()
            err = ""
        except LatentLoopError as e:
            err = str(e)
            with self._labels_lock:
                arr = self._labels_cache[1] if self._labels_cache else np.full(self.n_train, -1, np.int64)
                self._labels_error = err
            return arr
        arr.flags.writeable = False
        with self._labels_lock:
            self._labels_cache = (key, arr)
            self._labels_error = err
        return arr

    def log_position(self) -> int:
        """Id of the newest label change-log entry (0 if none): the page's starting point."""
        hist = self.labels.history()
        ids = [e.get("id") for e in hist if isinstance(e.get("id"), int)]
        return max(ids) if ids else 0

    def cli_added_since(self, start_id: int) -> int:
        """Labels set by anyone but the app (the CLI) after change-log entry ``start_id``.

        Reads only what was appended to the (append-only, JSON-lines) change log since the last
        call, so a keypress does not re-parse a long log.
        """
        import json

        start_id = int(start_id)
        path = self.labels.log_path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return 0
        offset, count = self._cli_cache.get(start_id, (0, 0))
        if size < offset:  # the log was replaced: count again from the start
            offset, count = 0, 0
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            end = chunk.rfind(b"\n") + 1  # a line still being appended is read next time
            for raw in chunk[:end].splitlines():
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue  # torn line from a crashed writer (skipped by the store too)
                if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
                    continue
                if entry["id"] <= start_id or entry.get("source") == "app" or entry.get("op") not in ("set", "import"):
                    continue
                count += sum(1 for ch in entry.get("changes", []) if isinstance(ch, dict) and ch.get("new") is not None)
            offset += end
            if len(self._cli_cache) > 256:
                self._cli_cache.clear()
            self._cli_cache[start_id] = (offset, count)
        return count

    # -- events from the browser ---------------------------------------------------------------------
    def _client(self, client_id: str) -> ClientRecord:
        rec = self._clients.get(client_id)
        if rec is None:
            rec = self._clients[client_id] = ClientRecord()
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(client_id)
        rec.touched = time.time()
        return rec

    def apply_events(self, client_id: str, events: Sequence[dict[str, Any]]) -> tuple[int, list[str]]:
        """Apply the tab's not-yet-applied events in sequence order. Returns (ack seq, notices)."""
        notices: list[str] = []
        with self._events_lock:
            rec = self._client(client_id)
            for e in sorted((e for e in events if isinstance(e, dict)), key=lambda e: int(e.get("seq", 0))):
                seq = int(e.get("seq", 0))
                if seq <= rec.last_seq:
                    continue  # already applied (the tab re-sends until acknowledged)
                rec.last_seq = seq
                msg = self._apply_event(rec, e)
                if msg:
                    notices.append(msg)
            return rec.last_seq, notices

    def _valid_serial(self, value: Any) -> int | None:
        try:
            s = int(value)
        except (TypeError, ValueError):
            return None
        return s if 0 <= s < self.n_points else None

    def _apply_event(self, rec: ClientRecord, e: dict[str, Any]) -> str:
        kind = e.get("kind")
        if kind == "select":
            rec.selected = self._valid_serial(e.get("serial"))
            return ""
        if kind == "clear":
            rec.selected = None
            return ""
        if kind == "label":
            serial = self._valid_serial(e.get("serial"))
            if serial is None:
                return "select a sample first (click a point or press n)"
            rec.selected = serial
            try:
                label = int(e.get("label"))
            except (TypeError, ValueError):
                return "bad label"
            if serial >= self.n_train:
                return f"#{serial} is a held-out test image: it cannot be labelled"
            if not 0 <= label < self.num_classes:
                return f"label {label} is out of range 0..{self.num_classes - 1}"
            try:
                self.labels.set(serial, label, source="app")
            except LatentLoopError as err:
                return f"label not saved: {err}"
            return ""
        if kind == "undo":
            try:
                res = self.labels.undo(source="app")
            except LatentLoopError as err:
                return f"undo failed: {err}"
            if res is None:
                return "nothing to undo"
            changed = ", ".join(f"#{c['serial']}" for c in res["changes"][:5])
            return f"undid {res['op']} of {changed or 'nothing (changed since)'}"
        return f"unknown event {kind!r}"

    def selected_of(self, client_id: str) -> int | None:
        with self._events_lock:
            rec = self._clients.get(client_id)
            return rec.selected if rec else None

    # -- the sync --------------------------------------------------------------------------------------
    def sync(self, client_id: str, events: Sequence[dict[str, Any]], view: ClientView, strategy: str,
             start_id: int = 0) -> SyncResult:
        """Apply the tab's events, then report what differs from ``view``."""
        ack, notices = self.apply_events(client_id, events) if client_id else (0, [])
        with self._events_lock:
            selected = self._client(client_id).selected if client_id else None
        labels = self.read_labels()
        self.overlay.sync(labels)
        v = self.cache.current
        out = SyncResult(client=ClientView(**view.to_dict()), ack=ack, notices=notices)
        if v is None:
            return out
        new = out.client
        if view.version != v.version:
            full = self.overlay.full()
            out.figure = self.map_figure(v)
            out.overlay_figure = self.overlay_figure(v, full, selected)
            out.colours = self.colour_store(v)
            new.version, new.gen, new.rev, new.sel = v.version, full.gen, full.rev, selected
        else:
            delta = self.overlay.delta(view.gen, view.rev)
            if delta is None:
                full = self.overlay.full()
                out.overlay_full = self.overlay_trace(v, full)
                new.gen, new.rev = full.gen, full.rev
            else:
                from app.figures import overlay_slot_values

                new.gen, new.rev, slots = delta
                out.overlay_slots = overlay_slot_values(v, slots)
            if view.sel != selected:
                out.selected_xy = self.point_xy(v, selected)
                new.sel = selected
        lab_sel = int(labels[selected]) if selected is not None and selected < self.n_train else -1
        sample_key = f"{v.version}:{selected}:{lab_sel}"
        if sample_key != view.sample_key:
            out.sample = self.sample_view(selected, v, labels) if selected is not None else None
            new.sample_key = sample_key
        status = self.session.status()
        stats_key = f"{self.labels.version()}:{status.get('test_acc')}:{start_id}:{self._labels_error}"
        if stats_key != view.stats_key:
            out.stats = self.stats_view(labels, start_id)
            new.stats_key = stats_key
        try:
            qv = self.queue_view(strategy, v, labels)  # cached ranking; filtering is cheap
        except (LatentLoopError, ValueError) as err:
            qv = QueueView([], f"error: {err}", strategy)
        # Keyed by what is shown, so labelling a sample outside the queue re-sends nothing.
        queue_key = f"{self.queue.key(strategy, v.version)}:{','.join(str(c.serial) for c in qv.items)}"
        if queue_key != view.queue_key:
            out.queue = qv
            new.queue_key = queue_key
        # The worker line and the list of feedback boxes ride on this poll too: every callback
        # costs the browser tens of milliseconds of CPU (next to the training thread), so the page
        # has no timer of its own for them.
        ws = self.worker_status()
        f = ws["forecast"]
        workers_key = repr([(w.name, w.state, w.restarts) for w in ws["workers"]]
                           + [f and (f.version, f.window_open, f.reason), ws["forecast_error"]])
        if workers_key != view.workers_key:
            out.workers = ws
            new.workers_key = workers_key
        feedback_key = repr(self.feedback.version())
        if feedback_key != view.feedback_key:
            out.feedback = self.feedback_items()
            new.feedback_key = feedback_key
        return out

    # -- views -------------------------------------------------------------------------------------------
    @staticmethod
    def point_xy(v: MapVersion, serial: int | None) -> tuple[float, float] | None:
        if serial is None or not 0 <= serial < v.n_points:
            return None
        return float(v.xy[serial, 0]), float(v.xy[serial, 1])

    def map_figure(self, v: MapVersion) -> dict[str, Any]:
        from app import figures

        return self.cache.derived("map_figure", v, figures.map_figure)  # built once per version

    def overlay_figure(self, v: MapVersion, full: OverlayFull, selected: int | None) -> dict[str, Any]:
        from app import figures

        return figures.overlay_figure(v, full, self.point_xy(v, selected))

    def colour_store(self, v: MapVersion) -> dict[str, Any]:
        from app import figures

        return self.cache.derived("colours", v, figures.colour_store)

    def overlay_trace(self, v: MapVersion, full: OverlayFull) -> dict[str, Any]:
        from app import figures

        return figures.overlay_trace(v, full)

    def _viewer_backend(self) -> Any:
        """A second model instance for reconstructions, fed with the weights of the shown version
        (the trainer's own model belongs to the training thread)."""
        if self._viewer is None:
            from engine.backends.base import create_backend

            self._viewer = create_backend(self.cfg.backend, self.cfg.model, self.cfg.device, self.cfg.threads)
            self._viewer.init(self.cfg.seed)
        if self._viewer_loaded != self._viewer_version and self._viewer_weights is not None:
            self._viewer.set_weights(self._viewer_weights)
            self._viewer_loaded = self._viewer_version
        return self._viewer

    def reconstruct(self, serial: int) -> np.ndarray | None:
        from engine.backends.base import Out

        with self._viewer_lock:
            try:
                out = self._viewer_backend().predict(self.dataset.float_images(np.array([serial])))
            except Exception:  # a reconstruction is a nicety; never break the panel for it
                return None
        return out[Out.RECON][0]

    def mc_probs(self, serials: np.ndarray, n: int = 10) -> np.ndarray:
        with self._viewer_lock:
            return self._viewer_backend().predict_mc(self.dataset.float_images(serials), n, seed=self.cfg.seed)

    def sample_view(self, serial: int, v: MapVersion | None = None, labels: np.ndarray | None = None) -> SampleView:
        v = v or self.cache.current
        labels = self.read_labels() if labels is None else labels
        p = v.probs[serial]
        top = [(int(c), float(p[c])) for c in np.argsort(-p, kind="stable")[:3]]
        recon = self.reconstruct(serial)
        lab = int(labels[serial]) if serial < self.n_train and labels[serial] >= 0 else None
        return SampleView(serial=serial, split="train" if serial < self.n_train else "test",
                          image=png_data_uri(self.dataset.images[serial]),
                          recon=png_data_uri(recon) if recon is not None else None,
                          top=top, label=lab, true=int(self.dataset.targets[serial]), predicted=top[0][0],
                          certainty=top[0][1], num_classes=self.num_classes)

    def stats_view(self, labels: np.ndarray, start_id: int = 0) -> StatsView:
        lab = labels[: self.n_train]
        per = np.bincount(lab[lab >= 0], minlength=self.num_classes)
        status = self.session.status()
        acc = status.get("test_acc")
        last = self.session.last_eval
        return StatsView(per_class=[int(x) for x in per], labelled=int((lab >= 0).sum()),
                         unlabelled=int((lab < 0).sum()),
                         test_acc=float(acc) if acc is not None and np.isfinite(acc) else None,
                         test_acc_step=last.get("step"), cli_added=self.cli_added_since(start_id),
                         error=self._labels_error)

    def queue_view(self, strategy: str, v: MapVersion | None = None, labels: np.ndarray | None = None) -> QueueView:
        v = v or self.cache.current
        labels = self.read_labels() if labels is None else labels
        items = self.queue.items(strategy, v.version, v.probs, v.mu, labels, mc=self.mc_probs)
        return QueueView(items, self.queue.describe_source(strategy), strategy)

    # -- page-level facts ------------------------------------------------------------------------------
    def page_context(self) -> dict[str, Any]:
        """What the layout needs when a tab opens (read here; the layout does no I/O)."""
        v = self.cache.current
        status = self.session.status()
        return {
            "dataset": self.dataset.name, "n_points": self.n_points, "n_train": self.n_train,
            "num_classes": self.num_classes, "checkpoint": self.checkpoint,
            "trained": bool(v.trained) if v else False, "has_checkpoint": self.has_checkpoint,
            "version": v.version if v else 0, "step": v.step if v else 0,
            "log_id": self.log_position(), "status": status, "settings": self.default_train_values(),
            "strategies": CandidateQueue.strategies(), "checkpoints": self.list_checkpoints(),
            "label_poll_ms": self.settings.label_poll_ms, "train_poll_ms": self.settings.train_poll_ms,
            "backend": self.cfg.backend, "history": self.curve_points(0, 0)[0],
        }

    def default_train_values(self) -> dict[str, Any]:
        c = self.session.trainer.cfg
        return {"steps": 500, "lr": c.train.lr, "alpha": c.loss.alpha, "beta": c.loss.beta, "gamma": c.loss.gamma,
                "consistency": c.loss.consistency, "refresh_every": c.train.refresh_every, "save_at_end": True}

    # -- training ----------------------------------------------------------------------------------------
    def start_training(self, values: dict[str, Any]) -> dict[str, str]:
        """Validate the panel's values and start a run. Returns field errors (empty: started)."""
        settings, cfg, errors = validate_settings(self.session.trainer.cfg, values)
        if errors:
            return errors
        assert settings is not None
        try:
            self.session.start(settings, cfg)
        except SessionError as err:
            return {"_": str(err)}
        return {}

    def training_command(self, command: str) -> str:
        """pause / resume / stop; returns an error message or ''."""
        try:
            getattr(self.session, command)()
        except SessionError as err:
            return str(err)
        return ""

    def curve_points(self, metrics_from: int, evals_from: int) -> tuple[dict[str, tuple[list[int], list[float]]], int, int]:
        """New curve points since the tab's cursors: ``(series -> (steps, values), m_cursor, e_cursor)``."""
        h = self.session.history
        m = h.metrics[metrics_from:]
        e = h.evals[evals_from:]
        pts: dict[str, tuple[list[int], list[float]]] = {}
        for key in ("loss", "rec", "sup", "acc_labeled"):
            pts[key] = ([r["step"] for r in m], [float(r.get(key, float("nan"))) for r in m])
        pts["test_acc"] = ([r["step"] for r in e], [float(r["test_acc"]) for r in e])
        return pts, metrics_from + len(m), evals_from + len(e)

    # -- saliency (the XAI worker) -------------------------------------------------------------------------
    def saliency(self, client: str, serial: int, target: str | int = "pred", wait_s: float | None = None) -> XaiAnswer:
        """Ask the XAI worker about ``serial`` for this tab and wait up to ``wait_s`` (default
        ``settings.xai_wait_ms``); a "pending" answer is picked up later with :meth:`poll_saliency`."""
        if self.hub is None:
            return XaiAnswer("error", message="saliency is off (the app was started with --no-workers)")
        if not 0 <= int(serial) < self.n_points:
            return XaiAnswer("error", message=f"no sample #{serial}")
        with self._xai_lock:  # the pending entry is always the tab's newest request
            rid = self.hub.request_xai(client, int(serial), target)
            if rid is None:
                return XaiAnswer("error", message="the XAI worker is (re)starting: saliency follows in a moment")
            self._xai_pending[client] = (rid, int(serial), target, time.monotonic())
        return self.poll_saliency(client, wait_s) or XaiAnswer("error", message="request lost")

    def poll_saliency(self, client: str, wait_s: float | None = None) -> XaiAnswer | None:
        """The answer to the tab's pending request, waiting up to ``wait_s``; the tab's newest
        answer when nothing is pending. A request older than 3 s is sent again: the worker may
        have been restarted and lost it."""
        wait = self.settings.xai_wait_ms / 1000.0 if wait_s is None else wait_s
        deadline = time.monotonic() + wait
        while True:
            with self._xai_lock:
                pending = self._xai_pending.get(client)
            if pending is None or self.hub is None:
                # Answered already (maybe to a concurrent poll whose response the page dropped).
                return self._xai_last.get(client)
            rid, serial, target, sent = pending
            ans = self.hub.wait_xai(client, rid, max(0.0, deadline - time.monotonic()))
            if ans.state == "superseded":
                continue  # Dash runs callbacks concurrently: another request of this tab replaced ours
            if ans.state == "pending":
                if time.monotonic() - sent > 3.0:
                    return self.saliency(client, serial, target, 0.0)
                return ans
            with self._xai_lock:
                if self._xai_pending.get(client, (None,))[0] == rid:
                    self._xai_pending.pop(client, None)
                    self._xai_last[client] = ans
            return ans

    # -- feedback boxes ------------------------------------------------------------------------------------
    def feedback_items(self) -> tuple[list[FeedbackItem], str]:
        """Every stored box (newest first) and the error if feedback.jsonl cannot be read."""
        try:
            return sorted(self.feedback.list(), key=lambda i: -i.id), ""
        except LatentLoopError as err:
            return [], str(err)

    def feedback_for(self, serial: int | None) -> FeedbackItem | None:
        items, _ = self.feedback_items()
        return next((i for i in items if i.sample_idx == serial), None)

    def parse_feedback(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> ParsedFeedback:
        """What ``text`` (on top of the drawn box) would do to ``serial``; FeedbackError if it cannot
        apply. "increase focus by 10%" starts from the stored strength of the sample's box."""
        if serial is None:
            raise FeedbackError("select a training sample first")
        if not 0 <= int(serial) < self.n_train:
            raise FeedbackError(f"#{serial} is a held-out test image: feedback boxes are for training samples")
        old = self.feedback_for(int(serial))
        base = old.strength if old is not None else 1.0
        box = tuple(drawn) if drawn is not None else None
        parsed = parse_instruction(text or "", box, base)
        if parsed.action == "set" and parsed.box is None:
            if old is None:
                raise FeedbackError(parsed.describe())
            parsed.box = old.box  # only the strength changes
            parsed.notes.append("keeps the stored box")
        return parsed

    def apply_feedback(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> str:
        """Store (or remove) the sample's box in feedback.jsonl and hand the set to the trainer."""
        parsed = self.parse_feedback(serial, text, drawn)
        assert serial is not None
        if parsed.action == "remove":
            return self.remove_feedback(int(serial))
        item = self.feedback.add(int(serial), parsed.box, parsed.strength, (text or "").strip())
        how = self.session.apply_feedback()
        return f"#{item.sample_idx}: {parsed.describe()}; {how}"

    def remove_feedback(self, serial: int) -> str:
        if not self.feedback.remove(int(serial)):
            return f"#{serial} has no feedback box"
        how = self.session.apply_feedback()
        return f"removed the box of #{serial}; {how}"

    # -- workers ---------------------------------------------------------------------------------------------
    def worker_status(self) -> dict[str, Any]:
        """The child processes' states and the forecast's review window, for the status line."""
        if self.hub is None:
            return {"workers": [], "forecast": None, "forecast_error": ""}
        return {"workers": self.hub.status(), "forecast": self.hub.forecast, "forecast_error": self.hub.forecast_error}

    # -- checkpoints -------------------------------------------------------------------------------------
    def list_checkpoints(self) -> list[dict[str, Any]]:
        try:
            return self.checkpoints.list()
        except LatentLoopError:
            return []

    def save_checkpoint(self, name: str) -> str:
        from engine.checkpoints import check_name

        check_name(name)
        return self.session.save_checkpoint(name)

    def load_checkpoint(self, name: str) -> str:
        """Load weights and state (training must be stopped) and recompute the map."""
        def load(tr: Any) -> str:
            meta = tr.load_checkpoint(name, store=self.checkpoints)
            if self.hub is not None and tr.snapshot_dir is not None:
                # Snapshots are ordered by step: a checkpoint at an earlier step must not lose to
                # the snapshots of the model it replaces.
                for old in tr.snapshot_dir.glob("step_*"):
                    shutil.rmtree(old, ignore_errors=True)
                tr.write_snapshot()
            emb = tr.embed()
            self.session.target = tr.step
            self._on_refresh(emb, tr.backend.get_weights(), True, tr.tau.predict_hard(emb.resp))
            self.session.step = tr.step
            self.session.target = tr.step
            self.session.run_start = tr.step
            self.session.phase = tr.phase
            self.session.last_eval = dict(tr.last_eval or {})
            self.session.trained = True
            return f"loaded checkpoint {name!r} (step {meta.get('step')})"

        msg = self.session.exclusive(load)
        self.session.drain()
        self.checkpoint = name
        self.session.checkpoint = name
        return msg

    def fork_checkpoint(self, src: str, dst: str) -> str:
        path = self.checkpoints.fork(src, dst)
        return f"forked {src!r} to {dst!r} ({path.name})"


__all__ = ["AppState", "AppSettings", "ClientView", "SyncResult", "SampleView", "StatsView", "QueueView",
           "UNCHANGED", "TrainSettings"]
