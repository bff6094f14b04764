"""Opening the shared files for a dataset: one helper for the CLI, the app and the workers; and the
orchestrations both the CLI and the app run on them (probing a checkpoint)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.backends.base import Out
from engine.config import Config, fit_to_dataset, load_config
from engine.datasets import Dataset, load_dataset
from engine.stores.feedback import FeedbackStore, feedback_store_for
from engine.stores.labels import LabelStore, label_store_for
from engine.tasks import TaskConfig

if TYPE_CHECKING:
    from engine.analysis.probes import ProbeRun
    from engine.stores.checkpoints import CheckpointStore


@dataclass
class Workspace:
    cfg: Config
    dataset: Dataset
    labels: LabelStore
    feedback: FeedbackStore
    notes: list[str] = field(default_factory=list)  # what the config took from the dataset (fit_to_dataset)


def open_workspace(
    config: str | Path | None = None, overrides: dict[str, Any] | None = None, cfg: Config | None = None
) -> Workspace:
    """Load the config, the dataset it names and that dataset's label store; a config that leaves
    the image shape and class count at their defaults takes the dataset's (:func:`fit_to_dataset`)."""
    cfg = cfg or load_config(config, {k: v for k, v in (overrides or {}).items() if v is not None})
    ds = load_dataset(cfg.data.name, root=cfg.data.root)
    cfg, notes = fit_to_dataset(cfg, ds.image_shape, ds.num_classes)
    labels = label_store_for(cfg.data.name, ds.n_train, ds.num_classes, root=cfg.data.root)
    feedback = feedback_store_for(cfg.data.name, ds.n_train, root=cfg.data.root)
    return Workspace(cfg, ds, labels, feedback, notes)


def make_trainer(
    ws: Workspace,
    checkpoint: str | None = None,
    resume: bool = False,
    weights_only: bool = False,
    force: bool = False,
    **kw: Any,
):
    """A Trainer for the workspace, optionally restored from a checkpoint (``force``: also one
    trained on another dataset)."""
    from engine.training.trainer import Trainer

    kw.setdefault("feedback_store", ws.feedback)
    name = checkpoint or ws.cfg.train.checkpoint
    if resume:  # refused before the trainer touches the dataset's files
        from engine.stores.checkpoints import CheckpointStore
        from engine.training.checkpoints import check_fits

        check_fits(name, CheckpointStore().load(name).meta, ws.dataset, ws.cfg.data.root, force)
    trainer = Trainer(ws.cfg, ws.dataset, ws.labels, **kw)
    if resume:
        trainer.load_checkpoint(name, weights_only=weights_only, force=force)
    return trainer


def predict_all(trainer: Any, idx: np.ndarray | None = None) -> dict[Out, np.ndarray]:
    """Backend outputs (every key) for the given dataset indices (default: every sample), streamed
    in chunks of uint8 rows (engine.training.streaming), by the weights the run reports (the
    weight average when it has one: :meth:`Trainer.averaged_weights`)."""
    from engine.training.streaming import predict_rows

    with trainer.averaged_weights():
        return predict_rows(trainer.backend, trainer.ds.images, idx, keys=tuple(Out))


def probe_checkpoint(
    name: str,
    *,
    store: CheckpointStore | None = None,
    tasks: Sequence[TaskConfig] | None = None,
    max_train: int | None = None,
    out: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[ProbeRun, dict[str, Any], Path]:
    """Probe checkpoint ``name`` (its model, dataset and, unless given, tasks) and write the JSON
    to ``out`` (default ``artifacts/probes/<name>-step<step>.json``). ProbeError without tasks.
    ``log`` gets a line as each stage starts (the progress of a long probe)."""
    from engine.analysis.probes import ProbeError, probe_json, probe_outputs  # scikit-learn only when probing
    from engine.config import from_dict
    from engine.io import atomic_write_bytes
    from engine.paths import artifacts_dir
    from engine.stores.checkpoints import CheckpointStore

    store = store or CheckpointStore()
    meta = store.load(name).meta
    cfg = from_dict(meta.get("config") or {})
    tasks = list(cfg.tasks if tasks is None else tasks)
    if not tasks:
        raise ProbeError(f"checkpoint {name!r} has no tasks to probe: fork it with a tasks: list (docs/tasks.md)")
    say = log or (lambda msg: None)
    ws = open_workspace(cfg=cfg)
    from engine.training.checkpoints import check_fits

    # the shape before the trainer (a dataset rewritten with other images since gets the checkpoint's
    # reason, not the config's); load_checkpoint below checks the dataset itself, hashing it once
    check_fits(name, meta, ws.dataset, ws.cfg.data.root, force=True)
    trainer = make_trainer(ws)
    trainer.load_checkpoint(name, store=store, weights_only=True, force=force)
    step = int(meta.get("step", 0))
    say(f"predicting {len(ws.dataset):,} images of {ws.dataset.name} with checkpoint {name} (step {step})")
    predictions = predict_all(trainer)
    fit_rows = ws.dataset.n_train if not max_train else min(max_train, ws.dataset.n_train)
    say(
        f"fitting {len(tasks)} probe(s) on up to {fit_rows:,} training rows, scoring on {ws.dataset.n_test:,} test rows"
    )
    probes = probe_outputs(cfg, ws.dataset, predictions, tasks, max_train)
    doc = probe_json(probes, checkpoint=name, step=step, dataset=ws.dataset.name, backend=cfg.backend)
    path = out or artifacts_dir() / "probes" / f"{name}-step{step}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(doc, indent=2) + "\n").encode())
    return probes, doc, path
