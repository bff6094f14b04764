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


def run_main(main: Callable[[], int | None]) -> int:
    """``main()``'s exit status; a LatentLoopError (bad input: ``--ray`` unusable, say) is an
    ``error:`` line and status 2, as in the CLI, not a traceback."""
    from engine.errors import LatentLoopError

    try:
        return main() or 0
    except LatentLoopError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
