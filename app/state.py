"""AppState: the dashboard's model as plain Python (no Dash): the services, built and wired.

It opens the shared stores (dataset, labels, feedback, checkpoints), builds the services and wires
them together, each handed what it uses:

- :class:`~app.services.sync.ClientSync`: each tab's events (what the tab must be sent is the
  presenter's: app/presenter/label_page.py);
- :class:`~app.services.refresh.RefreshPump` and :class:`~app.services.refresh.MapRefresher`: new
  embeddings -> map version, on its own thread;
- :class:`~app.services.viewer.ViewerModel`: reconstructions and MC predictions;
- :class:`~app.services.xai.SaliencyRequests`: the tabs' saliency requests to the XAI worker;
- :class:`~app.services.feedback.FeedbackBoxes` and :class:`~app.services.checkpoints.CheckpointService`;
- :class:`~app.services.label_issues.LabelIssueService`: suspicious labels (docs/label-issues.md);
- :class:`~app.services.mixture.MixtureView`: the Model page's mixture (docs/model-page.md);
- :class:`~app.services.runs.RunBrowser`: the experiment and simulation runs (docs/runs.md);
- :class:`~app.services.probes.ProbeService`: the probes, run at each map refresh (docs/dashboard.md);
- :class:`~app.services.holdout.HoldoutSetting`: the held-out fraction of a dataset without test truth;
- :class:`~app.services.labels.LabelReader`, :class:`~app.services.training.TrainingSession`,
  the candidate queue, the label overlay, the embedding cache and the worker hub.

Callbacks, tests and benchmarks reach a service as ``state.<service>`` and ask it directly (docs/
architecture.md, section 4); the map's refresh orchestration is :class:`~app.services.refresh.MapRefresher`
(``state.refresher``); what a tab of the Label page is sent is the presenter's (app/presenter/). What
stays here besides construction: :meth:`page_context` (what a tab's layout opens with).
"""

from __future__ import annotations

import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

from app.services.candidates import CandidateQueue
from app.services.checkpoints import CheckpointService
from app.services.density import DensityMap
from app.services.embeddings import EmbeddingCache
from app.services.feedback import FeedbackBoxes
from app.services.holdout import HoldoutSetting
from app.services.label_issues import LabelIssueService, queue_menu
from app.services.labels import LabelReader
from app.services.mixture import MixtureView
from app.services.overlay import LabelOverlay
from app.services.page_prefs import PagePrefs
from app.services.probes import ProbeService
from app.services.projection import SETTINGS_FILE, ProjectionService
from app.services.refresh import MapRefresher, RefreshPump
from app.services.rundir import make_run_dir
from app.services.runs import METRICS, RunBrowser
from app.services.sync import ClientSync
from app.services.training import TrainingSession
from app.services.viewer import ViewerModel
from app.services.workers import WorkerHub
from app.services.xai import SaliencyRequests
from app.settings import AppSettings, checkpoint_name, resolve_config
from app.viewmodels import PageContext
from engine.datasets import Dataset
from engine.datasets.classes import read_class_names
from engine.stores.feedback import FeedbackStore
from engine.stores.labels import LabelStore
from engine.workspace import make_trainer, open_workspace, probe_checkpoint


