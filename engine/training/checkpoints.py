"""The trainer's checkpoints and snapshots (a part of :class:`engine.training.trainer.Trainer`, kept in
its own module for size): ``artifacts/checkpoints/<name>.ckpt/`` for an exact resume, and the
weights-only snapshots the workers read (docs/architecture.md section 2)."""

from __future__ import annotations

import functools
import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import events as ev
from engine.config import config_to_dict
from engine.datasets.provenance import appended_from
from engine.threads import lower_this_thread

if TYPE_CHECKING:
    from engine.backends.base import Backend
    from engine.config import Config
    from engine.datasets import Dataset
    from engine.stores.checkpoints import Checkpoint
    from engine.training.curriculum import Curriculum
    from engine.training.tau import TauClassifier


def _model_of(meta: dict[str, Any]) -> Any:
    """A checkpoint's ModelConfig (keys added since it was written take their defaults), or its raw
    ``model`` entry when that is not a valid model config (then it cannot match)."""
    from pydantic import ValidationError

    from engine.config import ModelConfig

    raw = meta.get("model")
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError:
        return raw


def model_mismatch(name: str, stored: Any, model: Any) -> str:
    """The message for checkpoint ``name`` whose model config ``stored`` is not ``model``: the keys
    that differ, both values, and the fix."""
    from engine.config import ModelConfig

    mine = model.model_dump(mode="json") if hasattr(model, "model_dump") else dict(model)
    theirs = stored.model_dump(mode="json") if isinstance(stored, ModelConfig) else stored
    if isinstance(theirs, dict):
        keys = sorted(k for k in theirs.keys() | mine.keys() if theirs.get(k) != mine.get(k))
        shown = ", ".join(f"model.{k}: {theirs.get(k)!r} in the checkpoint, {mine.get(k)!r} here" for k in keys)
    else:
        shown = f"it records {theirs!r}"
    return (
        f"checkpoint {name!r} was trained with a different model config ({shown}): leave out -c to use the "
        "checkpoint's own config, or pass the config it was trained with (-c FILE)"
    )


def checkpoint_image_shape(meta: dict[str, Any]) -> tuple[int, int, int] | None:
    """The (height, width, channels) a checkpoint's model reads (a legacy ``image_size: S`` is
    (S, S, 1)), or None when its ``model`` entry is not a valid model config."""
    from engine.config import ModelConfig

    model = _model_of(meta)
    return model.image_shape if isinstance(model, ModelConfig) else None


def shape_mismatch(name: str, meta: dict[str, Any], ds_name: str, ds_shape: tuple[int, int, int]) -> str | None:
    """Why checkpoint ``name`` (its ``meta``) cannot read dataset ``ds_name``'s images of shape
    ``ds_shape``, or None when it can. Unlike another dataset's name or hash, no --force gets past
    it: the weights themselves are sized for one image shape."""
    shape = checkpoint_image_shape(meta)
    if shape is None or shape == tuple(ds_shape):
        return None
    return (
        f"checkpoint {name!r} was trained on images of shape {list(shape)} (height, width, channels) but "
        f"dataset {ds_name!r} has images of shape {list(ds_shape)}: a model reads one image shape only; "
        f"train a new model for {ds_name!r} (latentloop train with model.image_shape: {list(ds_shape)} in -c FILE)"
    )


def dataset_mismatch(
    name: str,
    meta: dict[str, Any],
    ds_name: str,
    ds_sha: Callable[[], str],
    earlier: Callable[[], list[str]] | None = None,
) -> str | None:
    """Why checkpoint ``name`` (its ``meta``) was not trained on dataset ``ds_name`` whose images
    hash to ``ds_sha()``, or None when it was (or records no dataset). A checkpoint from before
    ``dataset_sha256`` is checked by name only. ``earlier()``: the image hashes of the versions
    that ``data import --append`` extended (their Serials stay valid), accepted too."""
    theirs = meta.get("dataset")
    if not isinstance(theirs, str) or not theirs:
        return None
    way_out = (
        f"pass --force to use it anyway, or branch it for {ds_name!r} with "
        f"`latentloop ckpt fork {name} NEW --set data.name={ds_name}`"
    )
    if theirs != ds_name:
        return f"checkpoint {name!r} was trained on dataset {theirs!r}, not {ds_name!r}: {way_out}"
    sha = meta.get("dataset_sha256")
    if isinstance(sha, str) and sha and sha != ds_sha() and (earlier is None or sha not in earlier()):
        return (
            f"checkpoint {name!r} was trained on another version of dataset {ds_name!r} (images sha256 "
            f"{sha[:12]}..., now {ds_sha()[:12]}...): pass --force to use it anyway, or train a new model "
            "(latentloop train --overwrite)"
        )
    return None


