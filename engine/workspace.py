"""Opening the shared files for a dataset: one helper for the CLI, the app and the workers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.backends.base import Out
from engine.config import Config, load_config
from engine.datasets import Dataset, load_dataset
from engine.stores.feedback import FeedbackStore, feedback_store_for
from engine.stores.labels import LabelStore, label_store_for


@dataclass
class Workspace:
    cfg: Config
    dataset: Dataset
    labels: LabelStore
    feedback: FeedbackStore


def open_workspace(
    config: str | Path | None = None, overrides: dict[str, Any] | None = None, cfg: Config | None = None
) -> Workspace:
    """Load the config, the dataset it names and that dataset's label store."""
    cfg = cfg or load_config(config, {k: v for k, v in (overrides or {}).items() if v is not None})
    ds = load_dataset(cfg.data.name, root=cfg.data.root)
    labels = label_store_for(cfg.data.name, ds.n_train, ds.num_classes, root=cfg.data.root)
    feedback = feedback_store_for(cfg.data.name, ds.n_train, root=cfg.data.root)
    return Workspace(cfg, ds, labels, feedback)


def make_trainer(
    ws: Workspace, checkpoint: str | None = None, resume: bool = False, weights_only: bool = False, **kw: Any
):
    """A Trainer for the workspace, optionally restored from a checkpoint."""
    from engine.training.trainer import Trainer

    kw.setdefault("feedback_store", ws.feedback)
    trainer = Trainer(ws.cfg, ws.dataset, ws.labels, **kw)
    if resume:
        trainer.load_checkpoint(checkpoint or ws.cfg.train.checkpoint, weights_only=weights_only)
    return trainer


def predict_all(trainer: Any, idx: np.ndarray | None = None) -> dict[Out, np.ndarray]:
    """Backend outputs (every key) for the given dataset indices (default: every sample), streamed
    in chunks of uint8 rows (engine.training.streaming)."""
    from engine.training.streaming import predict_rows

    return predict_rows(trainer.backend, trainer.ds.images, idx, keys=tuple(Out))
