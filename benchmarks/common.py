"""Shared benchmark helpers: machine info and writing results to docs/benchmarks/."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "benchmarks"


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def write_result(name: str, result: dict[str, Any]) -> Path:
    """Write docs/benchmarks/<name>.json and print it."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    payload = {"benchmark": name, "machine": machine(), **result}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    return path


def mnist_trainer(prefix: str, overrides: dict[str, Any]) -> Any:
    """A Trainer of configs/default.yaml (with ``overrides``) on MNIST with 10 oracle labels per
    class (seed 0), in a fresh LATENTLOOP_HOME linked to this checkout's MNIST; exits when that is
    missing. The timing benchmarks' common subject."""
    import tempfile

    from app.testing import PROJECT_MNIST, link_mnist
    from engine.config import load_config
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer

    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["LATENTLOOP_HOME"] = str(home)
    if not link_mnist(home):
        sys.exit(f"{PROJECT_MNIST} is missing: run `make data` first")
    cfg = load_config(str(ROOT / "configs/default.yaml"), overrides)
    ds = load_dataset("mnist")
    store = LabelStore(home / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 10, 0), source="bench")
    return Trainer(cfg, ds, store)


def run_main(main: Callable[[], int | None]) -> int:
    """``main()``'s exit status; a LatentLoopError (bad input: ``--ray`` unusable, say) is an
    ``error:`` line and status 2, as in the CLI, not a traceback."""
    from engine.errors import LatentLoopError

    try:
        return main() or 0
    except LatentLoopError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