EMA_EVERY = 10  # steps between updates of the weight average (train.ema_decay is per step); the first at step 10
AVERAGE_READY = 0.1  # the average is the model once the run's first weights are under this share of it


def average_is_ready(decay: float, step: int) -> bool:
    """Whether the weight average is the model yet at ``step``: it starts at the weights of step
    ``EMA_EVERY``, which still make ``decay ** (step - EMA_EVERY)`` of it; until that share is under
    ``AVERAGE_READY`` (about 230 steps at the default 0.99, 2,300 at 0.999) the live weights are the
    model, so a short run never reports weights still close to its random start; the mean teacher
    (``train.mean_teacher``) starts then too."""
    return decay > 0 and decay ** max(0, step - EMA_EVERY) < AVERAGE_READY


def served_weights(
    weights: dict[str, np.ndarray], state: dict[str, np.ndarray], meta: dict[str, Any]
) -> dict[str, np.ndarray]:
    """The weights a checkpoint predicts with: its weight average (``ema.*`` state arrays, saved when
    ``train.ema_decay`` > 0) once :func:`average_is_ready` at the checkpoint's step, else its live
    weights."""
    decay = float(((meta.get("config") or {}).get("train") or {}).get("ema_decay", 0.0))
    if not average_is_ready(decay, int(meta.get("step", 0))):
        return weights
    ema = saved_average(state)
    ema.pop("tau", None)  # a buffer, never averaged (older checkpoints saved one): the live one serves
    return {**weights, **ema}


