"""Arguments shared by the commands: model options, checked names and numbers, and options that
a command with sub-actions accepts both before and after its action."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from engine.backends.registry import available_backends
from engine.errors import LatentLoopError
from engine.paths import check_checkpoint_name, check_dataset_name

DEFAULT_DATASET = "mnist"


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """An argparse ``type`` running an engine.paths name check (bad value: usage error, exit 2)."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except LatentLoopError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = check.__name__.removeprefix("check_")
    return parse


dataset_name = _checked(check_dataset_name)
checkpoint_name = _checked(check_checkpoint_name)


def count(text: str) -> int:
    """An argparse ``type`` for a count that may be 0 (steps, rounds, samples)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def add_dataset_arg(p: argparse.ArgumentParser, default: str | None = DEFAULT_DATASET) -> None:
    shown = f"default: {default}" if default else "overrides data.name"
    p.add_argument("--dataset", type=dataset_name, default=default, help=f"dataset name under data/ ({shown})")


def add_actions(
    p: argparse.ArgumentParser, dest: str, shared: Callable[[argparse.ArgumentParser], None]
) -> tuple[argparse._SubParsersAction, argparse.ArgumentParser]:
    """Sub-actions of command ``p`` whose shared options go either side of the action.

    ``shared`` declares the options (with their defaults) on a parser. They are added to ``p``
    itself and to a parent returned for the action parsers (``parents=[inner]``), whose
    defaults are SUPPRESS: a value given only before the action is not overwritten by the
    action parser's default, and one given after it wins. Returns ``(subparsers, inner)``.
    """
    shared(p)
    inner = argparse.ArgumentParser(add_help=False)
    shared(inner)
    for action in inner._actions:
        action.default = argparse.SUPPRESS
    sub = p.add_subparsers(dest=dest, metavar="ACTION", required=True)
    return sub, inner


def add_progress_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="print one line per logged step (stdout) instead of a progress bar (stderr)",
    )


def add_model_args(p: argparse.ArgumentParser, checkpoint: bool = True) -> None:
    p.add_argument("--config", "-c", help="YAML config (default: built-in defaults)")
    add_dataset_arg(p, default=None)
    p.add_argument("--backend", choices=available_backends(), help="overrides backend")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--seed", type=int, help="overrides seed")
    if checkpoint:
        p.add_argument(
            "--checkpoint", type=checkpoint_name, help="checkpoint name (default: train.checkpoint, i.e. ssvae)"
        )


def overrides(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    o = {"data.name": args.dataset, "backend": args.backend, "device": args.device, "seed": args.seed}
    o.update(extra)
    return {k: v for k, v in o.items() if v is not None}


def add_command(sub: Any, doc: str | None) -> argparse.ArgumentParser:
    """A command's parser from its module docstring, the one place its help text is written:
    ``"`latentloop NAME`: short help.\n\nDescription paragraph.\n\nNotes for readers of the code."``"""
    assert doc, "a command module needs a docstring"
    head, _, rest = doc.partition("\n")
    m = re.fullmatch(r"`latentloop (\w+)`: (.+?)\.?", head.strip())
    assert m, f"a command docstring starts with '`latentloop NAME`: help': {head!r}"
    description = " ".join(rest.strip().split("\n\n")[0].split())
    return sub.add_parser(m.group(1), help=m.group(2), description=description or None)
