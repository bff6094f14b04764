"""AppState: the dashboard's model as plain Python (no Dash), a thin facade over its services.

It opens the shared stores (dataset, labels, feedback, checkpoints), builds the services and
answers the page's questions with the dataclasses of :mod:`app.viewmodels`:

- :class:`~app.services.sync.ClientSync`: each tab's events (what the tab must be sent is the
  presenter's: app/presenter/label_page.py);
- :class:`~app.services.refresh.RefreshPump`: new embeddings -> map version, on its own thread;
- :class:`~app.services.viewer.ViewerModel`: reconstructions and MC predictions;
- :class:`~app.services.xai.SaliencyRequests`: the tabs' saliency requests to the XAI worker;
- :class:`~app.services.feedback.FeedbackBoxes` and :class:`~app.services.checkpoints.CheckpointService`;
- :class:`~app.services.label_issues.LabelIssueService`: suspicious labels (docs/label-issues.md);
- :class:`~app.services.mixture.MixtureView`: the Model page's mixture (docs/model-page.md);
- :class:`~app.services.runs.RunBrowser`: the experiment and simulation runs (docs/runs.md);
- :class:`~app.services.probes.ProbeService`: the probes, run at each map refresh (docs/dashboard.md);
- :class:`~app.services.labels.LabelReader`, :class:`~app.services.training.TrainingSession`,
  the candidate queue, the label overlay, the embedding cache and the worker hub.

Callbacks call the methods below; a new page reads what it needs from here (see docs/architecture.md, section 4).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.presenter.views import strategies
from app.services.candidates import CandidateQueue
from app.services.checkpoints import CheckpointService
from app.services.density import DensityMap
from app.services.embeddings import EmbeddingCache, MapVersion
from app.services.feedback import FeedbackBoxes
from app.services.label_issues import LabelIssueService
from app.services.labels import LabelReader
from app.services.mixture import MixtureView
from app.services.overlay import LabelOverlay
from app.services.probes import ProbeService
from app.services.projection import SETTINGS_FILE, ProjectionService
from app.services.refresh import RefreshPump
from app.services.rundir import make_run_dir
from app.services.runs import METRICS, RunBrowser
from app.services.sync import ClientSync
from app.services.training import TrainingSession
from app.services.viewer import ViewerModel
from app.services.workers import WorkerHub, XaiAnswer
from app.services.xai import SaliencyRequests
from app.settings import AppSettings, checkpoint_name, resolve_config
from engine.config import Config
from engine.datasets import Dataset
from engine.stores.feedback import FeedbackItem, FeedbackStore, ParsedFeedback
from engine.stores.labels import LabelStore


class AppState:
    """The dashboard's model. Build it with :meth:`create` (loads data, model, first map)."""

    # set by create()
    cfg: Config
    dataset: Dataset
    labels: LabelStore
    feedback: FeedbackStore
    n_train: int
    n_points: int
    num_classes: int
    has_checkpoint: bool
    clients: ClientSync
    cache: EmbeddingCache
    overlay: LabelOverlay
    queue: CandidateQueue
    label_reader: LabelReader
    issues: LabelIssueService
    mixture: MixtureView
    projection: ProjectionService
    viewer: ViewerModel
    session: TrainingSession
    boxes: FeedbackBoxes
    ckpt: CheckpointService
    runs: RunBrowser
    xai: SaliencyRequests
    probes: ProbeService

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.startup_seconds = 0.0
        self.hub: WorkerHub | None = None
        self.run_dir: Path | None = None
        self.pump = RefreshPump(self._on_refresh)
        self.density = DensityMap(settings.map_raster_above, settings.map_points_max)  # maps of very large datasets
        self._base: MapVersion | None = None  # the newest refresh's version, with the PCA map

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def create(cls, settings: AppSettings) -> AppState:
        """Open the workspace, load the checkpoint if there is one and compute the first map."""
        from engine.analysis.projection import UmapParams
        from engine.paths import artifacts_dir, data_dir, project_root, snapshots_dir
        from engine.stores.checkpoints import CheckpointStore
        from engine.training.tau import TauClassifier
        from engine.workspace import make_trainer, open_workspace

        t0 = time.perf_counter()
        self = cls(settings)
        store = CheckpointStore()
        name = checkpoint_name(settings)
        meta = store.load(name).meta if store.exists(name) else None
        self.cfg = cfg = resolve_config(settings, meta)
        ws = open_workspace(cfg=cfg)
        self.dataset, self.labels, self.feedback = ws.dataset, ws.labels, ws.feedback
        self.n_train = ws.dataset.n_train
        self.n_points = len(ws.dataset) if settings.map_points == "all" else ws.dataset.n_train
        self.num_classes = ws.dataset.num_classes
        self.has_checkpoint = meta is not None
        # This process's snapshots (weights for the XAI worker) and forecast arrays; removed by close().
        self.run_dir = make_run_dir(snapshots_dir())
        trainer = make_trainer(
            ws,
            checkpoint=cfg.train.checkpoint,
            resume=self.has_checkpoint,
            embed_every=cfg.train.refresh_every,
            snapshot_dir=self.run_dir,
        )
        self.clients = ClientSync(ws.labels, self.n_points, self.n_train, self.num_classes)
        self.cache = EmbeddingCache(ws.dataset.targets, self.n_train, self.n_points, seed=cfg.seed)
        self.overlay = LabelOverlay(self.n_points)
        self.queue = CandidateQueue(self.n_train, size=settings.queue_size, seed=cfg.seed)
        self.label_reader = LabelReader(ws.labels, self.n_train)
        self.issues = LabelIssueService(
            ws.labels, TauClassifier(cfg.model, cfg.train.tau_prior).prior_counts, self.n_train
        )
        self.viewer = ViewerModel(cfg, ws.dataset.float_images)
        self.mixture = MixtureView(ws.dataset.images, ws.dataset.targets, self.n_train, self.viewer)
        self.projection = ProjectionService(
            data_dir(cfg.data.name, cfg.data.root) / SETTINGS_FILE, UmapParams(seed=cfg.seed), on_ready=self._on_umap
        )
        self.session = TrainingSession(trainer, cfg.train.checkpoint, store, on_refresh=self.pump.offer)
        self.session.trained = self.has_checkpoint
        self.boxes = FeedbackBoxes(ws.feedback, self.session, self.n_train)
        self.ckpt = CheckpointService(
            store, self.session, self.pump, lambda: self.hub is not None, on_config=self._adopt_config
        )
        self.runs = RunBrowser(artifacts_dir(), store, self.ckpt, probe=lambda name: _probe_checkpoint(name, store))
        self.xai = SaliencyRequests(lambda: self.hub, self.n_points, settings.xai_wait_ms)
        self.probes = ProbeService(trainer.cfg, ws.dataset, self.session, self.n_points).start()
        if settings.workers:
            trainer.write_snapshot()  # the XAI worker can explain the loaded model before any training
            self.hub = WorkerHub(
                project_root(),
                cfg.data.name,
                cfg.data.root,
                self.run_dir,
                self.run_dir / "forecast.npz",
                on_forecast=self._on_forecast,
                xai_budget_ms_per_min=settings.xai_budget_ms_per_min,
            ).start()
        self.pump.start()
        trainer.embed()  # the session's listener hands it to the pump: the first map
        if not self.pump.wait(600.0) or self.cache.current is None:
            raise RuntimeError(f"the first map could not be computed: {self.pump.error or 'timed out'}")
        self.session.drain()  # the startup Refresh event (already on the map)
        self.density.warm(self.cache.current)  # numba compiles datashader's kernels now, not in the first request
        self.startup_seconds = time.perf_counter() - t0
        return self

    def close(self) -> None:
        """Stop the pump and the workers and remove this process's snapshots (the app is shutting down)."""
        self.pump.stop()
        self.probes.stop()
        self.projection.close()
        if self.hub is not None:
            self.hub.stop()
            self.hub = None
        if self.run_dir is not None and not self.session.active:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    @property
    def checkpoint(self) -> str:
        """The checkpoint Save and a run's automatic save write (the loaded one after a Load)."""
        return str(self.session.checkpoint)

    def _on_refresh(
        self, emb: Any, weights: dict[str, np.ndarray] | None, trained: bool, tau_pred: np.ndarray | None = None
    ) -> None:
        """New embeddings (the refresh pump's thread): project, publish, feed the forecast worker."""
        v = self._base = self.cache.update(emb.mu, emb.probs, emb.resp, emb.step, trained)
        self.projection.submit(v.version, v.mu[: self.n_points], reference=v.xy)  # returns at once
        self.probes.submit(v)  # returns at once: the probes run on their own thread
        if weights is not None:
            self.viewer.set_weights(weights, v.version)
        labels = self.read_labels()
        self.overlay.rebuild(labels)
        self.mixture.update(v, weights.get("tau") if weights else None, labels)
        if self.hub is not None:
            acc = self.session.last_eval.get("test_acc") if trained else None
            try:
                self.hub.submit_forecast(
                    v.version, int(emb.step), emb.probs, labels, tau_pred, emb.mu, acc, int(self.session.target)
                )
            except OSError as err:  # a full disk must not break the map refresh
                self.hub.forecast_error = f"could not write the forecast input: {err}"

    def _on_umap(self, version: int, xy: np.ndarray) -> None:
        """A UMAP map is ready (a projection job thread): show it if its version is still the newest."""
        base = self._base
        if base is not None and base.version == version:
            self.cache.reproject(base, xy)

    def set_projection(self, name: str) -> str:
        """The map card's PCA/UMAP switch: saved per dataset; PCA is shown at once, UMAP as soon as
        it is ready (at once if it already is). Returns the notice."""
        self.projection.set_choice(name)
        base, shown = self._base, self.cache.current
        if base is not None and shown is not None:
            xy = base.xy if name == "pca" else self.projection.coords(base.version)
            if xy is not None and xy is not shown.xy:
                self.cache.reproject(base, xy)
        return self.projection.status()["message"]

    def _on_forecast(self, res: Any) -> None:
        """A forecast result (pump thread): its top candidates feed the queue's "forecast" source
        while the review window is open; when it is closed the queue says which gate holds it."""
        if res.window_open:
            note = f"review window open (step {res.step}): {len(res.candidates)} samples likely wrong next"
            self.queue.set_external(res.candidates, note=note)
        else:
            self.queue.set_external([], note=f"review window {res.reason} (step {res.step})")

    # -- labels and the browser sync ------------------------------------------------------------------
    def read_labels(self) -> np.ndarray:
        return self.label_reader.read()

    def log_position(self) -> int:
        return self.label_reader.log_position()

    # -- views ---------------------------------------------------------------------------------------
    def page_context(self) -> dict[str, Any]:
        """What the layout needs when a tab opens (read here; the layout does no I/O)."""
        v = self.cache.current
        return {
            "dataset": self.dataset.name,
            "n_points": self.n_points,
            "n_train": self.n_train,
            "num_classes": self.num_classes,
            "checkpoint": self.checkpoint,
            "trained": bool(v.trained) if v else False,
            "has_checkpoint": self.has_checkpoint,
            "version": v.version if v else 0,
            "step": v.step if v else 0,
            "log_id": self.log_position(),
            "status": self.session.status(),
            "settings": self.default_train_values(),
            "strategies": strategies(),
            "checkpoints": self.list_checkpoints(),
            "label_poll_ms": self.settings.label_poll_ms,
            "train_poll_ms": self.settings.train_poll_ms,
            "curve_ms": self.settings.curve_ms,
            "backend": self.cfg.backend,
            "history": self.session.curve_points(0, 0)[0],
            "projection": self.projection.choice(),
            "probes": self.probes.view(),
            "probe_options": self.probes.colour_options(),
            "curriculum": {
                "warmup_steps": self.cfg.curriculum.warmup_steps,
                "anneal_steps": self.cfg.curriculum.anneal_steps,
            },
            "run_metrics": [{"value": k, "label": f"{what} by {x}"} for k, (what, x) in METRICS.items()],
        }

    # -- training (TrainingSession; the names the callbacks, tests and benchmarks use) --------------
    def default_train_values(self) -> dict[str, Any]:
        return self.session.panel_defaults()

    def start_training(self, values: dict[str, Any]) -> dict[str, str]:
        return self.session.start_from_panel(values)

    def training_command(self, command: str) -> str:
        return self.session.command(command)

    # -- saliency, feedback boxes, checkpoints (services; the names the callbacks use) -----------------
    def saliency(self, client: str, serial: int, target: str | int = "pred", wait_s: float | None = None) -> XaiAnswer:
        return self.xai.ask(client, serial, target, wait_s)

    def poll_saliency(self, client: str, wait_s: float | None = None) -> XaiAnswer | None:
        return self.xai.poll(client, wait_s)

    def feedback_items(self) -> tuple[list[FeedbackItem], str]:
        return self.boxes.items()

    def feedback_for(self, serial: int | None) -> FeedbackItem | None:
        return self.boxes.of(serial)

    def parse_feedback(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> ParsedFeedback:
        return self.boxes.parse(serial, text, drawn)

    def apply_feedback(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> str:
        return self.boxes.apply(serial, text, drawn)

    def remove_feedback(self, serial: int) -> str:
        return self.boxes.remove(serial)

    def list_checkpoints(self) -> list[dict[str, Any]]:
        return self.ckpt.list()

    def save_checkpoint(self, name: str) -> str:
        return self.ckpt.save(name)

    def load_checkpoint(self, name: str) -> str:
        return self.ckpt.load(name)

    def fork_checkpoint(self, src: str, dst: str, changes: str = "") -> str:
        return self.ckpt.fork(src, dst, changes)

    def _adopt_config(self, cfg: Config) -> None:
        """A loaded checkpoint's config (a branch): the viewer's model and the panels follow it."""
        self.cfg = cfg
        self.viewer.set_config(cfg)
        self.probes.set_config(cfg)


def _probe_checkpoint(name: str, store: Any) -> None:
    """Fit and save checkpoint ``name``'s probes (the Runs page's Probe button)."""
    from engine.analysis.probes import probe_checkpoint

    probe_checkpoint(name, store=store)
