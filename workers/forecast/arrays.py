"""The arrays file of one embedding refresh (``.npz``): written by the dashboard, read by the worker."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from engine.io import atomic_write_bytes

ARRAYS_FORMAT = 1


def write_forecast_arrays(
    path: str | Path,
    probs: np.ndarray,
    labels: np.ndarray,
    tau_pred: np.ndarray | None = None,
    mu: np.ndarray | None = None,
    version: int | None = None,
) -> Path:
    """Write one refresh's arrays atomically (``engine.io.atomic_write_bytes``) for the worker.

    ``probs`` [N, C] (stored float16), ``labels`` int [M] with M <= N (-1 = unlabelled; rows
    M..N-1, e.g. the test split, are never candidates), ``tau_pred`` int [N] (the tau route's hard
    prediction, ``TauClassifier.predict_hard(resp)``; optional), ``mu`` [N, D] latent means (stored
    float16; optional). ``version`` (the embedding version) lets the worker notice that the file was
    overwritten by a newer refresh than the message it is handling. ~1.7 MB for MNIST's 70,000 rows.
    """
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.ndim != 1 or len(labels) > len(probs):
        raise ValueError(f"probs must be [N, C] and labels [M <= N], got {probs.shape} and {labels.shape}")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(ARRAYS_FORMAT, np.int64),
        "probs": probs.astype(np.float16),
        "labels": labels.astype(np.int32),
        "version": np.array(-1 if version is None else version, np.int64),
    }
    if tau_pred is not None:
        tau_pred = np.asarray(tau_pred)
        if tau_pred.shape != (len(probs),):
            raise ValueError(f"tau_pred must be [{len(probs)}], got {tau_pred.shape}")
        arrays["tau_pred"] = tau_pred.astype(np.int16)
    if mu is not None:
        mu = np.asarray(mu)
        if mu.ndim != 2 or len(mu) != len(probs):
            raise ValueError(f"mu must be [{len(probs)}, D], got {mu.shape}")
        arrays["mu"] = mu.astype(np.float16)
    buf = io.BytesIO()
    # uncompressed: float16 probabilities barely compress, and loading is faster
    np.savez(buf, allow_pickle=False, **arrays)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)


def load_forecast_arrays(path: str | Path) -> dict[str, Any]:
    """Read a file written by :func:`write_forecast_arrays` (never unpickles) and check shapes."""
    with np.load(path, allow_pickle=False) as z:
        files = set(z.files)
        if "probs" not in files or "labels" not in files:
            raise ValueError(f"{path}: not a forecast arrays file (needs probs and labels)")
        out: dict[str, Any] = {
            "probs": np.asarray(z["probs"], np.float32),
            "labels": np.asarray(z["labels"], np.int64),
            "tau_pred": np.asarray(z["tau_pred"], np.int64) if "tau_pred" in files else None,
            "mu": np.asarray(z["mu"], np.float32) if "mu" in files else None,
            "version": int(z["version"]) if "version" in files else -1,
        }
    p = out["probs"]
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"{path}: probs must be [N, C >= 2], got {p.shape}")
    if out["labels"].ndim != 1 or len(out["labels"]) > len(p):
        raise ValueError(f"{path}: labels must be [M <= {len(p)}], got {out['labels'].shape}")
    return out
