"""The model commands end to end on a tiny synthetic dataset: train, infer, suggest, simulate,
experiment, and that `latentloop --help` imports no framework."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from latentloop.cli import main
from tests.helpers import tiny_config_dict


@pytest.fixture
def cfg_file(home: Path) -> Path:
    p = home / "tiny.yaml"
    p.write_text(yaml.safe_dump(tiny_config_dict(steps=40, eval_every=20)))
    return p


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_imports_no_framework():
    code = (
        "import sys; from latentloop.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('torch', 'tensorflow', 'jax', 'keras', 'flax') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "train" in r.stdout and "simulate" in r.stdout


def test_train_resume_infer_suggest(home, cfg_file, capsys):
    assert run(capsys, "label", "seed", "--dataset", "synth", "--per-class", "3")[0] == 0
    code, out, _ = run(capsys, "train", "-c", str(cfg_file), "--no-progress")
    assert code == 0 and "test accuracy" in out and "30 labels" in out
    meta = json.loads((home / "artifacts/checkpoints/ssvae.ckpt/meta.json").read_text())
    assert meta["step"] == 40 and meta["labels_count"] == 30 and meta["phase"] == "refinement"

    code, out, _ = run(capsys, "train", "-c", str(cfg_file), "--resume", "--steps", "60", "--no-progress")
    assert code == 0 and "steps 40 -> 60" in out
    assert json.loads((home / "artifacts/checkpoints/ssvae.ckpt/meta.json").read_text())["step"] == 60

    code, out, _ = run(capsys, "infer", "-c", str(cfg_file))
    assert code == 0
    import pandas as pd

    df = pd.read_csv(home / "artifacts/predictions/synth-ssvae.csv")
    assert len(df) == 800 and {"predicted", "certainty", "component", "x", "y"} <= set(df.columns)
    assert df["label"].notna().sum() == 30

    for strategy in ("entropy", "bald", "margin+kcenter", "random"):
        code, out, _ = run(capsys, "suggest", "-c", str(cfg_file), "-s", strategy, "-k", "5", "--format", "json")
        rows = json.loads(out)
        assert code == 0 and len(rows) == 5
        labelled = set(pd.read_csv(home / "data/synth/labels.csv")["Serial"])
        assert not labelled & {r["serial"] for r in rows}


def test_simulate_writes_learning_curves(home, cfg_file, capsys):
    out_dir = home / "sim"
    code, out, err = run(
        capsys,
        "simulate",
        "-c",
        str(cfg_file),
        "-s",
        "random",
        "-s",
        "entropy",
        "--seed-labels",
        "10",
        "--per-round",
        "5",
        "--rounds",
        "2",
        "--first-steps",
        "30",
        "--round-steps",
        "10",
        "--out",
        str(out_dir),
    )
    assert code == 0
    assert "100 training steps in all" in out.splitlines()[0]  # said before any training
    rounds = [line for line in out.splitlines() if " round " in line and "left in all" in line]
    assert len(rounds) == 6 and "random round  0:   10 labels  test acc 0." in rounds[0]
    assert "entropy round  2:   20 labels" in rounds[-1] and "about 0 s left in all" in rounds[-1]
    assert "100/100" in err and "strategy=entropy" in err and "round=2" in err  # the bar
    phases = [(line.split()[1], line.rsplit(" ", 1)[1]) for line in out.splitlines() if ": phase " in line]
    assert ("random", "warmup") in phases and len(set(phases)) == len(phases)  # each phase once per strategy
    import pandas as pd

    df = pd.read_csv(out_dir / "curve.csv")
    assert list(df["labels"]) == [10, 15, 20, 10, 15, 20]
    assert set(df["strategy"]) == {"random", "entropy"}
    assert (out_dir / "curve.png").stat().st_size > 1000
    assert not (home / "data/synth/labels.csv").exists()  # the user's labels are untouched


def test_simulate_from_zero_labels_with_the_cold_start_strategies(home, cfg_file, capsys):
    """--seed-labels 0: an unsupervised first phase, then the strategy picks every label."""
    out_dir = home / "sim0"
    argv = ["simulate", "-c", str(cfg_file), "--seed-labels", "0", "--per-round", "10", "--rounds", "2"]
    argv += ["--first-steps", "30", "--round-steps", "60", "--out", str(out_dir), "--no-progress"]
    for strategy in ("typical", "mixture", "auto"):
        argv += ["-s", strategy]
    code, out, _ = run(capsys, *argv)
    assert code == 0, out
    import pandas as pd

    df = pd.read_csv(out_dir / "curve.csv")
    assert list(df["labels"]) == [0, 10, 20] * 3
    final = df[df["round"] == 2].set_index("strategy")["test_acc"]
    assert (final > 0.3).all(), final  # chance is 0.1: the picked labels taught the classifier


def test_experiment_writes_a_report(home, cfg_file, capsys):
    code, out, err = run(capsys, "experiment", "-c", str(cfg_file), "--name", "t", "--labels-per-class", "2")
    assert code == 0
    assert "40/40" in err and "test=" in err  # the bar, as in train
    assert "step 40: test acc 0." in out
    code, out, _ = run(capsys, "experiment", "-c", str(cfg_file), "--name", "u", "--no-progress")
    assert code == 0 and [line for line in out.splitlines() if line.startswith("step 30 phase=")]
    run_dir = next((home / "artifacts/experiments").glob("t-*"))
    report = (run_dir / "REPORT.md").read_text()
    assert "test accuracy" in report and "labels: 20" in report
    assert json.loads((run_dir / "metrics.json").read_text())["labels"] == 20


def test_train_errors_are_clear(home, cfg_file, capsys):
    code, _, err = run(capsys, "train", "-c", str(cfg_file), "--dataset", "nope")
    assert code == 2 and "error:" in err and "nope" in err
    bad = home / "bad.yaml"
    bad.write_text("train:\n  stepz: 3\n")
    code, _, err = run(capsys, "train", "-c", str(bad))
    assert code == 2 and "train.stepz: unknown key" in err
    code, _, err = run(capsys, "train", "-c", str(cfg_file), "--resume", "--checkpoint", "absent")
    assert code == 2 and "absent" in err


@pytest.mark.parametrize("progress", [[], ["--no-progress"]])
def test_train_reports_a_labels_file_broken_mid_run(home, cfg_file, capsys, monkeypatch, progress):
    from engine.training.trainer import Trainer

    assert run(capsys, "label", "seed", "--dataset", "synth", "--per-class", "3")[0] == 0
    path = home / "data/synth/labels.csv"
    good = path.read_bytes()
    make_batch = Trainer.make_batch

    def edit_by_hand(self):
        if self.step == 15:
            path.write_bytes(b"Serial,label\n1_0,3\n")
        elif self.step == 25:
            path.write_bytes(good + b"7,1\n")
        return make_batch(self)

    monkeypatch.setattr(Trainer, "make_batch", edit_by_hand)
    code, out, err = run(capsys, "train", "-c", str(cfg_file), *progress)
    assert code == 0 and "31 labels" in out
    assert (
        f"step 20: labels file unreadable, training on with the last good 30 labels until it is "
        f"fixed: {path}: line 2: Serial '1_0' is not a number" in err
    )
    assert "step 30: labels file readable again: 31 labels" in err


def test_simulate_with_seeds_reports_sustained_labels_per_seed(home, cfg_file, capsys):
    out_dir = home / "sim"
    args = ["simulate", "-c", str(cfg_file), "-s", "random", "--seeds", "3", "4", "--seed-labels", "10"]
    args += ["--per-round", "5", "--rounds", "1", "--first-steps", "20", "--round-steps", "10", "--out", str(out_dir)]
    code, out, _ = run(capsys, *args)
    assert code == 0 and "seed(s) 3, 4" in out.splitlines()[0]
    import pandas as pd

    df = pd.read_csv(out_dir / "curve.csv")
    assert list(df["seed"]) == [3, 3, 4, 4] and list(df["labels"]) == [10, 15, 10, 15]
    # each seed starts from its own random seed labels
    first = {s: set(pd.read_csv(out_dir / f"seed{s}/random/labels.csv")["Serial"]) for s in (3, 4)}
    assert first[3] != first[4]
    summary = json.loads((out_dir / "summary.json").read_text())["random"]
    assert summary["seeds"] == [3, 4]
    finals = [df[df["seed"] == s]["test_acc"].iloc[-1] for s in (3, 4)]
    assert summary["final_acc"]["mean"] == pytest.approx(sum(finals) / 2, abs=1e-5)
    assert set(summary["labels_for_90"]["per_seed"]) == {"3", "4"}
    assert "labels needed to stay at or above 90% / 95% / 97% / 98%" in out


def test_labels_to_sustain_needs_every_later_round_above():
    from engine.reports.curves import labels_to_sustain, mean_sd

    rows = [{"labels": n, "test_acc": a} for n, a in [(20, 0.5), (30, 0.91), (40, 0.89), (50, 0.92), (60, 0.95)]]
    assert labels_to_sustain(rows, 0.90) == 50  # 30 touched it, but 40 fell back below
    assert labels_to_sustain(rows, 0.95) == 60
    assert labels_to_sustain(rows, 0.96) is None
    assert labels_to_sustain([*rows[:-1], {"labels": 60, "test_acc": 0.8}], 0.5) == 20
    assert labels_to_sustain([*rows[:-1], {"labels": 60, "test_acc": 0.8}], 0.9) is None
    assert mean_sd([40, 60]) == {"mean": 50.0, "sd": pytest.approx(14.142, abs=1e-3), "min": 40.0, "max": 60.0, "n": 2}
    assert mean_sd([])["mean"] is None and mean_sd([7])["sd"] == 0.0


def test_suggest_never_picks_a_validation_row(home):
    """Validation rows are never trained on: a label there would be wasted (simulate's rounds)."""
    from engine.config import from_dict
    from engine.datasets import load_dataset
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer
    from latentloop.commands.suggest import suggest

    raw = tiny_config_dict()
    raw["data"]["validation"] = 300  # half the training split
    ds = load_dataset("synth")
    tr = Trainer(from_dict(raw), ds, label_store_for("synth", ds.n_train, ds.num_classes))
    for strategy in ("random", "entropy", "mixture"):
        chosen, _ = suggest(tr, strategy, 40, seed=1)
        assert len(chosen) == 40 and not np.isin(chosen, tr.val_idx).any(), strategy
