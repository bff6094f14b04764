"""The one place that converts between the neutral (PyTorch) layout and TensorFlow's.

Neutral (base.py): dense ``weight`` ``[out, in]``, conv ``weight`` ``[out, in, kh, kw]`` (OIHW).
TensorFlow: dense kernels ``[in, out]`` (``x @ W``), conv kernels ``[kh, kw, in, out]`` (HWIO) for
NHWC feature maps. Biases, ``prior.*`` and ``tau`` are the same in both. The flatten order before
``enc.fc`` stays C,H,W: the model transposes its NHWC feature map to NCHW before flattening, so
``enc.fc`` is a plain transpose too. Pure numpy: no TensorFlow import here.
"""
from __future__ import annotations

import numpy as np

CONV_WEIGHTS = ("enc.conv1.weight", "enc.conv2.weight")


def kind(name: str) -> str:
    """``conv``, ``dense`` or ``plain`` for a neutral parameter/buffer name (also ``adam.m.<name>``)."""
    for prefix in ("adam.m.", "adam.v."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    if name in CONV_WEIGHTS:
        return "conv"
    if name.endswith(".weight"):
        return "dense"
    return "plain"


def to_tf(name: str, arr: np.ndarray) -> np.ndarray:
    """Neutral array -> TensorFlow layout (float32, contiguous copy)."""
    a = np.asarray(arr, np.float32)
    k = kind(name)
    if k == "conv":
        a = a.transpose(2, 3, 1, 0)  # OIHW -> HWIO
    elif k == "dense":
        a = a.T  # [out, in] -> [in, out]
    return np.ascontiguousarray(a)


def from_tf(name: str, arr: np.ndarray) -> np.ndarray:
    """TensorFlow layout -> neutral array (float32, contiguous copy)."""
    a = np.asarray(arr, np.float32)
    k = kind(name)
    if k == "conv":
        a = a.transpose(3, 2, 0, 1)  # HWIO -> OIHW
    elif k == "dense":
        a = a.T
    return np.ascontiguousarray(a)


def tf_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The TensorFlow-layout shape of a neutral shape."""
    k = kind(name)
    if k == "conv":
        o, i, h, w = shape
        return (h, w, i, o)
    if k == "dense":
        return (shape[1], shape[0])
    return tuple(shape)
