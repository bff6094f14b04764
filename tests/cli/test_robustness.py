"""Wrong input, through the CLI: every command x the mistakes a newcomer makes (a missing, mistyped
or other-dataset checkpoint, a config of another model, negative and out-of-range counts,
impossible sizes, a bad device, an unwritable output, a closed pipe, Ctrl+C). Every case exits
with status 2 (141 for the closed pipe, 130 for Ctrl+C), prints no traceback, names the thing that
is wrong, and leaves every file of the project byte-identical (test_malformed.py does the same
for malformed files)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from latentloop.cli import main
from tests.helpers import ROOT, exit_code, tiny_config_dict, tree_bytes

CONFIG = "tiny.yaml"  # the config ssvae was trained with
OTHER_MODEL = "wide.yaml"  # the same but model.hidden 32
FOUR = "four.yaml"  # the same but model.num_classes 4 (set: not the default, so not taken from the dataset)
SMALL = "small.yaml"  # the same but model.image_shape [24, 24, 1]
TASKS = "tasks.yaml"  # a probe task
TRAIN = ["train", "-c", CONFIG, "--no-progress"]


@dataclass
class Case:
    id: str
    argv: list[str]
    says: list[str]  # on stderr
    prepare: Callable[[Path], None] | None = None
    code: int = 2
    needs_no_cuda: bool = False  # a case about a missing CUDA device


def _rebuild_synth(home: Path) -> None:
    """data/synth with other images under the same name (a checkpoint of the old one is stale)."""
    from engine.datasets import clear_cache, dataset_path, save_dataset, synthetic_dataset

    save_dataset(synthetic_dataset(600, 200, seed=5), dataset_path("synth", home / "data"))
    clear_cache()


def _remove_ssvae(home: Path) -> None:
    shutil.rmtree(home / "artifacts/checkpoints/ssvae.ckpt")


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # A mistyped checkpoint: an error naming it and the ones there are, in every command.
    for cmd in (
        ["infer"],
        ["suggest"],
        ["label", "issues", "--dataset", "synth"],
        ["probe", "-c", TASKS],
        ["train", "--resume", "--no-progress"],
    ):
        add(Case(f"mistyped-{cmd[0]}{'-' + cmd[1] if cmd[0] == 'label' else ''}", [*cmd, "--checkpoint", "ssvea"],
                 ["'ssvea'", "ssvae"]))  # fmt: skip
    add(Case("mistyped-ckpt-show", ["ckpt", "show", "ssvea"], ["'ssvea' not found", "ssvae"]))
    add(Case("mistyped-ckpt-fork", ["ckpt", "fork", "ssvea", "b"], ["'ssvea' not found"]))
    add(Case("mistyped-ckpt-rm", ["ckpt", "rm", "ssvea", "--yes"], ["'ssvea' not found"]))
    # No checkpoint at all: the default one is named, with how to get one.
    for cmd in (["infer"], ["suggest"], ["label", "issues", "--dataset", "synth"]):
        add(Case(f"missing-{'-'.join(cmd[:2])}", cmd, ["no checkpoint 'ssvae'", "latentloop train"], _remove_ssvae))
    add(Case("missing-train-resume", ["train", "--resume"], ["no checkpoint 'ssvae'"], _remove_ssvae))
    add(Case("missing-probe", ["probe", "--checkpoint", "ssvae"], ["'ssvae' not found"], _remove_ssvae))
    # A checkpoint of another dataset: both names and the ways out.
    wrong = ["trained on dataset 'synth', not 'other'", "--force", "ckpt fork ssvae"]
    add(Case("other-dataset-infer", ["infer", "--dataset", "other"], wrong))
    add(Case("other-dataset-suggest", ["suggest", "--dataset", "other"], wrong))
    add(Case("other-dataset-label-issues", ["label", "issues", "--dataset", "other"], wrong))
    add(Case("other-dataset-train-resume", ["train", "--resume", "--steps", "40", "--dataset", "other"], wrong))
    add(Case("other-dataset-infer-with-config", ["infer", "-c", CONFIG, "--dataset", "other"], wrong))
    # ... or another version of its own dataset (same name, other images).
    stale = ["another version of dataset 'synth'", "sha256", "--force"]
    for cmd in (
        ["infer"],
        ["suggest"],
        ["label", "issues", "--dataset", "synth"],
        ["train", "--resume", "--steps", "40", "--no-progress"],
        ["probe", "--checkpoint", "ssvae", "-c", TASKS],
    ):
        add(Case(f"stale-dataset-{'-'.join(cmd[:2]).lstrip('-')}", cmd, stale, _rebuild_synth))
    # A config of another model: the differing key and -c.
    other = ["different model config", "model.hidden", "-c"]
    for cmd in (
        ["infer"],
        ["suggest"],
        ["label", "issues", "--dataset", "synth"],
        ["train", "--resume", "--steps", "40"],
    ):
        add(Case(f"other-model-{'-'.join(cmd[:2])}", [*cmd, "-c", OTHER_MODEL], other))
    add(Case("config-missing-infer", ["infer", "-c", "nope.yaml"], ["config file not found: nope.yaml"]))
    # A dataset the model cannot take.
    add(Case("classes-train", ["train", "-c", FOUR, "--dataset", "c5", "--checkpoint", "c5"],
             ["'c5' has 5 classes", "model.num_classes", "-c"]))  # fmt: skip
    add(Case("image-size-train", ["train", "-c", SMALL, "--dataset", "s32", "--checkpoint", "s32"],
             ["[32, 32, 1]", "model.image_shape", "-c"]))  # fmt: skip
    add(Case("no-dataset-train", ["train", "-c", CONFIG, "--dataset", "nope", "--checkpoint", "n"], ["nope"]))
    # Train onto an existing checkpoint, or a resume with nothing to do.
    add(Case("train-onto-existing", TRAIN, ["checkpoint 'ssvae' exists", "--resume", "--overwrite"]))
    add(Case("resume-nothing-to-do", ["train", "--resume", "--steps", "10"], ["at step 20 already", "--steps"]))
    add(Case("resume-no-steps", ["train", "--resume"], ["at step 20 already", "would do nothing"]))
    add(Case("resume-and-overwrite", ["train", "--resume", "--overwrite"], ["--overwrite", "not allowed"]))
    # Negative counts: a usage error naming the option, in every command.
    for opt, cmd in (
        ("-k", ["suggest"]),
        ("-k", ["label", "issues", "--dataset", "synth"]),
        ("--mc-pool", ["suggest"]),
        ("--steps", TRAIN),
        ("--seed", TRAIN),
        ("--rounds", ["simulate"]),
        ("--seed-labels", ["simulate"]),
        ("--per-round", ["simulate"]),
        ("--round-steps", ["simulate"]),
        ("--first-steps", ["simulate"]),
        ("--pool", ["simulate"]),
        ("--seeds", ["simulate"]),
        ("--steps", ["experiment"]),
        ("--validation", ["experiment"]),
        ("--labels-per-class", ["experiment"]),
        ("--max-train", ["probe", "--checkpoint", "ssvae"]),
        ("--n-train", ["data", "synth", "x"]),
        ("--n-test", ["data", "synth", "x"]),
        ("--seed", ["data", "synth", "x"]),
        ("--per-class", ["label", "seed", "--dataset", "synth"]),
        ("--seed", ["label", "seed", "--dataset", "synth", "--per-class", "1"]),
    ):
        add(Case(f"negative-{cmd[0]}{opt}", [*cmd, opt, "-1"], [opt, "must be 0 or more, got -1"]))
    # Counts that must be at least 1.
    add(Case("zero-mc-samples", ["suggest", "-s", "bald", "--mc-samples", "0"], ["--mc-samples", "1 or more"]))
    add(Case("zero-labels-per-class", ["experiment", "--labels-per-class", "0"], ["--labels-per-class"]))
    add(Case("zero-per-class", ["label", "seed", "--dataset", "synth", "--per-class", "0"], ["--per-class"]))
    add(Case("zero-classes", ["data", "synth", "x", "--num-classes", "0"], ["--num-classes"]))
    add(Case("not-a-number", ["suggest", "-k", "ten"], ["-k", "'ten'"]))
    # Impossible requests: refused with what exists.
    add(Case("seed-more-than-exist", ["label", "seed", "--dataset", "synth", "--per-class", "100"],
             ["--per-class 100", "only 60"]))  # fmt: skip
    add(Case("experiment-more-than-exist", ["experiment", "-c", CONFIG, "--labels-per-class", "100"],
             ["--labels-per-class 100", "only 60"]))  # fmt: skip
    add(Case("experiment-validation-too-big", ["experiment", "-c", CONFIG, "--validation", "700"],
             ["data.validation=700", "600", "--validation"]))  # fmt: skip
    add(Case("simulate-seed-labels-too-many", ["simulate", "-c", CONFIG, "--seed-labels", "700"],
             ["--seed-labels 700", "only 600 training images"]))  # fmt: skip
    add(Case("simulate-rounds-too-many", ["simulate", "-c", CONFIG, "--rounds", "100"],
             ["--rounds 100", "only 600 training images"]))  # fmt: skip
    add(Case("synth-size-not-multiple-of-4", ["data", "synth", "x", "--size", "30"], ["--size", "multiple of 4"]))
    add(Case("label-set-unknown-serial", ["label", "set", "700", "1", "--dataset", "synth"], ["Serial 700"]))
    add(Case("label-set-bad-class", ["label", "set", "7", "12", "--dataset", "synth"], ["12"]))
    add(Case("rm-without-yes", ["ckpt", "rm", "ssvae"], ["--yes"]))
    add(Case("fork-onto-existing", ["ckpt", "fork", "ssvae", "ssvae"], ["onto itself"]))
    add(Case("report-not-a-run", ["report", "data"], ["data"]))
    # A bad device.
    for cmd in (TRAIN, ["infer"], ["suggest"], ["simulate", "-c", CONFIG], ["experiment", "-c", CONFIG]):
        add(Case(f"device-gpu-{cmd[0]}", [*cmd, "--device", "gpu"], ["unknown device 'gpu'", "cpu", "cuda"]))
    for cmd in ([*TRAIN, "--checkpoint", "new"], ["infer"]):
        add(Case(f"device-cuda-{cmd[0]}", [*cmd, "--device", "cuda"], ["--device cuda", "no CUDA device", "cpu"],
                 needs_no_cuda=True))  # fmt: skip
    add(Case("device-tpu-train-resume", ["train", "--resume", "--steps", "40", "--device", "tpu"],
             ["unknown device 'tpu'"]))  # fmt: skip
    # An output that cannot be written.
    add(Case("unwritable-infer", ["infer", "-o", "/proc/nope/p.csv"], ["/proc/nope"]))
    add(Case("unwritable-export", ["label", "export", "--dataset", "synth", "-o", "/proc/nope/l.csv"], ["/proc/nope"]))
    add(Case("unwritable-simulate", ["simulate", "-c", CONFIG, "--out", "/proc/nope"], ["/proc/nope"]))
    add(Case("unwritable-probe", ["probe", "--checkpoint", "ssvae", "-c", TASKS, "--out", "/proc/nope/p.json"],
             ["/proc/nope"]))  # fmt: skip
    add(Case("output-is-a-directory", ["infer", "-o", "data"], ["data is a directory"]))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with datasets synth, other (other images), c5 (5 classes), s32 (32x32), 3 labels
    per class in synth and other, and checkpoint ssvae trained 20 steps on synth."""
    from engine.datasets import clear_cache, dataset_path, save_dataset, synthetic_dataset

    home = tmp_path_factory.mktemp("project")
    data = home / "data"
    save_dataset(synthetic_dataset(600, 200, seed=0), dataset_path("synth", data))
    save_dataset(synthetic_dataset(600, 200, seed=1, name="other"), dataset_path("other", data))
    save_dataset(synthetic_dataset(100, 20, num_classes=5, seed=2, name="c5"), dataset_path("c5", data))
    save_dataset(synthetic_dataset(100, 20, size=32, seed=3, name="s32"), dataset_path("s32", data))
    cfg = tiny_config_dict(steps=20, eval_every=10)
    (home / CONFIG).write_text(yaml.safe_dump(cfg))
    (home / OTHER_MODEL).write_text(yaml.safe_dump({**cfg, "model": {**cfg["model"], "hidden": 32}}))
    (home / FOUR).write_text(yaml.safe_dump({**cfg, "model": {**cfg["model"], "num_classes": 4, "components": 4}}))
    (home / SMALL).write_text(yaml.safe_dump({**cfg, "model": {**cfg["model"], "image_shape": [24, 24, 1]}}))
    (home / TASKS).write_text(yaml.safe_dump({**cfg, "tasks": [{"name": "digit", "kind": "classification"}]}))
    cwd = Path.cwd()
    os.chdir(home)
    try:
        for ds in ("synth", "other"):
            assert main(["--home", str(home), "label", "seed", "--dataset", ds, "--per-class", "3"]) == 0
        assert main(["--home", str(home), *TRAIN]) == 0
    finally:
        os.chdir(cwd)
        os.environ.pop("LATENTLOOP_HOME", None)
    clear_cache()
    return home


