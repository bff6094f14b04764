"""The ONE place that converts between the neutral (PyTorch) layout and the Flax layout.

Neutral (engine/backends/base.py)        Flax parameter tree (``model.SSVAE``)
  ``<m>.weight`` dense   [out, in]    <->   ``params[..][m]["kernel"]`` [in, out]
  ``<m>.weight`` conv    [O, I, kh, kw] <-> ``params[..][m]["kernel"]`` [kh, kw, I, O]  (HWIO)
  ``<m>.bias``           [out]        <->   ``params[..][m]["bias"]``   [out]
  ``prior.mu``, ``prior.logvar``      <->   ``params["prior"]["mu"|"logvar"]`` (same shape)

The flatten order of conv features before ``enc.fc`` is C,H,W in the neutral layout; the Flax
model transposes its NHWC feature map to NCHW before flattening, so ``enc.fc`` stays a plain
transpose here. Optimizer moments (``adam.m.*``, ``adam.v.*``) have the parameters' tree structure
and go through the very same functions.

Pure numpy: no JAX import, the arrays handed in may be numpy or jax arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.backends.base import param_shapes
from engine.config import ModelConfig

CONV = ("enc.conv1", "enc.conv2")
DENSE = ("enc.fc", "enc.mu", "enc.logvar", "enc.comp", "dec.fc1", "dec.fc2")
PLAIN = ("prior.mu", "prior.logvar")


def _f32(a: Any) -> np.ndarray:
    """A fresh, C-contiguous float32 numpy copy (never a view of a device buffer)."""
    return np.ascontiguousarray(np.array(a, dtype=np.float32, copy=True))


def conv_to_flax(w: np.ndarray) -> np.ndarray:
    """OIHW -> HWIO."""
    return _f32(np.transpose(np.asarray(w), (2, 3, 1, 0)))


def conv_from_flax(k: np.ndarray) -> np.ndarray:
    """HWIO -> OIHW."""
    return _f32(np.transpose(np.asarray(k), (3, 2, 0, 1)))


def dense_to_flax(w: np.ndarray) -> np.ndarray:
    """[out, in] -> [in, out]."""
    return _f32(np.asarray(w).T)


def dense_from_flax(k: np.ndarray) -> np.ndarray:
    """[in, out] -> [out, in]."""
    return _f32(np.asarray(k).T)


def _split(name: str) -> tuple[str, str]:
    scope, _, leaf = name.partition(".")
    return scope, leaf


def to_flax(neutral: Mapping[str, Any], cfg: ModelConfig, prefix: str = "") -> dict[str, Any]:
    """Neutral dict (``prefix + name`` keys, e.g. ``"adam.m."``) -> Flax ``params`` tree of numpy arrays.

    Every parameter of :func:`param_shapes` must be present with its neutral shape (ValueError)."""
    tree: dict[str, Any] = {}
    for name, shape in param_shapes(cfg).items():
        key = prefix + name
        if key not in neutral:
            raise ValueError(f"{key} missing")
        arr = np.asarray(neutral[key])
        if tuple(arr.shape) != tuple(shape):
            raise ValueError(f"{key}: shape {tuple(arr.shape)}, expected {tuple(shape)}")
        module, _, kind = name.rpartition(".")
        if module in CONV or module in DENSE:
            scope, leaf = _split(module)
            node = tree.setdefault(scope, {}).setdefault(leaf, {})
            if kind == "weight":
                node["kernel"] = conv_to_flax(arr) if module in CONV else dense_to_flax(arr)
            else:
                node["bias"] = _f32(arr)
        elif name in PLAIN:
            scope, leaf = _split(name)
            tree.setdefault(scope, {})[leaf] = _f32(arr)
        else:  # pragma: no cover - param_shapes and this table must agree
            raise AssertionError(f"no Flax layout rule for {name}")
    return tree


def from_flax(tree: Mapping[str, Any], cfg: ModelConfig, prefix: str = "") -> dict[str, np.ndarray]:
    """Flax ``params`` tree (numpy or jax leaves) -> neutral dict of float32 numpy copies."""
    out: dict[str, np.ndarray] = {}
    for name in param_shapes(cfg):
        module, _, kind = name.rpartition(".")
        if module in CONV or module in DENSE:
            scope, leaf = _split(module)
            node = tree[scope][leaf]
            if kind == "weight":
                arr = conv_from_flax(node["kernel"]) if module in CONV else dense_from_flax(node["kernel"])
            else:
                arr = _f32(node["bias"])
        else:
            scope, leaf = _split(name)
            arr = _f32(tree[scope][leaf])
        out[prefix + name] = arr
    return out
