"""The dashboard's command (app/settings.py, app/launch.py): its options and its process handling."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from app.settings import AppSettings, add_arguments
from engine.backends import registry
from engine.config import ConfigError
from tests.helpers import ROOT, tiny_config_dict


def test_backend_choices_come_from_the_registry(monkeypatch):
    monkeypatch.setitem(registry._CLASSES, "numpyref", "somewhere:NumpyBackend")
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert p.parse_args(["--backend", "numpyref"]).backend == "numpyref"
    assert AppSettings(backend="numpyref").backend == "numpyref"


def test_the_app_refuses_a_checkpoint_of_another_dataset_unless_forced(home):
    """The dashboard loads a checkpoint through the same dataset check as the CLI (issue 28): a
    model trained on one dataset is not silently scored on another; --force is the way out."""
    from app.settings import settings_from_args
    from app.state import AppState
    from engine.config import from_dict
    from engine.datasets import dataset_path, save_dataset, synthetic_dataset
    from engine.errors import DatasetMismatchError
    from engine.workspace import make_trainer, open_workspace

    trainer = make_trainer(open_workspace(cfg=from_dict(tiny_config_dict(steps=2))))
    trainer.run(evaluate_at_end=False)
    trainer.save_checkpoint("ssvae")
    save_dataset(synthetic_dataset(600, 200, seed=1, name="other"), dataset_path("other", home / "data"))
    p = argparse.ArgumentParser()
    add_arguments(p)
    assert settings_from_args(p.parse_args(["--force"])).force is True
    other = from_dict(tiny_config_dict() | {"data": {"name": "other"}})
    with pytest.raises(DatasetMismatchError, match="trained on dataset 'synth', not 'other'"):
        AppState.create(AppSettings(cfg=other, checkpoint="ssvae", workers=False))
    st = AppState.create(AppSettings(cfg=other, checkpoint="ssvae", workers=False, force=True))
    try:
        assert st.dataset.name == "other" and st.has_checkpoint
    finally:
        st.close()


def test_settings_refuse_an_unknown_backend():
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        AppSettings(backend="nope")
    assert AppSettings().backend is None


# -- the dashboard process and its children ----------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state letter) for every process (Linux /proc; no psutil needed)."""
    table = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # exited while we looked
            table[int(d.name)] = (int(fields[1]), fields[0])
    return table


def _descendants(pid: int) -> set[int]:
    table = _proc_table()
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        kids = {p for p, (pp, _) in table.items() if pp == parent} - found
        found |= kids
        todo.extend(kids)
    return found


def _alive(pids: set[int]) -> set[int]:
    table = _proc_table()
    return {p for p in pids if p in table and table[p][1] not in ("Z", "X")}  # zombies have exited


def _wait(predicate, timeout: float, step: float = 0.2) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_no_process_outlives_the_app(home, tmp_path, signame):
    """The app's workers and multiprocessing's resource tracker end with the app, however it ends."""
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path / "app.log"
    children: set[int] = set()
    # A suite started in the background (`make test &`) has SIGINT ignored, and an ignored signal
    # is inherited: while the app starts, handle it here so that the app gets the default, as
    # from a terminal's Ctrl+C.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "latentloop",
                "--home",
                str(home),
                "app",
                "--dataset",
                "synth",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    signal.signal(signal.SIGINT, previous)
    try:
        # Two workers and the resource tracker; "serving" once the app has built its state.
        assert _wait(lambda: "serving on" in log.read_text() and len(_descendants(proc.pid)) >= 3, 120), (
            f"app did not come up with its workers: {log.read_text()[-2000:]}"
        )
        children = _descendants(proc.pid)
        os.kill(proc.pid, getattr(signal, signame))
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"app still running 30 s after {signame}:\n{log.read_text()[-2000:]}")
        assert _wait(lambda: not _alive(children), 10), (
            f"still running after {signame}: {sorted(_alive(children))}\n{log.read_text()[-2000:]}"
        )
    finally:
        if proc.poll() is None:
            children |= _descendants(proc.pid)
            proc.kill()
        for pid in _alive(children):  # leave nothing behind, even when the test failed
            os.kill(pid, signal.SIGKILL)
        proc.wait(10)


def test_device_option_reaches_the_config_and_the_workers_say_theirs(home):
    """`latentloop app --device cuda` trains on the GPU; the worker line names each child's device."""
    from app.layouts.workers import worker_status
    from app.settings import resolve_config, settings_from_args
    from workers.messages import WorkerStatus

    p = argparse.ArgumentParser()
    add_arguments(p)
    s = settings_from_args(p.parse_args(["--device", "cuda:1", "--dataset", "synth"]))
    assert s.device == "cuda:1" and resolve_config(s).device == "cuda:1"
    assert resolve_config(settings_from_args(p.parse_args(["--dataset", "synth"]))).device == "cpu"
    line = str(worker_status({"workers": [WorkerStatus("xai", "running", 7, extra={"device": "cpu"})],
                              "forecast": None}))  # fmt: skip
    assert "xai running on cpu" in line


def test_app_on_a_missing_gpu_is_a_clear_error(home, capsys):
    """On a machine without CUDA: `error:` naming the device, exit status 2, no traceback."""
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    from latentloop.cli import main

    config = home / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config_dict()))
    assert main(["--home", str(home), "app", "-c", str(config), "--device", "cuda", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "error: --device cuda" in err and "no CUDA device" in err and "Traceback" not in err