def saved_average(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weight average a checkpoint's state arrays hold (``ema.*``), by weight name; {} if none."""
    return {k.removeprefix("ema."): v for k, v in state.items() if k.startswith("ema.")}


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    """A history row for meta.json: floats to 6 significant digits (NaN as None: JSON has no NaN)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, float):
            out[k] = None if v != v else float(f"{v:.6g}")
        elif isinstance(v, (int, str, bool)) or v is None:
            out[k] = v
        else:
            out[k] = float(f"{float(v):.6g}")
    return out


def check_fits(
    name: str, meta: dict[str, Any], ds: Any, root: Any, force: bool = False, ds_sha: Callable[[], str] | None = None
) -> None:
    """The one check before checkpoint ``name`` (its ``meta``) is used on dataset ``ds`` (data root
    ``root``): CheckpointError when it reads images of another shape (even with ``force``),
    DatasetMismatchError when it was trained on another dataset or another version of it (unless
    ``force``; the versions ``data import --append`` extended count as this one). ``ds_sha``: the
    images' sha256, computed when asked (default: hashed here)."""
    from engine.datasets.attributes import images_sha256
    from engine.errors import CheckpointError, DatasetMismatchError

    wrong_shape = shape_mismatch(name, meta, ds.name, ds.image_shape)
    if wrong_shape:
        raise CheckpointError(wrong_shape)
    if force:
        return
    sha = ds_sha or (lambda: images_sha256(ds.images))
    other = dataset_mismatch(name, meta, ds.name, sha, functools.partial(appended_from, ds.name, root))
    if other:
        raise DatasetMismatchError(other)


class TrainerCheckpoints:
    """Save, load and snapshot methods of the Trainer, over the trainer's own attributes."""

    if TYPE_CHECKING:  # what the Trainer provides
        cfg: Config
        backend: Backend
        ds: Dataset
        tau: TauClassifier
        curriculum: Curriculum
        rng: np.random.Generator
        step: int
        phase: str
        last_eval: dict[str, Any]
        history: list[dict[str, Any]]
        evaluations: list[dict[str, Any]]
        snapshot_dir: Path | None
        _pool: np.ndarray | None
        _task_values: list[np.ndarray | None]
        _task_w: np.ndarray
        _labels_hash: str
        _last_snapshot: float

        @property
        def epoch(self) -> float: ...

        @property
        def n_labels(self) -> int: ...

        def emit(self, event: Any) -> None: ...

    _origin: tuple[str, dict[str, Any]] | None = None  # (name, meta) of the checkpoint last loaded
    _snapshot_job: _SnapshotJob | None = None  # a snapshot being written (start_snapshot)
    _dataset_sha: str | None = None
    _saved_ids: dict[str, str]  # name -> id of the checkpoints this trainer saved or loaded

    def dataset_sha256(self) -> str:
        """sha256 of the dataset's images (computed once per trainer)."""
        if self._dataset_sha is None:
            from engine.datasets.attributes import images_sha256

            self._dataset_sha = images_sha256(self.ds.images)
        return self._dataset_sha

    def _id_for(self, name: str) -> str:
        """The ``id`` of checkpoint ``name``: a new one at its first save by this trainer, then kept."""
        return self._saved_ids.setdefault(name, uuid.uuid4().hex)

    def _lineage(self, name: str) -> dict[str, Any]:
        """``id``, ``parent``, ``parent_id`` and ``fork`` of a checkpoint saved as ``name``: kept from
        the loaded checkpoint when saved under its own name; a save under another name branches from
        it. Branches link by id, so a parent renamed, or removed and replaced, keeps its branches."""
        if self._origin is None:
            return {"id": self._id_for(name)}
        origin, meta = self._origin
        if origin == name:
            kept = {k: meta[k] for k in ("parent", "parent_id", "fork") if meta.get(k) is not None}
            if isinstance(meta.get("id"), str):
                self._saved_ids[name] = meta["id"]
            return {**kept, "id": self._id_for(name)}
        from engine.training.fork import config_diff

        diff = config_diff(meta.get("config") or {}, config_to_dict(self.cfg))
        return {
            "id": self._id_for(name),
            "parent": origin,
            "parent_id": meta.get("id"),
            "fork": {"parent": origin, "step": int(meta.get("step", 0)), "diff": diff},
        }

    def _meta(self, name: str) -> dict[str, Any]:
        return {
            **self._lineage(name),
            "name": name,
            "backend": self.backend.name,
            "model": self.cfg.model.model_dump(mode="json"),
            "config": config_to_dict(self.cfg),
            "step": self.step,
            "epoch": self.epoch,
            "phase": self.phase,
            "labels_count": self.n_labels,
            "labels_hash": self._labels_hash,  # of the labels trained with, even if the file broke since
            "metrics": self.last_eval,
            "rng_state": json.dumps(self.rng.bit_generator.state),
            "dataset": self.ds.name,
            "dataset_sha256": self.dataset_sha256(),
            # The curves so far (a branch starts with its parent's): what the Runs page compares.
            "history": [_rounded(r) for r in self.history],
            "evaluations": [_rounded(r) for r in self.evaluations],
        }

    def _state_arrays(self) -> dict[str, np.ndarray]:
        ema = {f"ema.{k}": v for k, v in (self.backend.averaged_weights() or {}).items()}  # for an exact resume
        adv = {"curriculum.advances": self.curriculum.state()} if self.curriculum.advances else {}
        return {"tau.counts": self.tau.counts.astype(np.float64), **ema, **adv}

    def save_checkpoint(self, name: str | None = None, store: Any = None) -> Path:
        from engine.stores.checkpoints import CheckpointStore

        name = name or self.cfg.train.checkpoint
        store = store or CheckpointStore()
        path = store.save(
            name, self.backend.get_weights(), self.backend.get_optimizer_state(), self._state_arrays(), self._meta(name)
        )
        self.emit(ev.CheckpointSaved(name, self.step))
        return path

    def reconfigure(self, cfg: Config) -> None:
        """Adopt another config between runs (a branch's: other tasks, loss weights, curriculum).
        A new set of auxiliary heads needs a new backend, initialised and then loaded by the caller;
        the data split must stay the same (the validation rows are part of a run's identity)."""
        from engine.backends.registry import create_backend
        from engine.errors import CheckpointError
        from engine.training.curriculum import Curriculum
        from engine.training.task_targets import aux_targets

        if cfg.data != self.cfg.data:
            raise CheckpointError("a branch trains on its parent's dataset and validation split")
        if cfg.model != self.cfg.model or cfg.backend != self.backend.name:
            self.backend = create_backend(cfg.backend, cfg.model, cfg.device, cfg.threads)
            self.backend.init(cfg.seed)
            self.backend.set_tau(self.tau.matrix)
        self.backend.set_lr(cfg.train.lr)
        self.cfg = cfg
        self.curriculum = Curriculum(cfg)
        rows = self._pool if self._pool is not None else self.ds.train_idx
        self._task_values, self._task_w = aux_targets(cfg, self.ds, rows)

    def load_checkpoint(
        self, name: str | None = None, store: Any = None, weights_only: bool = False, force: bool = False
    ) -> dict[str, Any]:
        """Restore weights, optimizer, tau counts, step and RNG (exact resume). CheckpointError when
        the checkpoint was trained on images of another shape, on another dataset (unless ``force``)
        or with another model config."""
        from engine.errors import CheckpointError
        from engine.stores.checkpoints import CheckpointStore

        name = name or self.cfg.train.checkpoint
        ck = (store or CheckpointStore()).load(name)
        check_fits(name, ck.meta, self.ds, self.cfg.data.root, force, self.dataset_sha256)
        model = _model_of(ck.meta)
        if model != self.cfg.model:
            raise CheckpointError(model_mismatch(name, model, self.cfg.model))
        try:
            self.backend.set_weights(ck.weights)
        except ValueError as err:
            raise CheckpointError(f"checkpoint {name!r}: {err}") from None
        if "tau.counts" in ck.state:
            self.tau.counts = np.asarray(ck.state["tau.counts"], np.float64)
        # the weight average is part of the model (what it reports and predicts with), not only of a resume
        self.backend.set_averaged_weights(saved_average(ck.state) or None)
        self.weights_step = int(ck.meta.get("step", 0))  # the average's age, also when only predicting
        if not weights_only:
            self.curriculum.set_state(ck.state.get("curriculum.advances"))  # absent before advances existed
            self.backend.set_optimizer_state(ck.optimizer)
            self.step = int(ck.meta.get("step", 0))
            if ck.meta.get("rng_state"):
                self.rng.bit_generator.state = json.loads(ck.meta["rng_state"])
            self.last_eval = dict(ck.meta.get("metrics") or {})
            self.history = [r for r in ck.meta.get("history") or [] if isinstance(r, dict)]
            self.evaluations = [r for r in ck.meta.get("evaluations") or [] if isinstance(r, dict)]
        self.phase = self.curriculum.phase(self.step)
        self.backend.set_tau(self.tau.matrix)
        self._origin = (name, dict(ck.meta))
        return ck.meta

    def write_snapshot(self) -> Path | None:
        """Weights-only checkpoint for the workers, written now; keeps the newest few."""
        if self.snapshot_dir is None:
            return None
        self.finish_snapshot()
        path, ckpt = self._snapshot_arrays()
        _store_snapshot(path, ckpt, self.cfg.train.snapshots_keep)
        self._last_snapshot = time.monotonic()
        self.emit(ev.Snapshot(str(path), self.step))
        return path

    def start_snapshot(self) -> None:
        """The training loop's periodic snapshot: the arrays are copied here, the files written by a
        niced thread, so the training thread does not wait for the disk (an MNIST snapshot is 4 MB,
        about 50 ms and 20 ms of CPU). Its Snapshot event comes from :meth:`finish_snapshot` once
        the files are there. While one is still being written, none is started."""
        job = self._snapshot_job
        if self.snapshot_dir is None or (job is not None and job.thread.is_alive()):
            return
        self.finish_snapshot()
        path, ckpt = self._snapshot_arrays()
        self._last_snapshot = time.monotonic()
        self._snapshot_job = _SnapshotJob(path, self.step, ckpt, self.cfg.train.snapshots_keep)

    def finish_snapshot(self, wait: bool = True) -> None:
        """Emit the Snapshot event of a background snapshot once it is on disk (``wait``: wait for
        it; else only if it is done); a failed write raises here, on the training thread."""
        job = self._snapshot_job
        if job is None or (not wait and job.thread.is_alive()):
            return
        job.thread.join()
        self._snapshot_job = None
        if job.error is not None:
            raise job.error
        self.emit(ev.Snapshot(str(job.path), job.step))

    def _snapshot_due(self) -> bool:
        due = time.monotonic() - self._last_snapshot >= self.cfg.train.snapshot_every_s
        return self.snapshot_dir is not None and due

    def _snapshot_arrays(self) -> tuple[Path, Checkpoint | None]:
        from engine.stores.checkpoints import Checkpoint

        assert self.snapshot_dir is not None
        self.snapshot_dir.mkdir(parents=True, exist_ok=True)
        path = self.snapshot_dir / f"step_{self.step:08d}"
        if path.exists():
            return path, None
        # copies the writer owns: a framework may hand out views of arrays the next step overwrites
        weights = {k: np.array(v) for k, v in self.backend.get_weights().items()}
        return path, Checkpoint(weights, {}, self._state_arrays(), self._meta(path.name))


SNAPSHOT_NICE = 10  # the snapshot writer's extra niceness: training keeps its core


def _store_snapshot(path: Path, ckpt: Checkpoint | None, keep: int) -> None:
    """Write a snapshot (None: it exists already) and delete all but the newest ``keep``."""
    from engine.stores.checkpoints import write_checkpoint_dir

    if ckpt is not None:
        write_checkpoint_dir(path, ckpt)
    old = sorted(p for p in path.parent.glob("step_*") if p.is_dir())
    for p in old[:-keep]:
        shutil.rmtree(p, ignore_errors=True)


class _SnapshotJob:
    """One snapshot being written by its own niced thread (TrainerCheckpoints.start_snapshot)."""

    def __init__(self, path: Path, step: int, ckpt: Checkpoint | None, keep: int) -> None:
        self.path, self.step = path, step
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(ckpt, keep), name="snapshot-writer", daemon=True)
        self.thread.start()

    def _run(self, ckpt: Checkpoint | None, keep: int) -> None:
        lower_this_thread(SNAPSHOT_NICE)
        try:
            _store_snapshot(self.path, ckpt, keep)
        except BaseException as err:  # handed to the training thread by finish_snapshot
            self.error = err
