"""benchmarks/join_simulate.py: simulate runs made by side-by-side processes become one result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import common, join_simulate

HEAD = "seed,strategy,round,labels,test_acc,tau_acc,step,seconds\n"


def _run_dir(root: Path, name: str, rows: list[tuple[int, str, int, float]]) -> Path:
    d = root / name
    d.mkdir()
    lines = [f"{s},{st},{i},{n},{a},{a},{1000 + 200 * i},{10.0 * (i + 1)}" for i, (s, st, n, a) in enumerate(rows)]
    (d / "curve.csv").write_text(HEAD + "\n".join(lines) + "\n")
    return d


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    o = tmp_path / "out"
    monkeypatch.setattr(common, "OUT", o)
    monkeypatch.setattr(join_simulate, "OUT", o)
    return o


def test_two_processes_join_into_one_summary(tmp_path: Path, out: Path) -> None:
    a = _run_dir(tmp_path, "a", [(1, "auto", 0, 0.1), (1, "auto", 10, 0.91), (1, "auto", 20, 0.96)])
    b = _run_dir(tmp_path, "b", [(2, "auto", 0, 0.1), (2, "auto", 10, 0.85), (2, "auto", 20, 0.92)])
    args = ["--name", "j", "--what", "w", "--command", "c", str(a), str(b)]
    assert join_simulate.main(args) == 0
    res = json.loads((out / "j.json").read_text())
    need = res["summary"]["auto"]["labels_for_90"]
    assert need["per_seed"] == {"1": 10, "2": 20} and need["mean"] == 15 and need["reached"] == "2/2"
    assert res["summary"]["auto"]["labels_for_95"]["reached"] == "1/2"
    assert res["mean_sd_by_labels"]["auto"]["20"]["mean"] == 0.94
    assert res["seeds"] == [1, 2] and res["thresholds"][-1] == 0.98 and len(res["rows"]) == 6
    assert res["seconds_per_run"]["mean"] == 30.0 and res["steps_per_run"] == 1400
    assert (out / "j.png").stat().st_size > 0


def test_the_same_run_twice_is_refused(tmp_path: Path, out: Path) -> None:
    a = _run_dir(tmp_path, "a", [(1, "auto", 0, 0.1)])
    b = _run_dir(tmp_path, "b", [(1, "auto", 0, 0.1)])
    with pytest.raises(join_simulate.LatentLoopError, match="seed 1 auto is in both"):
        join_simulate.read_rows([a, b])
    with pytest.raises(join_simulate.LatentLoopError, match=r"holds no curve\.csv"):
        join_simulate.read_rows([tmp_path / "nothing"])
    assert not out.exists()
