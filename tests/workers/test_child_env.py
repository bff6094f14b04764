"""child_main sets a worker's environment before its target is imported: the forecast worker's BLAS
thread count is read once, when numpy loads (it used to be set at import time of workers.forecast)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from workers.child import BLAS_THREAD_VARS
from workers.supervisor import child_main


def test_env_is_set_before_a_named_target_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ll_env_probe.py").write_text(
        "import os\nSEEN = os.environ.get('LL_ENV_PROBE')\n\ndef run(out):\n    out.append(SEEN)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("LL_ENV_PROBE", raising=False)
    monkeypatch.delitem(sys.modules, "ll_env_probe", raising=False)
    out: list[str | None] = []
    child_main(os.getppid(), "ll_env_probe:run", out, env={"LL_ENV_PROBE": "1"})
    assert out == ["1"]  # the module saw the variable at import time


def test_the_forecast_worker_starts_single_threaded(tmp_path: Path) -> None:
    from app.services.workers import FORECAST, WorkerHub

    hub = WorkerHub(tmp_path, "synth", "", tmp_path, tmp_path / "f.npz")
    w = hub.supervisor._workers[FORECAST]
    assert w.target == "workers.forecast.process:forecast_main"  # imported in the child, after env
    assert w.kwargs["env"] == dict.fromkeys(BLAS_THREAD_VARS, "1")
