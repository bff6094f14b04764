"""Model outputs over many dataset rows, streamed in chunks (no whole-dataset float copy).

``Backend.predict`` of every row at once would first convert all images to float32 (1,000,000
28x28 images: 3.1 GB) and return a reconstruction of every row (another 3.1 GB). Here the uint8
rows are read a chunk at a time (a memory-mapped dataset reads them from the page cache), the
backend converts each of its batches, and only the outputs asked for are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.backends.base import Out

EMBEDDING_OUTS = (Out.MU, Out.PROBS, Out.RESP)  # what a map refresh needs of every row
CHUNK = 16384  # rows per backend call: 16384 x 784 float32 = 51 MB of input at most


def predict_rows(
    backend: Any,
    images: np.ndarray,
    idx: np.ndarray | None = None,
    keys: Sequence[Out] = EMBEDDING_OUTS,
    chunk: int = CHUNK,
) -> dict[Out, np.ndarray]:
    """``backend.predict`` of ``images[idx]`` (default: every row) keeping only ``keys``, one
    chunk of uint8 rows at a time; the result arrays are filled in place (no concatenation)."""
    n = len(images) if idx is None else len(idx)
    out: dict[Out, np.ndarray] = {}
    for start in range(0, n, chunk):
        rows = images[start : start + chunk] if idx is None else images[np.asarray(idx[start : start + chunk])]
        part = backend.predict(rows)
        for k in keys:
            if k not in out:
                out[k] = np.empty((n, *part[k].shape[1:]), part[k].dtype)
            out[k][start : start + len(rows)] = part[k]
    if not out:
        empty = backend.empty_prediction()
        return {k: empty[k] for k in keys}
    return out
