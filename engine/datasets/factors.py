"""Per-image factors of a dataset: float32 ``[N]`` arrays by name (the generative factors of the
colour shapes, say), stored as ``factor_<name>`` in the ``.npz`` and as ``factor_<name>.npy`` in
the memory-mapped layout (docs/formats.md, "Dataset"); tasks read them as targets ``factor_<name>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from engine.errors import DatasetError

FACTOR_PREFIX = "factor_"  # a factor array's key in the .npz, its file name stem in the .npy layout
FACTOR_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def check_factors(factors: Mapping[str, np.ndarray], n: int, where: str) -> dict[str, np.ndarray]:
    """The per-image factors as float32 [n] arrays; DatasetError naming the factor and its shape."""
    out: dict[str, np.ndarray] = {}
    for name, values in factors.items():
        if not FACTOR_NAME_RE.match(name):
            raise DatasetError(
                f"{where}: factor name {name!r}: lower-case letters, digits and _, starting with a letter"
            )
        v = np.asarray(values)
        if v.dtype.kind not in "iuf" or v.shape != (n,):
            raise DatasetError(
                f"{where}: factor {name!r} must be numbers of shape ({n},), got {v.dtype} of shape {list(v.shape)}"
            )
        if not np.isfinite(v).all():
            raise DatasetError(
                f"{where}: factor {name!r} has a non-finite value at row {int(np.argmax(~np.isfinite(v)))}"
            )
        out[name] = v.astype(np.float32, copy=False)
    return out
