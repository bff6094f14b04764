"""The backends by name: each is imported only when chosen, so ``latentloop --help`` and the torch
path never load TensorFlow or JAX. The names are plain data here, below the config that checks them."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.backends.base import Backend
    from engine.config import ModelConfig

_CLASSES = {
    "torch": "engine.backends.torch.backend:TorchBackend",
    "tensorflow": "engine.backends.tensorflow.backend:TensorFlowBackend",
    "jax": "engine.backends.jax.backend:JaxBackend",
}


def available_backends() -> list[str]:
    """The backend names, sorted."""
    return sorted(_CLASSES)


def backend_class(name: str) -> type[Backend]:
    """The backend's class; its framework is imported only now."""
    if name not in _CLASSES:
        raise ValueError(f"unknown backend {name!r}; choose one of {available_backends()}")
    module, _, cls = _CLASSES[name].partition(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise RuntimeError(f"backend {name!r} is not installed or failed to import: {err}") from err
    return getattr(mod, cls)


def create_backend(name: str, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> Backend:
    """Instantiate a backend by name. ``threads``: CPU threads (0 = all cores but one; applied
    process-wide where the framework only allows that)."""
    return backend_class(name)(cfg, device=device, threads=threads)
