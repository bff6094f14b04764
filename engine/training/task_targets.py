"""The auxiliary heads' targets in a training batch (``task_target``, ``task_mask``, ``task_w`` of
engine.backends.base.Batch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.config import Config, ConfigError
from engine.datasets.attributes import dataset_attributes, standardise
from engine.tasks import FACTOR_TARGET_PREFIX, AuxHead


def aux_targets(cfg: Config, ds: object, train_rows: np.ndarray) -> tuple[list[np.ndarray | None], np.ndarray]:
    """Per auxiliary head (``cfg.model.aux`` order): its regression target for every dataset row,
    standardised over ``train_rows`` (None for other kinds); and the heads' weights from cfg.tasks."""
    heads = cfg.model.aux
    tasks = {t.name: t for t in cfg.tasks}
    values: list[np.ndarray | None] = []
    attrs = dataset_attributes(ds, cfg.data.root) if any(h.kind == "regression" for h in heads) else {}
    for h in heads:
        target = tasks[h.name].target
        if h.kind == "regression" and target not in attrs:
            have = sorted(k for k in attrs if k.startswith(FACTOR_TARGET_PREFIX))
            raise ConfigError(
                f"task {h.name!r}: dataset {getattr(ds, 'name', '?')!r} has no {target!r} "
                f"(its factors: {', '.join(have) or 'none'})"
            )
        values.append(standardise(attrs[tasks[h.name].target], train_rows)[0] if h.kind == "regression" else None)
    return values, np.array([tasks[h.name].weight for h in heads], np.float32)


def task_arrays(
    heads: Sequence[AuxHead], values: Sequence[np.ndarray | None], idx: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``task_target`` and ``task_mask`` [B, T] for the dataset rows ``idx`` with batch labels ``y``
    (-1 = unlabelled): a classification head's target is the label, known on labelled rows only."""
    target = np.zeros((len(idx), len(heads)), np.float32)
    mask = np.ones((len(idx), len(heads)), np.float32)
    for t, h in enumerate(heads):
        if h.kind == "classification":
            target[:, t] = np.maximum(y, 0)
            mask[:, t] = y >= 0
        elif (v := values[t]) is not None:
            target[:, t] = v[idx]
    return target, mask
