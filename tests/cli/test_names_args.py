"""Names are checked with a full match, numbers strictly, and shared options parse the same on
either side of a command's action."""

from __future__ import annotations

import argparse

import pytest

from engine.config import ConfigError, load_config
from engine.errors import CheckpointError, DatasetError, LabelError
from engine.paths import check_checkpoint_name, check_dataset_name, data_dir
from engine.stores.checkpoints import CheckpointStore
from engine.stores.labels import LabelStore
from engine.stores.labels_csv import parse_labels
from latentloop.cli import build_parser


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _has_dataset(p: argparse.ArgumentParser) -> bool:
    return any("--dataset" in a.option_strings for a in p._actions)


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "\nabc", "a/b", "..", "", "a" * 65, "é"])
def test_bad_names_are_rejected_everywhere(name: str, tmp_path) -> None:
    with pytest.raises(DatasetError, match="invalid dataset name"):
        check_dataset_name(name)
    with pytest.raises(DatasetError):
        data_dir(name)
    with pytest.raises(ConfigError, match=r"data\.name: invalid dataset name"):
        load_config(None, {"data.name": name})
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        check_checkpoint_name(name)
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        CheckpointStore(tmp_path).path(name)
    with pytest.raises(ConfigError, match=r"train\.checkpoint: invalid checkpoint name"):
        load_config(None, {"train.checkpoint": name})


def test_good_names_pass() -> None:
    assert check_dataset_name("mnist_2-b") == "mnist_2-b"
    assert check_checkpoint_name("run-1.best") == "run-1.best"
    assert load_config(None, {"train.checkpoint": "a" * 64}).train.checkpoint == "a" * 64


@pytest.mark.parametrize(
    "text,why",
    [
        ("1_0", "not a number"),
        ("٣", "not a number"),
        ("inf", "not a number"),
        ("-inf", "not a number"),
        ("0x1", "not a number"),
        ("1 0", "not a number"),
        ("3.5", "not an integer"),
        ("1e400", "not an integer"),
        ("9" * 50, "not a number of sensible size"),
    ],
)
def test_labels_numbers_are_parsed_strictly(text: str, why: str) -> None:
    with pytest.raises(LabelError, match=f"line 2: Serial .* is {why}"):
        parse_labels(f"Serial,label\n{text},1\n".encode(), 100, 10, "x.csv")
    with pytest.raises(LabelError, match=f"line 2: label .* is {why}"):
        parse_labels(f"Serial,label\n5,{text}\n".encode(), 100, 10, "x.csv")


def test_documented_number_forms_are_read(tmp_path) -> None:
    labels, _ = parse_labels(b"Serial,label\n 3 , 4 \n5,6.0\n7,2e0\n+8,1\n", 100, 10, "x.csv")
    assert labels == {3: 4, 5: 6, 7: 2, 8: 1}
    store = LabelStore(tmp_path / "labels.csv", 100, 10)
    with pytest.raises(LabelError, match="not a number"):
        store.set("1_0", 3)
    with pytest.raises(LabelError, match="not a number"):
        store.set(1, "1_0")
    assert not store.path.exists()


# -- --dataset on the command line -----------------------------------------------------------
# Arguments that make each action parse (besides --dataset).
ACTION_ARGS = {
    ("label", "set"): ["1", "2"],
    ("label", "clear"): ["1"],
    ("label", "undo"): [],
    ("label", "import"): ["f.csv"],
    ("label", "export"): [],
    ("label", "stats"): [],
    ("label", "holdout"): [],
    ("label", "seed"): ["--per-class", "1"],
    ("label", "issues"): [],
    ("label", "accept"): ["1"],
    ("feedback", "add"): ["1"],
    ("feedback", "list"): [],
    ("feedback", "rm"): ["1"],
    ("feedback", "parse"): ["centre"],
    ("data", "info"): [],
}


def test_every_action_with_dataset_is_covered(parser) -> None:
    found = {
        (cmd, act) for cmd, p in _subparsers(parser).items() for act, ap in _subparsers(p).items() if _has_dataset(ap)
    }
    assert found == set(ACTION_ARGS)
    for cmd in {c for c, _ in ACTION_ARGS}:
        assert _has_dataset(_subparsers(parser)[cmd]), f"{cmd}: --dataset before the action"


@pytest.mark.parametrize("cmd,action", sorted(ACTION_ARGS))
def test_dataset_parses_on_both_sides_of_the_action(parser, cmd: str, action: str) -> None:
    rest = ACTION_ARGS[cmd, action]
    before = parser.parse_args([cmd, "--dataset", "toy", action, *rest])
    after = parser.parse_args([cmd, action, *rest, "--dataset", "toy"])
    assert before.dataset == after.dataset == "toy"
    assert parser.parse_args([cmd, action, *rest]).dataset == "mnist"
    both = parser.parse_args([cmd, "--dataset", "one", action, *rest, "--dataset", "two"])
    assert both.dataset == "two"  # the later one wins, as for any repeated option


def _commands_with_dataset(parser) -> list[list[str]]:
    out = []
    for cmd, p in _subparsers(parser).items():
        actions = _subparsers(p)
        if actions:
            out += [[cmd, act, *ACTION_ARGS[cmd, act]] for act, ap in actions.items() if _has_dataset(ap)]
        elif _has_dataset(p) and cmd != "app":  # app's options belong to the app
            out.append([cmd])
    return out


@pytest.mark.parametrize("bad", ["abc\n", "../x", "a b"])
def test_bad_dataset_is_a_usage_error_in_every_command(parser, bad: str, capsys) -> None:
    argvs = _commands_with_dataset(parser)
    assert {"train", "infer", "simulate", "experiment", "suggest"} <= {a[0] for a in argvs}
    for argv in argvs:
        with pytest.raises(SystemExit) as exc:
            parser.parse_args([*argv, "--dataset", bad])
        assert exc.value.code == 2, argv
        assert "--dataset: invalid dataset name" in capsys.readouterr().err, argv


def test_backend_choices_come_from_the_registry(parser) -> None:
    from engine.backends.registry import available_backends

    for cmd in ("train", "infer", "simulate", "experiment"):
        p = _subparsers(parser)[cmd]
        (backend,) = [a for a in p._actions if "--backend" in a.option_strings]
        assert list(backend.choices) == available_backends()
    with pytest.raises(ConfigError, match="backend: unknown backend 'mxnet': use one of"):
        load_config(None, {"backend": "mxnet"})
