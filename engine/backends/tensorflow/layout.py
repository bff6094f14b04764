"""The one place that converts between the neutral (PyTorch) layout and TensorFlow's.

Neutral (base.py): dense ``weight`` ``[out, in]``, conv ``weight`` ``[out, in, kh, kw]`` (OIHW).
TensorFlow: dense kernels ``[in, out]`` (``x @ W``), conv kernels ``[kh, kw, in, out]`` (HWIO) for
NHWC feature maps (the neutral ``enc.conv1`` [C1, Ci, 4, 4] becomes [4, 4, Ci, C1]: images are
channels last already). Biases, ``prior.*`` (``prior.pseudo`` [K, *sample_shape] too), ``dec.logvar``
[P] and ``tau`` are the same in both (pixels in (H, W, C) order). The flatten order before
``enc.fc`` stays C,H,W (in-features C2*(H/4)*(W/4)): the model transposes its NHWC feature map to
NCHW before flattening, so ``enc.fc`` is a plain transpose too. Every other ``weight``
is a dense kernel, transposed: the dense encoder's ``enc.dense`` (input: the image flattened
row-major, as in torch) and ``enc.fc`` [H, 2H], and the auxiliary heads' ``task.<name>.hid`` /
``task.<name>.out``. Pure numpy: no TensorFlow import here.
"""

from __future__ import annotations

import numpy as np

CONV_WEIGHTS = ("enc.conv1.weight", "enc.conv2.weight")


def kind(name: str) -> str:
    """``conv``, ``dense`` or ``plain`` for a neutral parameter/buffer name (also ``adam.m.<name>``)."""
    for prefix in ("adam.m.", "adam.v."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name in CONV_WEIGHTS:
        return "conv"
    if name.endswith(".weight"):
        return "dense"
    return "plain"


# axis orders: neutral -> TensorFlow (OIHW -> HWIO, [out, in] -> [in, out]); the inverse goes back
_TO_TF = {"conv": (2, 3, 1, 0), "dense": (1, 0)}
_FROM_TF = {k: tuple(int(i) for i in np.argsort(v)) for k, v in _TO_TF.items()}


def _transposed(name: str, arr: np.ndarray, axes: dict[str, tuple[int, ...]]) -> np.ndarray:
    a = np.asarray(arr, np.float32)
    k = kind(name)
    return np.ascontiguousarray(a.transpose(axes[k]) if k in axes else a)


def to_tf(name: str, arr: np.ndarray) -> np.ndarray:
    """Neutral array -> TensorFlow layout (float32, contiguous copy)."""
    return _transposed(name, arr, _TO_TF)


def from_tf(name: str, arr: np.ndarray) -> np.ndarray:
    """TensorFlow layout -> neutral array (float32, contiguous copy)."""
    return _transposed(name, arr, _FROM_TF)


def tf_shape(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The TensorFlow-layout shape of a neutral shape."""
    k = kind(name)
    return tuple(shape[i] for i in _TO_TF[k]) if k in _TO_TF else tuple(shape)
