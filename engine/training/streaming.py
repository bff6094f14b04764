"""Model outputs over many dataset rows, streamed in chunks (no whole-dataset float copy).

``Backend.predict`` of every row at once would first convert all images to float32 (1,000,000
28x28 images: 3.1 GB) and return a reconstruction of every row (another 3.1 GB). Here the uint8
rows are read a chunk at a time (a memory-mapped dataset reads them from the page cache), the
backend converts each of its batches, and only the outputs asked for are kept. A chunk holds at
most :data:`CHUNK_VALUES` pixel values, so larger or colour images take fewer rows per chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.backends.base import Out

EMBEDDING_OUTS = (Out.MU, Out.PROBS, Out.RESP)  # what a map refresh needs of every row
CHUNK = 16384  # rows per backend call at most
CHUNK_VALUES = 12_845_056  # pixel values per backend call at most: 51 MB of float32 input (16384 MNIST rows)


def chunk_rows(images: np.ndarray, chunk: int = CHUNK) -> int:
    """Rows per backend call for ``images`` [N, H, W] or [N, H, W, C]: ``chunk``, fewer when
    that many rows would hold more than :data:`CHUNK_VALUES` values (at least one row)."""
    per_row = int(np.prod(images.shape[1:], dtype=np.int64))
    return max(1, min(chunk, CHUNK_VALUES // max(per_row, 1)))


def predict_rows(
    backend: Any,
    images: np.ndarray,
    idx: np.ndarray | None = None,
    keys: Sequence[Out] = EMBEDDING_OUTS,
    chunk: int = CHUNK,
) -> dict[Out, np.ndarray]:
    """``backend.predict`` of ``images[idx]`` (default: every row) keeping only ``keys``, one
    chunk of uint8 rows at a time (:func:`chunk_rows`); the result arrays are filled in place (no concatenation)."""
    n = len(images) if idx is None else len(idx)
    chunk = chunk_rows(images, chunk)
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