class AppState:
    """The dashboard's model. Build it with :meth:`create` (loads data, model, first map)."""

    # set by create()
    dataset: Dataset
    labels: LabelStore
    feedback: FeedbackStore
    n_train: int
    n_points: int
    num_classes: int
    class_names: list[str]  # the dataset's (engine.datasets.classes; "0".. without classes.json)
    has_checkpoint: bool
    clients: ClientSync
    cache: EmbeddingCache
    overlay: LabelOverlay
    queue: CandidateQueue
    label_reader: LabelReader
    issues: LabelIssueService
    mixture: MixtureView
    projection: ProjectionService
    prefs: PagePrefs
    viewer: ViewerModel
    session: TrainingSession
    boxes: FeedbackBoxes
    ckpt: CheckpointService
    runs: RunBrowser
    xai: SaliencyRequests
    probes: ProbeService
    refresher: MapRefresher
    holdout: HoldoutSetting

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.startup_seconds = 0.0
        self.hub: WorkerHub | None = None
        self.run_dir: Path | None = None
        # Late-bound: the refresher is built in create(), from the services it feeds, one of which (the
        # training session) offers to this pump.
        self.pump = RefreshPump(lambda *args: self.refresher.on_refresh(*args))  # noqa: PLW0108
        self.density = DensityMap(settings.map_raster_above, settings.map_points_max)  # maps of very large datasets

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def create(cls, settings: AppSettings) -> AppState:
        """Open the workspace, load the checkpoint if there is one and compute the first map."""
        from engine.analysis.projection import UmapParams
        from engine.paths import artifacts_dir, data_dir, project_root, snapshots_dir
        from engine.stores.checkpoints import CheckpointStore
        from engine.training.tau import TauClassifier

        t0 = time.perf_counter()
        self = cls(settings)
        store = CheckpointStore()
        name = checkpoint_name(settings)
        meta = store.load(name).meta if store.exists(name) else None
        cfg = resolve_config(settings, meta)
        ws = open_workspace(cfg=cfg)
        cfg = ws.cfg  # with the dataset's image shape and classes where the config left the defaults
        self.dataset, self.labels, self.feedback = ws.dataset, ws.labels, ws.feedback
        self.n_train = ws.dataset.n_train
        self.n_points = len(ws.dataset) if settings.map_points == "all" else ws.dataset.n_train
        self.num_classes = ws.dataset.num_classes
        self.class_names = read_class_names(cfg.data.name, self.num_classes, cfg.data.root)
        self.clients = ClientSync(ws.labels, self.n_points, self.n_train, self.num_classes)
        self.has_checkpoint = meta is not None
        # This process's snapshots (weights for the XAI worker) and forecast arrays; removed by close().
        self.run_dir = make_run_dir(snapshots_dir())
        trainer = make_trainer(
            ws,
            checkpoint=cfg.train.checkpoint,
            resume=self.has_checkpoint,
            force=settings.force,
            embed_every=cfg.train.refresh_every,
            snapshot_dir=self.run_dir,
        )
        self.cache = EmbeddingCache(ws.dataset.targets, self.n_train, self.n_points, seed=cfg.seed)
        self.overlay = LabelOverlay(self.n_points)
        self.queue = CandidateQueue(self.n_train, size=settings.queue_size, seed=cfg.seed)
        self.label_reader = LabelReader(ws.labels, self.n_train)
        self.issues = LabelIssueService(
            ws.labels, TauClassifier(cfg.model, cfg.train.tau_prior).prior_counts, self.n_train, self.class_names
        )
        self.viewer = ViewerModel(cfg, ws.dataset.float_images)
        self.mixture = MixtureView(ws.dataset.images, ws.dataset.targets, self.n_train, self.viewer)
        self.projection = ProjectionService(
            data_dir(cfg.data.name, cfg.data.root) / SETTINGS_FILE,
            UmapParams(seed=cfg.seed),
            on_ready=lambda version, xy: self.refresher.on_umap(version, xy),  # noqa: PLW0108 (late-bound)
        )
        self.prefs = PagePrefs(data_dir(cfg.data.name, cfg.data.root) / SETTINGS_FILE)
        self.holdout = HoldoutSetting(data_dir(cfg.data.name, cfg.data.root), not ws.dataset.scored_on_test)
        self.session = TrainingSession(
            trainer, cfg.train.checkpoint, store, on_refresh=self.pump.offer, trained=self.has_checkpoint
        )
        self.boxes = FeedbackBoxes(ws.feedback, self.session, self.n_train)
        self.probes = ProbeService(trainer.cfg, ws.dataset, self.session, self.n_points).start()
        self.ckpt = CheckpointService(
            store,
            self.session,
            self.pump,
            lambda: self.hub is not None,
            config=cfg,
            followers=(self.viewer.set_config, self.probes.set_config),
        )
        self.runs = RunBrowser(artifacts_dir(), store, self.ckpt, probe=partial(probe_checkpoint, store=store))
        self.xai = SaliencyRequests(lambda: self.hub, self.n_points, settings.xai_wait_ms)
        self.refresher = MapRefresher(
            self.cache,
            self.projection,
            self.viewer,
            self.overlay,
            self.mixture,
            self.queue,
            self.session,
            read_labels=self.label_reader.read,
            submit_probes=self.probes.submit,
            hub=lambda: self.hub,
            n_points=self.n_points,
        )
        if settings.workers:
            trainer.write_snapshot()  # the XAI worker can explain the loaded model before any training
            self.hub = WorkerHub(
                project_root(),
                cfg.data.name,
                cfg.data.root,
                self.run_dir,
                self.run_dir / "forecast.npz",
                on_forecast=self.refresher.on_forecast,
                xai_budget_ms_per_min=settings.xai_budget_ms_per_min,
                class_names=self.class_names,  # the forecast's reasons name the classes
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

    def page_context(self, live: dict[str, Any]) -> PageContext:
        """What the layout needs when a tab opens (read here; the layout does no I/O). ``live``: the
        live endpoint's answer (app/presenter/label_page.py), read first by the caller because it folds
        the trainer's queued events in."""
        v = self.cache.current
        return PageContext(
            live=live,
            dataset=self.dataset.name,
            n_points=self.n_points,
            n_train=self.n_train,
            num_classes=self.num_classes,
            class_names=self.class_names,
            image_shape=self.dataset.image_shape,
            checkpoint=str(self.session.checkpoint),
            trained=bool(v.trained) if v else False,
            has_checkpoint=self.has_checkpoint,
            version=v.version if v else 0,
            step=v.step if v else 0,
            log_id=self.label_reader.log_position(),
            status=self.session.status(),
            settings=self.session.panel_defaults(),
            strategies=queue_menu(),
            checkpoints=self.ckpt.list(),
            label_poll_ms=self.settings.label_poll_ms,
            train_poll_ms=self.settings.train_poll_ms,
            curve_ms=self.settings.curve_ms,
            backend=self.ckpt.config.backend,
            history=self.session.curve_points(0, 0)[0],
            projection=self.projection.choice(),
            probes=self.probes.view(),
            probe_options=self.probes.colour_options(),
            curriculum={
                "warmup_steps": self.ckpt.config.curriculum.warmup_steps,
                "anneal_steps": self.ckpt.config.curriculum.anneal_steps,
            },
            run_metrics=[{"value": k, "label": f"{what} by {x}"} for k, (what, x) in METRICS.items()],
            auto_advance=self.prefs.auto_advance(),
            holdout_fraction=self.holdout.fraction()[0] if self.holdout.active else None,
            has_truth=self.dataset.has_ground_truth,
            acc_split=self.session.acc_split,
        )
