"""The ONE place that converts between the neutral (PyTorch) layout and the Flax layout.

Neutral (engine/backends/base.py)          Flax parameter tree (``model.SSVAE``)
  ``a.b.weight`` dense   [out, in]      <->   ``params[a][b]["kernel"]`` [in, out]
  ``a.b.weight`` conv    [O, I, kh, kw] <->   ``params[a][b]["kernel"]`` [kh, kw, I, O]  (HWIO)
  ``a.b.bias``           [out]          <->   ``params[a][b]["bias"]``   [out]
  ``prior.mu``, ``prior.logvar``, ``prior.pseudo``, ``dec.logvar``  <->  ``params[a][b]`` (same shape)

Module names nest at every dot: the auxiliary head ``task.<n>.hid`` is ``params["task"][n]["hid"]``,
the dense encoder's first layer ``enc.dense`` is ``params["enc"]["dense"]``.

The flatten order of conv features before ``enc.fc`` is C,H,W in the neutral layout; the Flax
model transposes its NHWC feature map to NCHW before flattening, so ``enc.fc`` stays a plain
transpose here (the dense encoder flattens images row-major, as the neutral layout does).
Colour needs nothing more: images are channels last in both layouts, so ``enc.conv1``'s kernel is
simply [4, 4, Ci, C1] and the pixel-shaped leaves (``dec.fc2``'s outputs, ``dec.logvar``,
``prior.pseudo``) keep the neutral (H, W, C) order.
Optimizer moments (``adam.m.*``, ``adam.v.*``) have the parameters' tree structure and go through
the very same functions.

Pure numpy: no JAX import, the arrays handed in may be numpy or jax arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from engine.backends.base import param_shapes
from engine.config import ModelConfig

CONV = ("enc.conv1", "enc.conv2")


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


_TO = {"conv": conv_to_flax, "dense": dense_to_flax, "plain": _f32}
_FROM = {"conv": conv_from_flax, "dense": dense_from_flax, "plain": _f32}


def _place(name: str) -> tuple[tuple[str, ...], str]:
    """Where a neutral parameter sits in the Flax tree, and how it converts (conv, dense or plain).

    ``<m>.weight`` / ``<m>.bias`` are module ``m``'s kernel and bias (``m`` dotted into nested
    scopes, e.g. ``task.reg.out``); any other name (``prior.mu``, ``dec.logvar``) is a plain leaf."""
    module, _, leaf = name.rpartition(".")
    if leaf == "weight":
        return (*module.split("."), "kernel"), "conv" if module in CONV else "dense"
    if leaf == "bias":
        return (*module.split("."), "bias"), "plain"
    return tuple(name.split(".")), "plain"


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
        path, kind = _place(name)
        node = tree
        for scope in path[:-1]:
            node = node.setdefault(scope, {})
        node[path[-1]] = _TO[kind](arr)
    return tree


def from_flax(tree: Mapping[str, Any], cfg: ModelConfig, prefix: str = "") -> dict[str, np.ndarray]:
    """Flax ``params`` tree (numpy or jax leaves) -> neutral dict of float32 numpy copies."""
    out: dict[str, np.ndarray] = {}
    for name in param_shapes(cfg):
        path, kind = _place(name)
        node: Any = tree
        for scope in path:
            node = node[scope]
        out[prefix + name] = _FROM[kind](node)
    return out
