"""Framework-neutral training loop. Talks to a framework only through the Backend protocol.

Over 400 lines: the step loop, its batches and its commands share the trainer's state and read
best in one place; checkpoints and snapshots are already apart (engine/training/checkpoints.py).

It takes commands (engine.events: Pause, Resume, Stop, ...) from ``commands`` and posts events to
``events`` without ever blocking: a full queue drops its oldest item. Listeners (callables) get
every event synchronously, which is how the CLI draws its progress bar.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine import events as ev
from engine.backends.base import Backend, Batch, Out
from engine.backends.registry import create_backend
from engine.config import Config, ConfigError
from engine.datasets import Dataset, validation_idx
from engine.errors import DatasetError, LabelError, LatentLoopError
from engine.stores import holdout
from engine.stores.feedback import FeedbackItem
from engine.stores.holdout import HELD_OUT
from engine.stores.labels import LabelStore
from engine.stores.labels_csv import labels_hash
from engine.tasks import TaskConfig
from engine.training.augment import ViewPlan, draw_affine, draw_shift, roi_mask
from engine.training.checkpoints import EMA_EVERY, TrainerCheckpoints, average_is_ready
from engine.training.curriculum import Curriculum
from engine.training.probe_edit import apply_probe_command
from engine.training.streaming import predict_rows
from engine.training.task_targets import aux_targets, task_arrays
from engine.training.tau import TauClassifier


@dataclass
class Embeddings:
    """Model outputs for every sample of the dataset at one training step."""

    version: int
    step: int
    mu: np.ndarray  # float32 [N, D]
    probs: np.ndarray  # float32 [N, C]
    resp: np.ndarray  # float32 [N, K]


DEVICE_SHARE = 0.5  # training images are uploaded to the device when they fill at most this share of its free memory
log = logging.getLogger(__name__)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


class Trainer(TrainerCheckpoints):
    """Trains the SSVAE on a dataset with the labels currently in the label store."""

    def __init__(
        self,
        cfg: Config,
        dataset: Dataset,
        labels: LabelStore,
        backend: Backend | None = None,
        commands: queue.Queue[Any] | None = None,
        events: queue.Queue[Any] | None = None,
        snapshot_dir: Path | None = None,
        embed_every: int | None = None,
        feedback_store: Any = None,
    ) -> None:
        self.cfg = cfg
        self.ds = dataset
        self.labels = labels
        if dataset.num_classes != cfg.model.num_classes:
            raise ConfigError(
                f"dataset {dataset.name!r} has {dataset.num_classes} classes but model.num_classes is "
                f"{cfg.model.num_classes}: set model.num_classes: {dataset.num_classes} in a config file and "
                "pass it with -c"
            )
        if dataset.image_shape != cfg.model.image_shape:
            raise ConfigError(
                f"dataset {dataset.name!r} has images of shape {list(dataset.image_shape)} (height, width, "
                f"channels) but model.image_shape is {list(cfg.model.image_shape)}: set model.image_shape: "
                f"{list(dataset.image_shape)} in a config file and pass it with -c"
            )
        self.backend = backend or create_backend(cfg.backend, cfg.model, cfg.device, cfg.threads)
        self.backend.set_lr(cfg.train.lr)
        self.commands = commands
        self.events = events
        self.listeners: list[Callable[[Any], None]] = []
        self.curriculum = Curriculum(cfg)
        self.tau = TauClassifier(cfg.model, cfg.train.tau_prior, cfg.train.tau_temperature)
        self.rng = np.random.default_rng(cfg.seed)
        try:
            self.val_idx = validation_idx(dataset, cfg.data.validation)
        except ValueError as err:
            raise ConfigError(f"{err}: hold out fewer (data.validation, --validation)") from None
        if len(self.val_idx) and not (np.asarray(dataset.targets)[self.val_idx] >= 0).any():
            raise ConfigError(
                f"data.validation scores true classes, and dataset {dataset.name!r} knows none of them: leave it at "
                "0; the accuracy then comes from your held-out labels (latentloop label holdout)"
            )
        # Unlabelled batches draw from here; None = the whole training split (same draws as ever).
        self._pool = np.setdiff1d(dataset.train_idx, self.val_idx) if len(self.val_idx) else None
        self.step = 0
        self.weights_step = 0  # the step of the weights held (a checkpoint loaded only to predict sets it)
        self.phase = self.curriculum.phase(0)
        self.last_eval: dict[str, Any] = {}  # test_acc, tau_acc, n_test, n_labels, split
        self.history: list[dict[str, Any]] = []  # one row per log step (saved in the checkpoint's meta)
        self.evaluations: list[dict[str, Any]] = []  # one row per evaluation (likewise)
        self.feedback: dict[int, FeedbackItem] = {}
        self.feedback_store = feedback_store  # engine.stores.feedback.FeedbackStore: polled like labels
        self.feedback_error = ""  # why the newest feedback.jsonl could not be read ("" = it could)
        self._feedback_version: tuple | None = None
        self.snapshot_dir = snapshot_dir
        self.embed_every = embed_every
        self.embeddings: Embeddings | None = None
        self._labels_version: tuple | None = None
        self.labels_error = ""  # why the newest labels.csv could not be read ("" = it could)
        self._labels_hash = ""
        self._lab_idx = np.zeros(0, np.int64)
        self._lab_y = np.zeros(0, np.int64)
        # held-out user labels (engine/stores/holdout.py): the accuracy of a dataset with no test truth
        self.holds_out = not dataset.scored_on_test
        self.holdout_fraction = 0.0
        self._held_idx = np.zeros(0, np.int64)
        self._held_y = np.zeros(0, np.int64)
        self._paused = False
        self._stop: ev.Stop | None = None
        self._last_snapshot = 0.0
        self._saved_ids: dict[str, str] = {}
        self._holder: Backend | None = None  # the backend that holds the training images (hold_images)
        train_rows = self._pool if self._pool is not None else dataset.train_idx
        self._task_values, self._task_w = aux_targets(cfg, dataset, train_rows)
        self.backend.init(cfg.seed)
        self.backend.set_tau(self.tau.matrix)
        self.reload_labels()
        self.reload_feedback()

    # -- events and commands ----------------------------------------------------------
    def emit(self, event: Any) -> None:
        for fn in self.listeners:
            fn(event)
        if self.events is None:
            return
        while True:
            try:
                self.events.put_nowait(event)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.events.get_nowait()  # drop the oldest: the UI wants the newest state

    def _handle(self, cmd: Any) -> None:
        if isinstance(cmd, ev.Pause):
            if not self._paused:
                self._paused = True
                self.emit(ev.State("paused", step=self.step))
        elif isinstance(cmd, ev.Resume):
            if self._paused:
                self._paused = False
                self.emit(ev.State("running", step=self.step))
        elif isinstance(cmd, ev.Stop):
            self._stop = cmd
        elif isinstance(cmd, ev.SaveCheckpoint):
            self.save_checkpoint(cmd.name)
        elif isinstance(cmd, ev.ApplyFeedback):
            self.set_feedback(cmd.items)
        elif isinstance(cmd, ev.AdvancePhase):
            self.advance_phase()
        elif isinstance(cmd, (ev.SetProbe, ev.RemoveProbe)):
            self.cfg = apply_probe_command(self.cfg, cmd)  # probes only measure: the model is untouched
        else:
            raise ValueError(f"unknown trainer command {cmd!r}")

    def _poll_commands(self) -> None:
        if self.commands is None:
            return
        while True:
            try:
                cmd = self.commands.get(
                    block=self._paused and self._stop is None, timeout=0.2 if self._paused else None
                )
            except queue.Empty:
                if self._paused and self._stop is None:
                    continue
                return
            self._handle(cmd)
            if not self._paused or self._stop is not None:
                # drain whatever else is queued without blocking
                while True:
                    try:
                        self._handle(self.commands.get_nowait())
                    except queue.Empty:
                        break
                if not self._paused or self._stop is not None:
                    return

    def attach(self, commands: queue.Queue[Any], events: queue.Queue[Any], listener: Callable[[Any], None]) -> None:
        """Take commands from ``commands``, post events to ``events`` and call ``listener`` with every
        event: a driver that owns the trainer (the app's TrainingSession)."""
        self.commands, self.events = commands, events
        self.listeners.append(listener)

    def set_run_config(self, cfg: Config | None, embed_every: int | None) -> None:
        """Between runs: the next run's config (the same model; loss weights, learning rate and
        curriculum may differ) and its refresh interval."""
        if cfg is not None:
            self.cfg = cfg
            self.curriculum = Curriculum(cfg)
        self.embed_every = embed_every

    def set_tasks(self, tasks: list[TaskConfig]) -> None:
        """Between runs: the config's tasks with other probes (probes only measure: the model is untouched)."""
        self.cfg = self.cfg.model_copy(update={"tasks": list(tasks)})

    def advance_phase(self) -> str | None:
        """Run the next curriculum phase from the next step on (its KL ramp from the start); emits
        Phase. Returns the new phase, or None in the last phase, where nothing changes."""
        name = self.curriculum.advance(self.step)
        if name is not None:
            self.phase = name
            self.emit(ev.Phase(name, self.step))
        return name

    def set_feedback(self, items: Any) -> None:
        """Replace the ROI feedback set (dicts with sample_idx, x0..y1, strength)."""
        fb: dict[int, FeedbackItem] = {}
        for it in items:
            idx = int(it["sample_idx"])
            if not 0 <= idx < self.ds.n_train:
                raise ValueError(f"feedback for sample {idx}: not a training sample")
            fb[idx] = FeedbackItem(
                idx, float(it["x0"]), float(it["y0"]), float(it["x1"]), float(it["y1"]), float(it.get("strength", 1.0))
            )
        self.feedback = fb

    def reload_feedback(self) -> bool:
        """Pick up feedback.jsonl changes (CLI or app). Returns True if it changed."""
        store = self.feedback_store
        if store is None or (version := store.version()) == self._feedback_version:
            return False
        try:
            items = store.trainer_items()
        except LatentLoopError as err:  # a hand-broken file must not kill a run: keep the boxes, retry
            self.feedback_error = str(err)
            return False
        self._feedback_version, self.feedback_error = version, ""
        self.set_feedback(items)
        return True

    # -- labels and tau ---------------------------------------------------------------
    def reload_labels(self) -> bool:
        """Pick up label changes made by anyone (CLI, app). Returns True if they changed. A broken
        file fails the first load; later ones keep the last good labels and emit LabelsError."""
        data_dir = self.labels.path.parent
        version = (*self.labels.version(), *(holdout.fraction_version(data_dir) if self.holds_out else ()))
        if version == self._labels_version:
            return False
        try:
            arr = self.labels.read()
            fraction = holdout.read_fraction(data_dir) if self.holds_out else 0.0
        except (LabelError, DatasetError) as err:
            if self._labels_version is None:
                raise
            self._labels_version = version  # re-read once it changes, not on every poll
            if str(err) != self.labels_error:
                self.labels_error = str(err)
                self.emit(ev.LabelsError(self.step, self.labels_error, self.n_labels))
            return False
        self._labels_version = version
        usable = arr.copy()
        usable[self.val_idx] = -1  # a held-out validation sample is never trained on, labelled or not
        self._lab_idx, self._held_idx = holdout.label_split(usable, fraction)
        self.holdout_fraction = fraction
        self._held_y = arr[self._held_idx].astype(np.int64)
        self._lab_y = arr[self._lab_idx].astype(np.int64)
        self._labels_hash = labels_hash(dict(zip(self._lab_idx.tolist(), self._lab_y.tolist(), strict=True)))
        self.update_tau()
        if self.labels_error:
            self.labels_error = ""
            self.emit(ev.LabelsError(self.step, "", self.n_labels))
        return True

    def update_tau(self) -> None:
        if len(self._lab_idx):
            resp = self.backend.predict(self.ds.float_images(self._lab_idx))[Out.RESP]
            self.tau.update(resp, self._lab_y)
        else:
            self.tau.counts = self.tau.prior_counts.copy()
        self.backend.set_tau(self.tau.matrix)

    @property
    def held_out_rows(self) -> np.ndarray:
        """Serials of the user labels held out of training to score the model (empty unless the
        dataset has no test truth: engine/stores/holdout.py)."""
        return self._held_idx

    @property
    def n_labels(self) -> int:
        return len(self._lab_idx)

    # -- batches ------------------------------------------------------------------------
    def hold_images(self) -> None:
        """Hand the training images to the backend, which draws every batch's views from them: on
        the device when they fit (at most DEVICE_SHARE of its free memory), else streamed by row
        from host memory (said once). On the host (cpu) the dataset's own array is the copy."""
        images = self.ds.images[: self.ds.n_train]  # a view: batches only read training rows
        free = self.backend.device_free_bytes()
        upload = free is not None and images.nbytes <= DEVICE_SHARE * free
        if free is not None and not upload:
            log.warning(
                "dataset %r: its %s of training images do not fit the device %s (%s free, at most half is used): "
                "batches stream from host memory",
                self.ds.name,
                _mib(images.nbytes),
                self.cfg.device,
                _mib(free),
            )
        self.backend.hold_images(images, upload)
        self._holder = self.backend

    def make_batch(self) -> Batch:
        if self._holder is not self.backend:  # the first batch, or a new backend (reconfigure)
            self.hold_images()
        t = self.cfg.train
        n_train = self.ds.n_train
        if self._pool is None:
            idx_u = self.rng.integers(0, n_train, t.batch_unlabeled)
        else:
            idx_u = self._pool[self.rng.integers(0, len(self._pool), t.batch_unlabeled)]
        parts = [idx_u]
        y = [np.full(len(idx_u), -1, np.int64)]
        if self.n_labels and t.batch_labeled:
            pick = self.rng.integers(0, self.n_labels, t.batch_labeled)
            parts.append(self._lab_idx[pick])
            y.append(self._lab_y[pick])
        fb_idx = np.array(sorted(self.feedback), np.int64)
        if len(fb_idx):
            fb_pick = fb_idx[self.rng.integers(0, len(fb_idx), min(8, len(fb_idx)))]
            parts.append(fb_pick)
            lab = np.full(self.ds.n_train, -1, np.int64)
            lab[self._lab_idx] = self._lab_y
            y.append(lab[fb_pick])
        idx = np.concatenate(parts)
        n_fb = len(fb_pick) if len(fb_idx) else 0
        h, w = self.cfg.model.height, self.cfg.model.width
        roi_m = np.ones((len(idx), h, w), np.float32)
        roi_w = np.zeros(len(idx), np.float32)
        for row in range(len(idx) - n_fb, len(idx)):
            item = self.feedback[int(idx[row])]
            roi_m[row] = roi_mask(item.box, h, w)
            roi_w[row] = item.strength
        if t.augment_rotate or t.augment_scale:
            aug: Any = draw_affine(self.rng, len(idx), t.augment_shift, t.augment_rotate, t.augment_scale)
        else:
            aug = draw_shift(self.rng, len(idx), t.augment_shift)
        weak = None
        if t.weak_shift:
            # The main view too (FixMatch's weak augmentation), except boxed feedback rows: their
            # boxes are in the stored image's coordinates.
            weak = np.zeros((len(idx), 2), np.int64)
            weak[: len(idx) - n_fb] = draw_shift(self.rng, len(idx) - n_fb, t.weak_shift)
        x, x_aug = self.backend.views(ViewPlan(idx, aug, weak))
        y_all = np.concatenate(y).astype(np.int32)
        task_target, task_mask = task_arrays(self.cfg.model.aux, self._task_values, idx, y_all)
        return Batch(
            x=x,
            x_aug=x_aug,
            y=y_all,
            eps=self.rng.standard_normal((len(idx), self.cfg.model.latent_dim), dtype=np.float32),
            drop=self.rng.random((len(idx), self.cfg.model.hidden), dtype=np.float32),
            drop_aug=self.rng.random((len(idx), self.cfg.model.hidden), dtype=np.float32),
            roi_mask=roi_m,
            roi_weight=roi_w,
            w=self.curriculum.weights(self.step, has_feedback=bool(len(fb_idx))),
            threshold=np.asarray(self.cfg.loss.pseudo_threshold, np.float32),
            task_target=task_target,
            task_mask=task_mask,
            task_w=self._task_w,
        )

    # -- evaluation and embeddings --------------------------------------------------------
    @contextlib.contextmanager
    def averaged_weights(self):
        """Within the block the backend holds the averaged weights and the tau they give on the
        labelled samples; the live weights and tau come back afterwards, exactly. The averaged
        weights (``train.ema_decay`` > 0, the default) are the model a run reports, once
        :func:`average_is_ready`, so evaluation, the map's embeddings and every CLI prediction use
        them; training steps use the live ones."""
        step = max(self.step, self.weights_step)
        if not self.backend.has_average() or not average_is_ready(self.cfg.train.ema_decay, step):
            yield
            return
        counts = self.tau.counts.copy()
        self.backend.swap_average()
        self.update_tau()
        try:
            yield
        finally:
            self.backend.swap_average()
            self.tau.counts = counts
            self.backend.set_tau(self.tau.matrix)

    def eval_rows(self) -> tuple[str, np.ndarray, np.ndarray]:
        """``(split, rows, classes)`` that accuracy is scored on: the validation split when the
        config holds one out, else the test split's rows with a true class, else (a dataset with
        no test truth) the held-out user labels (engine/reports/accuracy.py names the three)."""
        targets = np.asarray(self.ds.targets)
        if len(self.val_idx):
            split, rows = "validation", self.val_idx
        elif self.holds_out:
            split, rows = HELD_OUT, self._held_idx
        else:
            split, rows = "test", self.ds.test_idx
        if split != HELD_OUT and self.ds.unknown_targets:  # rows without a true class cannot be scored
            rows = rows[targets[rows] >= 0]
        if self.cfg.train.eval_limit:
            rows = rows[: self.cfg.train.eval_limit]
        classes = self._held_y[: len(rows)] if split == HELD_OUT else targets[rows]
        return split, rows, np.asarray(classes, np.int64)

    def evaluate(self) -> ev.Evaluation:
        """Accuracy on the rows of :meth:`eval_rows` (never on the labels it trains on)."""
        split, test, y = self.eval_rows()
        if len(test) == 0:
            e = ev.Evaluation(self.step, float("nan"), float("nan"), 0, self.n_labels, split)
        else:
            with self.averaged_weights():
                out = predict_rows(self.backend, self.ds.images, test, (Out.PROBS, Out.RESP))
                acc = float((out[Out.PROBS].argmax(1) == y).mean())
                tau_acc = float((self.tau.predict_hard(out[Out.RESP]) == y).mean())
            e = ev.Evaluation(self.step, acc, tau_acc, len(test), self.n_labels, split)
        self.last_eval = {
            "test_acc": e.test_acc,
            "tau_acc": e.tau_acc,
            "n_test": e.n_test,
            "n_labels": e.n_labels,
            "split": split,
        }
        self.evaluations.append({"step": self.step, **self.last_eval})
        self.emit(e)
        return e

    def embed(self) -> Embeddings:
        """Model outputs for every sample; bumps the embedding version and emits Refresh."""
        with self.averaged_weights():
            out = predict_rows(self.backend, self.ds.images)  # streamed: no float copy of every image
        version = (self.embeddings.version + 1) if self.embeddings else 1
        self.embeddings = Embeddings(version, self.step, out[Out.MU], out[Out.PROBS], out[Out.RESP])
        self.emit(ev.Refresh(version, self.step))
        return self.embeddings

    # -- the loop ------------------------------------------------------------------------------
    @property
    def epoch(self) -> float:
        per_step = self.cfg.train.batch_unlabeled + (self.cfg.train.batch_labeled if self.n_labels else 0)
        return self.step * per_step / max(1, self.ds.n_train)

    def run(self, steps: int | None = None, evaluate_at_end: bool = True) -> dict[str, Any]:
        """Train until ``steps`` total steps (default config train.steps) or a Stop command;
        then evaluate on the test split unless the last evaluation is current."""
        target = self.cfg.train.steps if steps is None else steps
        t = self.cfg.train
        self._stop = None
        self.reload_labels()  # changes made while idle (labels, the held-out fraction) before any step
        self.emit(ev.State("running", step=self.step))
        self.emit(ev.Phase(self.phase, self.step))
        try:
            t0 = time.perf_counter()
            last_t, samples = t0, 0
            handle = None
            while self.step < target:
                self._poll_commands()
                if self._stop is not None:
                    break
                batch = self.make_batch()
                self.backend.mean_teacher = t.mean_teacher and average_is_ready(t.ema_decay, self.step)
                handle = self.backend.train_step(batch)
                samples += len(batch["y"])
                self.step += 1
                if t.ema_decay and self.step % EMA_EVERY == 0:
                    self.backend.average_weights(t.ema_decay**EMA_EVERY)
                phase = self.curriculum.phase(self.step)  # the phase the next step runs in
                if phase != self.phase:
                    self.phase = phase
                    self.emit(ev.Phase(phase, self.step))
                if self.step % t.tau_every == 0:
                    self.reload_feedback()
                    if not self.reload_labels():
                        self.update_tau()  # responsibilities moved even if the labels did not
                if self.step % t.log_every == 0 or self.step == target:
                    m = self.backend.read_metrics(handle)
                    now = time.perf_counter()
                    sps = samples / max(now - last_t, 1e-9)
                    last_t, samples = now, 0
                    # the phase this step ran in (self.phase is already the next step's)
                    self.history.append({"step": self.step, "phase": self.curriculum.phase(self.step - 1), **m})
                    self.emit(
                        ev.Metrics(
                            self.step,
                            round(self.epoch, 4),
                            self.phase,
                            {k: v for k, v in m.items() if k not in ("acc_labeled", "n_labeled")},
                            m["acc_labeled"],
                            sps,
                        )
                    )
                if self.step % t.eval_every == 0:
                    self.evaluate()
                if self.embed_every and self.step % self.embed_every == 0:
                    self.embed()
                self.finish_snapshot(wait=False)
                if self._snapshot_due():
                    self.start_snapshot()
            self.finish_snapshot()
            if self._snapshot_due():  # one skipped while the writer was busy: the workers get the last weights
                self.write_snapshot()
            stale = not self.last_eval or self.last_eval.get("n_labels") != self.n_labels or self.step % t.eval_every
            if evaluate_at_end and stale:
                self.evaluate()
            if self._stop is not None and self._stop.save:
                self.save_checkpoint()
            self.emit(ev.State("stopped" if self._stop is not None else "finished", step=self.step))
            return {"step": self.step, "phase": self.phase, **self.last_eval, "seconds": time.perf_counter() - t0}
        except Exception as err:
            with contextlib.suppress(Exception):  # the writer's own failure is not this error
                self.finish_snapshot()
            self.emit(ev.State("error", message=f"{type(err).__name__}: {err}", step=self.step))
            raise
