"""Class names in the CLI (issue 24, outcome 3) and `label export --predictions` (outcome 6): a
label set by name, names in the commands' tables, and every image's prediction from a checkpoint,
refused for a checkpoint of another dataset or shape."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from latentloop.cli import main
from tests.cli.test_cli_import import FAST, folders, img
from tests.helpers import exit_code, tiny_config_dict


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = exit_code(main, list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def config(home: Path, name: str = "tiny", **model) -> Path:
    d = tiny_config_dict(steps=30, eval_every=30)
    d["model"].update(model)
    if "image_shape" in model:
        d["data"] = {"name": "pets"}
    path = home / f"{name}.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_export_predictions_known_answers_and_refusals(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.datasets import dataset_path, save_dataset, synthetic_dataset

    assert run(capsys, "label", "seed", "--dataset", "synth", "--per-class", "2")[0] == 0
    cfg = config(home)
    assert run(capsys, "train", "-c", str(cfg), "--no-progress")[0] == 0
    # the known answer: the same model's predictions as `infer` writes them (predict_all of every row)
    assert run(capsys, "infer", "-c", str(cfg))[0] == 0
    infer = rows_of((home / "artifacts/predictions/synth-ssvae.csv").read_text())

    code, out, _ = run(capsys, "label", "export", "--dataset", "synth", "--predictions")
    assert code == 0
    rows = rows_of(out)
    assert list(rows[0]) == ["Serial", "label", "split", "predicted", "probability"]
    assert len(rows) == 800 and [int(r["Serial"]) for r in rows] == list(range(800))
    assert [r["split"] for r in rows] == ["train"] * 600 + ["test"] * 200
    assert [r["predicted"] for r in rows] == [r["predicted"] for r in infer]
    got = np.array([float(r["probability"]) for r in rows])
    assert np.abs(got - np.array([float(r["certainty"]) for r in infer])).max() <= 6e-5
    labelled = {int(r["Serial"]): int(r["label"]) for r in rows if r["label"]}
    want = {int(r["Serial"]): int(r["label"]) for r in rows_of((home / "data/synth/labels.csv").read_text())}
    assert labelled == want and len(labelled) == 20

    code, out, _ = run(capsys, "label", "export", "--dataset", "synth", "--predictions", "--format", "jsonl")
    first = json.loads(out.splitlines()[0])
    assert code == 0 and set(first) == {"serial", "label", "split", "predicted", "probability"}
    assert first["predicted"] == rows[0]["predicted"] and len(out.splitlines()) == 800
    code, out, _ = run(capsys, "label", "export", "--dataset", "synth", "--predictions", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and len(doc["labels"]) == 800 and doc["classes"] == [str(i) for i in range(10)]
    unlabelled = next(r for r in doc["labels"] if r["label"] is None)
    assert unlabelled["source"] is None and unlabelled["predicted"] == rows[unlabelled["serial"]]["predicted"]

    # refusals: another dataset of the same shape, another shape, the folder format, a stray --checkpoint
    save_dataset(synthetic_dataset(600, 200, seed=1, name="other"), dataset_path("other", home / "data"))
    save_dataset(synthetic_dataset(60, 20, size=12, seed=1, name="small"), dataset_path("small", home / "data"))
    for argv, msg in (
        (["--dataset", "other", "--predictions"], "trained on"),
        (["--dataset", "small", "--predictions", "--force"], "image_shape: [12, 12, 1]"),
        (["--dataset", "synth", "--predictions", "--checkpoint", "absent"], "no checkpoint 'absent'"),
        (["--dataset", "synth", "--predictions", "--format", "folder", "-o", "t"], "does not go with --format folder"),
        (["--dataset", "synth", "--checkpoint", "ssvae"], "add --predictions"),
    ):
        code, out, err = run(capsys, "label", "export", *argv)
        assert code == 2 and msg in err and "Traceback" not in err, (argv, err)
    code, out, _ = run(capsys, "label", "export", "--dataset", "other", "--predictions", "--force")
    assert code == 0 and len(rows_of(out)) == 800  # --force: the user's choice, as in infer


def test_names_in_set_export_round_trip(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = folders(tmp_path / "pets", n=8)
    assert run(capsys, "data", "import", "pets", str(src), *FAST)[0] == 0
    # a label by name or by number; labels.csv keeps the integers
    assert run(capsys, "label", "set", "0", "dog", "--dataset", "pets") == (0, "pets: 0: unlabelled -> dog\n", "")
    assert run(capsys, "label", "set", "9", "0", "--dataset", "pets")[1] == "pets: 9: unlabelled -> cat\n"
    assert run(capsys, "label", "set", "12", "cat", "--dataset", "pets")[0] == 0
    assert (home / "data/pets/labels.csv").read_text() == "Serial,label\n0,1\n9,0\n12,0\n"
    code, _, err = run(capsys, "label", "set", "1", "cow", "--dataset", "pets")
    assert code == 2 and "label 'cow' is not a number nor a class name of 'pets' (classes: cat, dog)" in err
    code, out, _ = run(capsys, "label", "stats", "--dataset", "pets")
    assert "  class cat: 2\n  class dog: 1\n" in out
    code, _, err = run(capsys, "label", "seed", "--per-class", "9", "--dataset", "pets")
    assert code == 2 and "only 8 training images of class cat exist" in err

    cfg = config(home, "pets", image_shape=[8, 8, 3], num_classes=2, components=2)
    assert run(capsys, "train", "-c", str(cfg), "--no-progress")[0] == 0
    # the classes by name in the commands' output (the numbers stay in JSON, next to the names)
    code, out, _ = run(capsys, "suggest", "-c", str(cfg), "-k", "3")
    assert code == 0 and out.splitlines()[0].startswith(" Serial      score  pred  certainty")
    assert all(line.split()[2] in ("cat", "dog") for line in out.splitlines()[1:])
    code, out, _ = run(capsys, "suggest", "-c", str(cfg), "-k", "3", "--format", "json")
    assert all(r["predicted_name"] == ("cat", "dog")[r["predicted"]] for r in json.loads(out))
    assert run(capsys, "infer", "-c", str(cfg), "-o", str(tmp_path / "p.csv"))[0] == 0
    infer = rows_of((tmp_path / "p.csv").read_text())
    assert {r["predicted"] for r in infer} <= {"cat", "dog"} and infer[0]["label"] == "dog"
    assert infer[0]["true"] == "cat" and infer[1]["label"] == ""
    code, out, _ = run(capsys, "label", "issues", "--dataset", "pets", "--all", "--checkpoint", "ssvae")
    table = out.splitlines()
    assert code == 0 and table[1].split()[:2] == ["serial", "given"] and len(table) == 5
    assert {line.split()[1] for line in table[2:]} <= {"cat", "dog"} and "labelled dog;" in out
    code, out, _ = run(capsys, "label", "issues", "--dataset", "pets", "--all", "--format", "json")
    doc = json.loads(out)
    assert doc["classes"] == ["cat", "dog"] and {r["given"] for r in doc["issues"]} == {0, 1}

    out_csv = tmp_path / "out" / "pets.csv"
    code, _, err = run(capsys, "label", "export", "--dataset", "pets", "--predictions", "-o", str(out_csv))
    assert code == 0 and "wrote 16 image(s)" in err
    rows = rows_of(out_csv.read_text())
    assert list(rows[0]) == ["path", "label", "serial", "source", "split", "predicted", "probability"]
    assert rows[0]["path"] == str(src / "cat" / "0.png") and rows[0]["label"] == "dog"
    assert rows[1]["label"] == rows[1]["source"] == "" and rows[1]["predicted"] in ("cat", "dog")
    assert all(0.5 <= float(r["probability"]) <= 1 for r in rows)  # the larger of two probabilities
    # the round trip: the export read back as a manifest gives the same labels (predictions ignored)
    assert run(capsys, "data", "import", "back", str(out_csv), *FAST)[0] == 0
    from engine.datasets import load_dataset
    from engine.datasets.classes import read_class_names
    from engine.datasets.provenance import read_sources, sources_path

    back = load_dataset("back")
    names = read_class_names("back", back.num_classes)
    targets = {r.path: int(back.targets[r.serial]) for r in read_sources(sources_path("back"))}
    assert len(targets) == 16 and sum(t < 0 for t in targets.values()) == 13  # unlabelled stay unlabelled
    got = {p: names[t] for p, t in targets.items() if t >= 0}
    assert got == {r["path"]: r["label"] for r in rows if r["label"]}


def test_report_names_the_classes(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    long = "zebra-with-a-long-name|and-a-bar"
    folders(tmp_path / "src" / "train", classes=("cat", long), n=8)
    for c, name in enumerate(("cat", long)):
        for i in range(3):  # other pixels than the training images (a duplicate is imported once)
            img(tmp_path / "src" / "test" / name / f"{i}.png", 1000 + 10 * c + i)
    assert run(capsys, "data", "import", "pets", str(tmp_path / "src"), *FAST)[0] == 0
    for serial in (0, 1, 8, 9):
        assert run(capsys, "label", "set", str(serial), "cat" if serial < 8 else long, "--dataset", "pets")[0] == 0
    cfg = config(home, "pets", image_shape=[8, 8, 3], num_classes=2, components=2)
    code, _, err = run(capsys, "experiment", "-c", str(cfg), "--name", "p", "--steps", "10", "--no-progress")
    assert code == 0, err
    run_dir = next((home / "artifacts/experiments").glob("p-*"))
    assert json.loads((run_dir / "run.json").read_text())["class_names"] == ["cat", long]
    report = (run_dir / "REPORT.md").read_text()
    per_class = report.split("## Confusion matrix and per-class accuracy")[1]
    assert "\n| cat | 3 |" in per_class and "\n| zebra-with-a-long-name\\|and-a-bar | 3 |" in per_class
    budget = report.split("## Label budget")[1]
    assert "| cat | 2 |" in budget and "| zebra-with-a-long-name\\|and-a-bar | 2 |" in budget
    # the predictions' manifest puts each image back in its split
    assert run(capsys, "train", "-c", str(cfg), "--steps", "5", "--no-progress")[0] == 0
    out_csv = tmp_path / "pred.csv"
    assert run(capsys, "label", "export", "--dataset", "pets", "--predictions", "-o", str(out_csv))[0] == 0
    assert [r["split"] for r in rows_of(out_csv.read_text())] == ["train"] * 16 + ["test"] * 6
    assert run(capsys, "data", "import", "back", str(out_csv), *FAST)[0] == 0
    from engine.datasets import load_dataset

    back = load_dataset("back")
    # the labels are the user's (4): a test image's true class is no label, so it is not exported
    assert (back.n_train, back.n_test, int((back.targets >= 0).sum())) == (16, 6, 4)

    # a run directory of before the names were recorded reads as the numbers
    run_json = json.loads((run_dir / "run.json").read_text())
    del run_json["class_names"]
    (run_dir / "run.json").write_text(json.dumps(run_json))
    assert run(capsys, "report", str(run_dir))[0] == 0
    assert "\n| 0 | 3 |" in (run_dir / "REPORT.md").read_text()


def test_plots_label_the_axes_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.reports import plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda plt, fig, path, tight=True: figures.append(fig))
    names = ["cat", "a-very-long-class-name"]
    plots.plot_confusion(tmp_path / "c.png", np.array([[3, 1], [0, 2]]), "test", names)
    plots.plot_tau(tmp_path / "t.png", np.array([[0.9, 0.1], [0.2, 0.8]]), [], names)
    plots.plot_confusion(tmp_path / "d.png", np.eye(3, dtype=int), "test")  # no names: the numbers
    ticks = [[t.get_text() for t in f.axes[0].get_xticklabels()] for f in figures]
    assert ticks[0] == ticks[1] == ["cat", "a-very-long…"]
    assert [t.get_text() for t in figures[0].axes[0].get_yticklabels()] == ["cat", "a-very-long…"]
    assert ticks[2] == ["0", "1", "2"]
