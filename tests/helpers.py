"""Helpers shared by the tests of every layer (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository

TINY_MODEL = {
    "latent_dim": 8,
    "components": 10,
    "num_classes": 10,
    "enc_channels": [8, 16],
    "hidden": 64,
    "dropout": 0.1,
}


def tiny_config_dict(**train) -> dict:
    """A config small enough for tests: tiny model, short curriculum, synthetic data."""
    t = {
        "steps": 150,
        "batch_unlabeled": 32,
        "batch_labeled": 16,
        "log_every": 10,
        "eval_every": 50,
        "tau_every": 10,
        "snapshot_every_s": 0.0,
        # no levers: a 150-step run is shorter than the weight average's horizon, and the tests'
        # known answers were made without the affine view (tests that need them set them)
        "augment_rotate": 0.0,
        "augment_scale": 0.0,
        "weak_shift": 0,
        "ema_decay": 0.0,
    }
    t.update(train)
    return {
        "seed": 0,
        "data": {"name": "synth"},
        "model": dict(TINY_MODEL),
        "curriculum": {"warmup_steps": 10, "anneal_steps": 30},
        "train": t,
    }


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path: compare two to see what a command changed."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def exit_code(main: Callable[[list[str]], int], argv: list[str]) -> int:
    """``main(argv)``'s exit status, also when argparse refuses the arguments (SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


def rgb_dataset(n_train: int = 120, n_test: int = 40, height: int = 24, width: int = 32, name: str = "rgb"):
    """A tiny colour dataset of non-square images [N, height, width, 3] with 4 classes
    (:func:`app.testing.colour_dataset`, the one generator of the colour tests)."""
    from app.testing import colour_dataset

    return colour_dataset(n_train, n_test, height, width, name=name)


def rgb_config_dict(dataset: str = "rgb", height: int = 24, width: int = 32, **train) -> dict:
    """:func:`tiny_config_dict` for :func:`rgb_dataset`: its image shape and 4 classes."""
    d = tiny_config_dict(**train)
    d["data"] = {"name": dataset}
    d["model"].update(image_shape=[height, width, 3], num_classes=4, components=4)
    return d