@pytest.fixture
def home(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the project, the working and home directory."""
    from engine.datasets import clear_cache

    copy = tmp_path / "p"
    shutil.copytree(project, copy)
    monkeypatch.setenv("LATENTLOOP_HOME", str(copy))
    monkeypatch.chdir(copy)
    clear_cache()
    return copy


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_wrong_input_is_refused_cleanly(case: Case, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.needs_no_cuda:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    if case.prepare:
        case.prepare(home)
    before = tree_bytes(home)
    code = exit_code(main, ["--home", str(home), *case.argv])
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err
    for text in case.says:
        assert text in err, (text, err)
    after = tree_bytes(home)
    assert after == before, sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _command(home: Path, *argv: str) -> list[str]:
    return [sys.executable, "-m", "latentloop", "--home", str(home), *argv]


ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
PIPED = [["ckpt", "show", "ssvae"], ["ckpt", "list", "--json"], ["label", "stats", "--dataset", "synth"],
         ["data", "info", "--dataset", "synth"], ["label", "export", "--dataset", "synth"]]  # fmt: skip


@pytest.mark.parametrize("argv", PIPED, ids=["-".join(a[:2]) for a in PIPED])
def test_a_closed_pipe_ends_the_command_quietly(argv: list[str], home: Path) -> None:
    """``latentloop ... | head``: the reader is gone before the command writes; it stops without a
    traceback and with the status of a Unix tool ended by SIGPIPE (128 + 13)."""
    before = tree_bytes(home)
    p = subprocess.Popen(_command(home, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141, err
    assert err == ""
    assert tree_bytes(home) == before


def test_ctrl_c_saves_and_says_where_it_stopped(home: Path) -> None:
    """Ctrl+C on train: the checkpoint is saved at the step reached, the message says which step
    of how many, the status is 130 and nothing else changed."""
    before = tree_bytes(home)
    argv = ["train", "-c", CONFIG, "--checkpoint", "intr", "--steps", "100000", "--no-progress"]
    p = subprocess.Popen(_command(home, *argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True)
    assert p.stdout is not None
    for line in p.stdout:  # training has started once a step is logged
        if line.startswith("step "):
            break
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err
    meta = json.loads((home / "artifacts/checkpoints/intr.ckpt/meta.json").read_text())
    assert f"interrupted at step {meta['step']} of 100000" in err
    assert 0 < meta["step"] < 100000
    after = tree_bytes(home)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert all(k.startswith("artifacts/checkpoints/intr.ckpt/") for k in changed), changed


def test_there_are_at_least_60_cases() -> None:
    assert len(CASES) + len(PIPED) + 1 >= 60 and len({c.id for c in CASES}) == len(CASES)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = exit_code(main, list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_the_ways_out_work(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--force, a branch for the other dataset, the checkpoint's own config without -c, the dataset
    column, and branches that keep their parent by id (not by name) when it is removed."""
    assert "test accuracy" in _run(capsys, "infer", "--dataset", "other", "--force")
    _run(capsys, "ckpt", "fork", "ssvae", "forother", "--set", "data.name=other")
    assert "predictions" in _run(capsys, "infer", "--checkpoint", "forother")  # its config names other
    _run(capsys, "train", "-c", OTHER_MODEL, "--checkpoint", "wide")
    _run(capsys, "infer", "--checkpoint", "wide")  # no -c: the checkpoint's own (wider) model
    listing = {line.split()[0]: line.split()[1] for line in _run(capsys, "ckpt", "list").splitlines()[1:]}
    assert listing == {"forother": "other", "ssvae": "synth", "wide": "synth"}
    tree = json.loads(_run(capsys, "ckpt", "tree", "--json"))
    assert [(d, r["name"]) for d, r in tree if r["name"] in ("ssvae", "forother")] == [(0, "ssvae"), (1, "forother")]
    _run(capsys, "ckpt", "rm", "ssvae", "--yes")
    _run(capsys, "train", "-c", CONFIG)  # a new ssvae: not the parent of the old one's branch
    tree = json.loads(_run(capsys, "ckpt", "tree", "--json"))
    assert all(d == 0 for d, _ in tree), tree


def test_a_config_at_the_defaults_takes_the_datasets_shape_and_classes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tiny.yaml leaves model.image_shape and model.num_classes at their defaults: a 32x32 dataset
    and a 5-class one train with it, the checkpoint records what was used and the note says so
    (the refusals above use configs that set them to other values)."""
    code = exit_code(main, ["train", "-c", CONFIG, "--dataset", "s32", "--checkpoint", "s32"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "note: model.image_shape [32, 32, 1] from dataset 's32'" in err
    assert _meta(home, "s32")["config"]["model"]["image_shape"] == [32, 32, 1]
    code = exit_code(main, ["train", "-c", CONFIG, "--dataset", "c5", "--checkpoint", "c5"])
    err = capsys.readouterr().err
    assert code == 0 and "note: model.num_classes 5 from dataset 'c5'" in err
    assert _meta(home, "c5")["config"]["model"]["num_classes"] == 5
    assert "predictions" in _run(capsys, "infer", "--checkpoint", "s32", "--dataset", "s32")


def _meta(home: Path, name: str) -> dict:
    return json.loads((home / f"artifacts/checkpoints/{name}.ckpt/meta.json").read_text())


def test_a_checkpoint_records_its_dataset_and_keeps_its_id(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from engine.datasets import load_dataset
    from engine.datasets.attributes import images_sha256

    meta = _meta(home, "ssvae")
    assert meta["dataset"] == "synth" and meta["dataset_sha256"] == images_sha256(load_dataset("synth").images)
    assert meta["config"]["train"]["steps"] == 20 and len(meta["id"]) == 32
    _run(capsys, "train", "--resume", "--steps", "30")
    assert _meta(home, "ssvae")["id"] == meta["id"]  # a resume keeps it
    _run(capsys, "ckpt", "fork", "ssvae", "b")
    branch = _meta(home, "b")
    assert branch["parent_id"] == meta["id"] and branch["id"] != meta["id"]


def test_a_checkpoint_without_the_sha_is_checked_by_name() -> None:
    from engine.training.checkpoints import dataset_mismatch

    def never() -> str:
        raise AssertionError("no sha to compare")

    assert dataset_mismatch("old", {"dataset": "synth"}, "synth", never) is None
    assert dataset_mismatch("old", {}, "mnist", never) is None  # records no dataset: nothing to check
    said = dataset_mismatch("old", {"dataset": "synth"}, "mnist", never)
    assert said and "'synth'" in said and "'mnist'" in said and "--force" in said and "ckpt fork old" in said
    stored = {"dataset": "a", "dataset_sha256": "1" * 64}
    assert dataset_mismatch("x", stored, "a", lambda: "1" * 64) is None
    assert "another version" in str(dataset_mismatch("x", stored, "a", lambda: "2" * 64))
