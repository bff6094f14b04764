"""numpy arrays as plotly.js typed-array specs ``{"dtype": "f4", "bdata": <base64>}`` (decoded by
plotly.js >= 2.28 without a JSON number parse): how the map's coordinates and colour values travel."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

_DTYPES = {
    np.dtype(np.float32): "f4",
    np.dtype(np.float64): "f8",
    np.dtype(np.uint8): "u1",
    np.dtype(np.uint16): "u2",
    np.dtype(np.int8): "i1",
    np.dtype(np.int16): "i2",
    np.dtype(np.int32): "i4",
    np.dtype(np.uint32): "u4",
}


def typed(arr: np.ndarray) -> dict[str, Any]:
    """plotly.js typed-array spec for a 1-D or 2-D numpy array (row-major, little-endian)."""
    a = np.ascontiguousarray(arr)
    if a.dtype not in _DTYPES:
        raise TypeError(f"no plotly typed array for dtype {a.dtype}")
    spec: dict[str, Any] = {
        "dtype": _DTYPES[a.dtype],
        "bdata": base64.b64encode(a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()).decode("ascii"),
    }
    if a.ndim > 1:
        spec["shape"] = ", ".join(str(n) for n in a.shape)  # plotly.js ignores a list here
    return spec
