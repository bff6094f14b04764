"""`latentloop label ...` end to end through latentloop.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.datasets import dataset_path, save_dataset, synthetic_dataset
from latentloop.cli import main

N_TRAIN, N_TEST, C = 200, 50, 10


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # cli.main writes --home into the environment; setting it here lets monkeypatch restore it
    monkeypatch.setenv("LATENTLOOP_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    ds = synthetic_dataset(n_train=N_TRAIN, n_test=N_TEST, size=8, num_classes=C, seed=3, name="mnist")
    save_dataset(ds, dataset_path("mnist", tmp_path / "data"))
    return tmp_path


def cli(home: Path, *argv: str) -> int:
    return main(["--home", str(home), "label", *argv])


def labels_file(home: Path, dataset: str = "mnist") -> Path:
    return home / "data" / dataset / "labels.csv"


def test_set_clear_undo(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(home, "set", "5", "3") == 0
    assert "5: unlabelled -> 3" in capsys.readouterr().out
    assert cli(home, "set", "7", "1", "--dataset", "mnist") == 0
    assert labels_file(home).read_text() == "Serial,label\n5,3\n7,1\n"
    assert cli(home, "set", "7", "1") == 0
    assert "unchanged" in capsys.readouterr().out
    assert cli(home, "clear", "5") == 0
    assert labels_file(home).read_text() == "Serial,label\n7,1\n"
    capsys.readouterr()
    assert cli(home, "undo") == 0
    assert "undid change #3 (clear)" in capsys.readouterr().out
    assert labels_file(home).read_text() == "Serial,label\n5,3\n7,1\n"
    assert cli(home, "undo") == 0 and cli(home, "undo") == 0
    assert labels_file(home).read_text() == "Serial,label\n"
    capsys.readouterr()
    assert cli(home, "undo") == 0
    assert capsys.readouterr().out.strip() == "nothing to undo"
    log = [json.loads(x) for x in (home / "data" / "mnist" / "labels.changes.jsonl").read_text().splitlines()]
    assert [e["op"] for e in log] == ["set", "set", "clear", "undo", "undo", "undo"]
    assert all(e["source"] == "cli" for e in log)


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["set", "999999", "3"], "unknown Serial 999999"),
        (["set", str(N_TRAIN), "3"], f"unknown Serial {N_TRAIN}"),  # first test image: not labellable
        (["set", "1", "12"], "label 12 is out of range 0..9"),
        (["set", "1", "three"], "not a number"),
        (["clear", "-1"], "unknown Serial -1"),
        (["stats", "--dataset", "nosuch"], "dataset 'nosuch' not found"),
    ],
)
def test_user_errors_exit_2(home: Path, capsys: pytest.CaptureFixture[str], argv: list[str], msg: str) -> None:
    assert cli(home, "set", "1", "1") == 0
    before = labels_file(home).read_bytes()
    capsys.readouterr()
    assert cli(home, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and msg in err
    assert labels_file(home).read_bytes() == before


def test_import_and_export(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in.csv"
    src.write_text("Serial,label\n3,1.0\n4,\n9,2\n")
    assert cli(home, "import", str(src)) == 0
    assert "2 label(s) changed" in capsys.readouterr().out
    assert cli(home, "export") == 0
    assert capsys.readouterr().out == "Serial,label\n3,1\n9,2\n"
    assert cli(home, "export", "--format", "jsonl") == 0
    assert [json.loads(x) for x in capsys.readouterr().out.splitlines()] == [
        {"serial": 3, "label": 1},
        {"serial": 9, "label": 2},
    ]
    out = tmp_path / "out.jsonl"
    assert cli(home, "export", "--format", "jsonl", "-o", str(out)) == 0
    assert out.read_text().count("\n") == 2
    assert cli(home, "undo") == 0
    assert labels_file(home).read_text() == "Serial,label\n"


def test_import_bad_file_exit_2_names_line(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli(home, "set", "1", "1")
    before = labels_file(home).read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("Serial,label\n3,1\n4,12\n")
    capsys.readouterr()
    assert cli(home, "import", str(bad)) == 2
    err = capsys.readouterr().err
    assert f"{bad}: line 3: label 12" in err
    assert labels_file(home).read_bytes() == before


def test_broken_labels_file_exit_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = labels_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"Serial,label\n1,2\n1,3\n")
    assert cli(home, "set", "2", "2") == 2
    assert "line 3: duplicate Serial 1" in capsys.readouterr().err
    assert path.read_bytes() == b"Serial,label\n1,2\n1,3\n"


def test_stats(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for s, lab in [(0, 1), (1, 1), (2, 4)]:
        cli(home, "set", str(s), str(lab))
    capsys.readouterr()
    assert cli(home, "stats") == 0
    out = capsys.readouterr().out
    assert f"3 labelled, {N_TRAIN - 3} unlabelled of {N_TRAIN}" in out and "class 1: 2" in out
    assert cli(home, "stats", "--json") == 0
    st = json.loads(capsys.readouterr().out)
    assert st["labelled"] == 3 and st["per_class"][1] == 2 and st["num_classes"] == C


def test_seed_is_true_labels_deterministic_and_undoable(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.datasets import load_dataset
    from engine.stores.labels import LabelStore

    targets = load_dataset("mnist").targets
    assert cli(home, "seed", "--per-class", "3", "--seed", "7") == 0
    first = labels_file(home).read_text()
    got = LabelStore(labels_file(home), N_TRAIN, C).labels_dict()
    assert len(got) == 3 * C and all(s < N_TRAIN and targets[s] == lab for s, lab in got.items())
    assert np.bincount(list(got.values()), minlength=C).tolist() == [3] * C
    log = [json.loads(x) for x in (home / "data" / "mnist" / "labels.changes.jsonl").read_text().splitlines()]
    assert log[-1]["source"] == "oracle" and len(log[-1]["changes"]) == 3 * C

    assert cli(home, "undo") == 0
    assert labels_file(home).read_text() == "Serial,label\n"
    assert cli(home, "seed", "--per-class", "3", "--seed", "7") == 0
    assert labels_file(home).read_text() == first
    cli(home, "undo")
    assert cli(home, "seed", "--per-class", "3", "--seed", "8") == 0
    assert labels_file(home).read_text() != first
    capsys.readouterr()
    assert cli(home, "seed", "--per-class", "0") == 2


def test_other_dataset(home: Path) -> None:
    ds = synthetic_dataset(n_train=30, n_test=5, size=8, num_classes=3, name="toy")
    save_dataset(ds, dataset_path("toy", home / "data"))
    assert cli(home, "set", "29", "2", "--dataset", "toy") == 0
    assert labels_file(home, "toy").read_text() == "Serial,label\n29,2\n"
    assert not labels_file(home).exists()
    assert cli(home, "set", "30", "0", "--dataset", "toy") == 2
    assert cli(home, "set", "1", "3", "--dataset", "toy") == 2


def test_help_lists_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["label", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for action in ("set", "clear", "undo", "import", "export", "stats", "seed"):
        assert action in out
