"""Sweeps on Ray (engine/sweep.py, ``--ray``): the same numbers as a local sweep, a killed worker's
run retried, a run that fails twice reported by name while the others are kept, and the two ways
``--ray`` cannot work (Ray not installed, an address nobody answers) as a clear error, exit 2.

One local Ray with 2 CPUs serves the module (it takes seconds to start)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from engine.errors import LatentLoopError
from engine.sweep import Run, run_sweep, task_resources
from latentloop.cli import main
from tests.helpers import ROOT, tiny_config_dict


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # This module is imported by its file name, which a worker cannot: ship its functions by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def simulate_argv(home: Path, out: str, *extra: str) -> list[str]:
    cfg = home / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_config_dict(steps=30, eval_every=30), "threads": 1}))
    return ["simulate", "-c", str(cfg), "-s", "random", "-s", "entropy", "--seeds", "0", "1", "--seed-labels", "10",
            "--per-round", "5", "--rounds", "1", "--first-steps", "30", "--round-steps", "10", "--pool", "200",
            "--out", str(home / out), "--no-progress", *extra]  # fmt: skip


def test_the_same_seeds_give_the_same_numbers_with_and_without_ray(home, capsys, ray_session, monkeypatch):
    with monkeypatch.context() as m:
        m.setitem(sys.modules, "ray", None)  # without --ray, any import of ray would fail
        assert main(simulate_argv(home, "local")) == 0
    assert main(simulate_argv(home, "ray", "--ray", "auto")) == 0
    out = capsys.readouterr().out
    assert "4 Ray tasks on auto" in out and "4 of 4 runs done" in out
    import pandas as pd

    local, on_ray = (pd.read_csv(home / d / "curve.csv").drop(columns="seconds") for d in ("local", "ray"))
    assert len(local) == 8  # 2 seeds x 2 strategies x 2 rounds, in the same order
    pd.testing.assert_frame_equal(local, on_ray)
    assert json.loads((home / "local/summary.json").read_text()) == json.loads((home / "ray/summary.json").read_text())
    for run in ("seed0/random", "seed0/entropy", "seed1/random", "seed1/entropy"):  # each run's label store
        assert (home / "ray" / run / "labels.csv").read_bytes() == (home / "local" / run / "labels.csv").read_bytes()
    assert (home / "ray/curve.png").is_file()


def die_once(marker: str) -> str:
    """Kills its worker on the first attempt (the marker file says whether it was tried)."""
    if not os.path.exists(marker):
        Path(marker).touch()
        os._exit(1)
    return "second attempt"


def always_die(log: str) -> None:
    with open(log, "a") as f:
        f.write("attempt\n")
    os._exit(1)


def raise_error(log: str) -> None:
    with open(log, "a") as f:
        f.write("attempt\n")
    raise ValueError("bad run settings")


def square(x: int) -> int:
    return x * x


def test_a_killed_worker_is_retried_and_a_run_that_fails_twice_is_named(tmp_path, ray_session):
    done: list[str] = []
    runs = [
        Run("flaky", die_once, (str(tmp_path / "flaky.marker"),)),
        Run("doomed", always_die, (str(tmp_path / "doomed.log"),)),
        Run("raises", raise_error, (str(tmp_path / "raises.log"),)),
        Run("fine", square, (7,)),
    ]
    result = run_sweep(runs, "auto", lambda name, value: done.append(name))
    assert result.results == {"flaky": "second attempt", "fine": 49}  # in the runs' order
    assert sorted(done) == ["fine", "flaky"]
    assert list(result.failed) == ["doomed", "raises"]
    assert "tried twice" in result.failed["doomed"]
    assert (tmp_path / "doomed.log").read_text().count("attempt") == 2  # retried once, not more
    assert result.failed["raises"] == "ValueError: bad run settings"
    assert (tmp_path / "raises.log").read_text().count("attempt") == 1  # an exception is not a dead worker


def test_local_sweeps_run_in_order_here_and_ask_nothing_of_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # any import of ray would fail
    done: list[str] = []
    result = run_sweep([Run("b", square, (3,)), Run("a", square, (2,))], None, lambda n, v: done.append(n))
    assert result.results == {"b": 9, "a": 4} and result.failed == {} and done == ["b", "a"]
    with pytest.raises(ValueError, match="unique"):
        run_sweep([Run("a", square, (1,)), Run("a", square, (2,))])


def test_task_resources():
    assert task_resources(4, "cpu") == {"num_cpus": 4, "num_gpus": 0}
    assert task_resources(0, "cuda:1") == {"num_cpus": 1, "num_gpus": 1}


def test_ray_not_installed_is_a_clear_error(home, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(simulate_argv(home, "sim", "--ray", "auto")) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: --ray needs Ray, which is not installed: pip install -e '.[cluster]'"
    assert not (home / "sim").exists()


def test_an_unreachable_address_is_a_clear_error(home, capsys):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{closed_port()}"
    assert main(simulate_argv(home, "sim", "--ray", address)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot reach the Ray cluster at {address}: ") and "Traceback" not in err
    assert main(simulate_argv(home, "sim", "--ray", "no-port-here")) == 2
    assert "expected auto, HOST:PORT or ray://HOST:PORT" in capsys.readouterr().err


def test_an_address_where_no_ray_answers_is_a_clear_error(monkeypatch, ray_session):
    """Something listens, but not Ray: ray.init would retry for minutes; the check gives up in time.
    The running local Ray's own address passes the same check."""
    from engine import sweep

    sweep.check_ray(ray_session.get_runtime_context().gcs_address)
    monkeypatch.setattr(sweep, "PROBE_TIMEOUT_S", 4.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(LatentLoopError, match=f"no Ray cluster answers at {re.escape(address)} within 4 s"):
            sweep.check_ray(address)


def test_a_cluster_that_wants_a_token_says_so(monkeypatch):
    """What Ray 2.60 prints when `ray start --head`'s token authentication refuses a driver."""
    from engine import sweep

    pytest.importorskip("ray")
    refused = "ray.exceptions.AuthenticationError: RPC error: InvalidAuthToken: Authentication token is missing\n"
    monkeypatch.setattr(sweep.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", refused))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        address = f"127.0.0.1:{s.getsockname()[1]}"
        wants = f"cluster at {re.escape(address)} wants its token: set RAY_AUTH_MODE=token"
        with pytest.raises(LatentLoopError, match=wants):
            sweep.check_ray(address)


@pytest.mark.parametrize("script", ["bench_accuracy.py", "bench_feedback.py", "bench_label_issues.py"])
def test_the_benchmarks_refuse_an_unreachable_address(script):
    pytest.importorskip("ray")
    address = f"127.0.0.1:{closed_port()}"
    r = subprocess.run([sys.executable, f"benchmarks/{script}", "--ray", address], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, check=False)  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith(f"error: cannot reach the Ray cluster at {address}: ") and "Traceback" not in r.stderr


def test_the_error_names_the_address():
    from engine.sweep import check_ray

    pytest.importorskip("ray")
    with pytest.raises(LatentLoopError, match=re.escape("ray://127.0.0.1:1")):
        check_ray("ray://127.0.0.1:1")


def test_the_summary_names_each_strategys_failed_runs():
    from latentloop.commands.simulate import summarise

    def row(seed: int, strategy: str, labels: int, acc: float) -> dict:
        return {"seed": seed, "strategy": strategy, "round": 0, "labels": labels, "test_acc": acc}

    rows = [row(0, "random", 10, 0.91), row(0, "entropy", 10, 0.96), row(1, "random", 10, 0.93)]
    failed = {"seed1/entropy": "WorkerCrashedError (tried twice)", "seed0/bald": "ValueError: x"}
    summary = summarise(rows, ["random", "entropy", "bald"], failed)
    assert "failed" not in summary["random"] and summary["random"]["seeds"] == [0, 1]
    assert summary["entropy"]["failed"] == {"seed1/entropy": "WorkerCrashedError (tried twice)"}
    assert summary["entropy"]["seeds"] == [0] and summary["entropy"]["final_acc"]["mean"] == 0.96
    assert summary["bald"]["failed"] == {"seed0/bald": "ValueError: x"}  # no run left: no numbers, still named
    assert summary["bald"]["final_acc"]["mean"] is None and summary["bald"]["seeds"] == []
