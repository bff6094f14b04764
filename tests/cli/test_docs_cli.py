"""docs/cli.md's sample outputs cannot drift: every command marked ``# synthetic`` in a console
block is run on a synthetic project like the docs' (a tiny config in place of
configs/quick.yaml), and its stdout must read as the sample does, numbers aside.

In a sample, ``...`` stands for any lines; a progress-bar line and a line marked ``# stderr`` are
skipped (stderr); every number
matches any number, and runs of spaces any spacing (column widths follow the numbers). Help texts
show every option's default (tested here too)."""

from __future__ import annotations

import argparse
import io
import re
import shlex
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

from latentloop.cli import build_parser, main
from tests.helpers import ROOT, exit_code, tiny_config_dict

DOC = ROOT / "docs" / "cli.md"
DOC_HOME = "/tmp/docrun"  # the samples' project directory
# Sections in the order a session runs them (the checkpoint section lists what train made).
ORDER = ("data", "train", "infer", "probe", "suggest", "ckpt", "simulate", "experiment", "report")
NUMBER = re.compile(r"[-+]?\d+(?:[.,:]\d+)*(?:e[-+]?\d+)?")
BAR = re.compile(r"\d+%\|")


def samples(doc: str) -> dict[str, list[tuple[str, list[str]]]]:
    """``{section: [(command, expected stdout lines)]}`` of the ``# synthetic`` commands."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    section = ""
    in_block = False
    current: list[str] | None = None
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            in_block = line.startswith("```console") and not in_block
            current = None
            continue
        if not in_block:
            continue
        if line.startswith("$ "):
            command = line[2:]
            while command.endswith("\\"):
                command = command[:-1] + lines[i].strip()
                i += 1
            current = None
            if "# synthetic" in command:
                current = []
                out.setdefault(section, []).append((command.split("#")[0].strip(), current))
        elif current is not None:
            current.append(line)
    return out


def _mask(line: str) -> str:
    return " ".join(NUMBER.sub("#", line).split())


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` reads as ``expected`` (``...``: any lines; numbers and spacing free)."""
    want = [_mask(e) for e in expected if not BAR.search(e) and not e.rstrip().endswith("# stderr")]
    got = [_mask(a) for a in actual]

    def go(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i] == "...":
            return any(go(i + 1, k) for k in range(j, len(got) + 1))
        return j < len(got) and want[i] == got[j] and go(i + 1, j + 1)

    return go(0, 0)


@pytest.fixture
def project(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The docs' project: data synth synth, 10 true labels per class; a tiny config for quick.yaml
    and one with tasks.md's tasks for the probe sample's checkpoint ``tasks``."""
    monkeypatch.chdir(home)
    cfg = tiny_config_dict(steps=40, eval_every=30)
    cfg["data"]["name"] = "mnist"  # as configs/quick.yaml: the samples pass --dataset synth
    cfg["curriculum"]["anneal_steps"] = 10  # as quick.yaml: every phase before the first evaluation
    (home / "quick.yaml").write_text(yaml.safe_dump(cfg))
    block = (ROOT / "docs" / "tasks.md").read_text().split("```yaml\n", 1)[1].split("```", 1)[0]
    tasks = yaml.safe_load(block)["tasks"]  # docs/tasks.md's example list
    (home / "tasks.yaml").write_text(yaml.safe_dump({**tiny_config_dict(steps=40), "tasks": tasks}))
    assert main(["label", "seed", "--dataset", "synth", "--per-class", "10"]) == 0
    assert main(["train", "-c", "tasks.yaml", "--checkpoint", "tasks", "--no-progress"]) == 0
    return home


def _run(command: str, home: Path) -> list[str]:
    """stdout lines of one sample command (``| head -N`` honoured), paths as in the docs."""
    command, _, pipe = command.partition("|")
    argv = shlex.split(command.replace("configs/quick.yaml", "quick.yaml").replace(DOC_HOME, str(home)))
    assert argv[0] == "latentloop", command
    argv = [re.sub(r"^(artifacts/experiments/\w+)-\d{8}-\d{6}$", lambda m: _newest(m.group(1)), a) for a in argv[1:]]
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = exit_code(main, argv)
    assert code == 0, (command, code)
    lines = buf.getvalue().replace(str(home), DOC_HOME).splitlines()
    head = re.fullmatch(r"\s*head -(\d+)\s*", pipe)
    return lines[: int(head.group(1))] if head else lines


def _newest(prefix: str) -> str:
    return str(max(Path().glob(f"{prefix}-*")))


def test_the_sample_outputs_are_what_the_commands_print(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = samples(DOC.read_text())
    assert set(found) <= set(ORDER), set(found) - set(ORDER)
    assert {"data", "train", "ckpt", "simulate", "experiment"} <= set(found)
    stale = []
    for section in ORDER:
        for command, expected in found.get(section, []):
            actual = _run(command, project)
            if not matches(expected, actual):
                stale.append(f"$ {command}\n  docs:\n    " + "\n    ".join(expected) + "\n  now:\n    "
                             + "\n    ".join(actual))  # fmt: skip
    capsys.readouterr()
    assert not stale, "docs/cli.md is stale:\n" + "\n".join(stale)


def test_the_matcher() -> None:
    assert matches(["a 1", "...", "c 2.5"], ["a 7", "b", "b", "c 0.25"])
    assert matches(["x  10   y"], ["x 3 y"]) and matches(["...", "z"], ["z"])
    assert not matches(["a 1", "c"], ["a 1", "b", "c"]) and not matches(["a"], ["a", "b"])
    assert matches(["a", " 60%|██    | 300/500 [bar]", "b", "progress   # stderr"], ["a", "b"])


def _parsers(parser: argparse.ArgumentParser, name: str = "latentloop"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_help_shows_the_defaults() -> None:
    """Every option with a default says it in --help, and the strategies are listed once."""
    missing = []
    for name, parser in _parsers(build_parser()):
        text = parser.format_help()
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS):
                continue
            if action.help is argparse.SUPPRESS or "help" in action.dest:
                continue
            entry = parser._get_formatter()._format_action(action)
            if "default" not in entry:
                missing.append(f"{name} {action.option_strings[0]}")
        if name == "latentloop suggest":
            assert text.count("margin+kcenter") == 1, text
    assert not missing, missing


def test_help_has_no_overlong_lines() -> None:
    for name, parser in _parsers(build_parser()):
        for line in parser.format_help().splitlines():
            assert len(line) <= 200, (name, line)
