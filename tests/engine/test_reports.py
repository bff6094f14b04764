"""Experiment reports: the run directory `latentloop experiment` writes, the figures and sections of
REPORT.md, and `latentloop report RUN_DIR` rebuilding them (or refusing clearly)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from engine.reports.experiment import FIGURES, SECTIONS
from engine.reports.rundir import RUN_FILES, phase_spans
from engine.training.curriculum import PHASES
from latentloop.cli import main
from tests.helpers import tiny_config_dict

TASKS = [
    {"name": "digit", "kind": "classification", "input": "z"},
    {"name": "ink", "kind": "regression", "target": "ink", "input": "z[0:2]"},
]


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One short experiment for the whole module (training is the slow part)."""
    from engine.datasets import dataset_path, save_dataset, synthetic_dataset

    home = tmp_path_factory.mktemp("home")
    save_dataset(synthetic_dataset(600, 200, seed=0), dataset_path("synth", home / "data"))
    cfg = home / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**tiny_config_dict(steps=80, eval_every=20), "tasks": TASKS}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTLOOP_HOME", str(home))
        code = main(["experiment", "-c", str(cfg), "--name", "rep", "--labels-per-class", "3", "--no-progress"])
    assert code == 0
    return next((home / "artifacts/experiments").glob("rep-*"))


@pytest.fixture
def run_dir(experiment: Path, tmp_path: Path) -> Path:
    """A copy of the experiment's run directory that a test may damage."""
    return Path(shutil.copytree(experiment, tmp_path / experiment.name))


def _check_png(path: Path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG"
        px = np.asarray(im.convert("RGB"))
    assert px.std() > 0, f"{path.name} is blank"
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 1, f"{path.name} has one colour"


def test_an_experiment_with_tasks_reports_its_probes(run_dir: Path):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    probes = {p["name"]: p for p in metrics["probes"]}
    assert set(probes) == {"digit", "ink"}
    assert 0.0 <= probes["digit"]["metrics"]["accuracy"] <= 1.0 and "r2" in probes["ink"]["metrics"]
    report = (run_dir / "REPORT.md").read_text()
    assert "## Probes" in report and "| digit | classification | label | `z` |" in report


def test_experiment_writes_a_full_report(run_dir: Path):
    for name in (*RUN_FILES, *FIGURES, "REPORT.md", "checkpoints/rep.ckpt/meta.json", "labels.csv"):
        assert (run_dir / name).is_file(), name
    for name in FIGURES:
        _check_png(run_dir / name)
        assert f"({name})" in (run_dir / "REPORT.md").read_text()
    report = (run_dir / "REPORT.md").read_text()
    for section in SECTIONS:
        assert f"## {section}" in report
    for field in ("dataset sha256: `", "git commit: `", "seed: 0", "threads", "wall time", "ECE", "labels: 30"):
        assert field in report, field
    run = json.loads((run_dir / "run.json").read_text())
    assert len(run["dataset_sha256"]) == 64 and run["labels_per_class"] == 3
    history = (run_dir / "history.csv").read_text().splitlines()
    assert history[0].startswith("step,phase,")
    phases = {line.split(",")[1] for line in history[1:]}
    assert phases and phases <= set(PHASES)
    with np.load(run_dir / "report.npz") as z:
        assert z["eval_probs"].shape == (200, 10) and z["tau"].shape == (10, 10)
        assert len(z["sample_idx"]) == 600  # the whole tiny training split (fewer than 5,000)
        assert len(z["labelled_idx"]) == 30 and np.bincount(z["labelled_y"]).tolist() == [3] * 10
        assert list(z["phase_names"]) == list(dict.fromkeys(h.split(",")[1] for h in history[1:]))
        assert z["phase_ends"][-1] == 80
        spans = list(zip(z["phase_names"], z["phase_starts"], z["phase_ends"], strict=True))
    for line in history[1:]:  # each logged row carries the phase its step ran in
        step, phase = int(line.split(",")[0]), line.split(",")[1]
        assert [n for n, a, b in spans if a < step <= b] == [phase], line


def test_a_validation_run_reports_on_the_validation_split(home: Path, capsys):
    from engine.datasets import load_dataset, validation_idx

    cfg = home / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config_dict(steps=20, eval_every=10)))
    argv = ["experiment", "-c", str(cfg), "--name", "val", "--labels-per-class", "2", "--validation", "100"]
    assert main([*argv, "--no-progress"]) == 0
    capsys.readouterr()
    run_dir = next((home / "artifacts/experiments").glob("val-*"))
    held_out = validation_idx(load_dataset("synth"), 100)
    with np.load(run_dir / "report.npz") as z:
        assert str(z["split"]) == "validation"
        assert z["eval_idx"].tolist() == held_out.tolist()
        assert not np.isin(z["sample_idx"], held_out).any()
        assert len(z["sample_idx"]) == 500
    report = (run_dir / "REPORT.md").read_text()
    assert "validation accuracy" in report and "100 training samples held out" in report
    assert "## Probes" not in report and "probes" not in json.loads((run_dir / "metrics.json").read_text())


def test_report_command_rebuilds_the_same_report(run_dir: Path, capsys):
    before = (run_dir / "REPORT.md").read_text()
    for name in FIGURES:
        (run_dir / name).unlink()
    (run_dir / "REPORT.md").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert "REPORT.md" in capsys.readouterr().out
    assert (run_dir / "REPORT.md").read_text() == before
    for name in FIGURES:
        _check_png(run_dir / name)


@pytest.mark.parametrize("missing", ["report.npz", "run.json", "history.csv"])
def test_report_names_missing_files(run_dir: Path, capsys, missing: str):
    (run_dir / missing).unlink()
    assert main(["report", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and missing in err and "Traceback" not in err


def test_report_refuses_a_damaged_run_dir(run_dir: Path, capsys, tmp_path: Path):
    with np.load(run_dir / "report.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "tau"}
    np.savez(run_dir / "report.npz", **arrays)
    assert main(["report", str(run_dir)]) == 2
    assert "tau" in capsys.readouterr().err
    (run_dir / "report.npz").write_bytes(b"not a zip")
    assert main(["report", str(run_dir)]) == 2
    assert "report.npz" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_phase_spans_follow_the_phase_function():
    names = ["a"] * 3 + ["b"] * 2 + ["c"]
    assert phase_spans(names.__getitem__, 6) == [("a", 0, 3), ("b", 3, 5), ("c", 5, 6)]
    assert phase_spans(names.__getitem__, 0) == []
