"""What the commands share: the parser (help with defaults), model options, checked names and counts,
a checkpoint's own config, run directories and output files, and options that a command with
sub-actions accepts both before and after its action.

Counts mean the same in every command (docs/cli.md): negative is a usage error, an amount of 0 is
none and a limit of 0 is no limit."""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.registry import available_backends
from engine.errors import LatentLoopError
from engine.paths import check_checkpoint_name, check_dataset_name

if TYPE_CHECKING:
    from engine.config import Config

DEFAULT_DATASET = "mnist"


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows every option's default, unless its help text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            text is argparse.SUPPRESS
            or "default" in text
            or not action.option_strings
            or action.default in (None, False, argparse.SUPPRESS)
        ):
            return text
        return f"{text} (default: %(default)s)".strip()


class Parser(argparse.ArgumentParser):
    """The CLI's parser: every sub-command's parser is one too (argparse makes subparsers of the
    parent's class), so every --help shows the defaults."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)


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
    """An argparse ``type`` for a count that may be 0 (steps, rounds, samples, seeds). The same in
    every command (docs/cli.md): an amount of 0 (``--steps``, ``--rounds``) means none, a limit of 0
    (``-k``, ``--pool``, ``--mc-pool``, ``--max-train``) means no limit; negative is a usage error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive(text: str) -> int:
    """An argparse ``type`` for a count that must be 1 or more (MC passes, labels per class)."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def check_per_class(ds: Any, per_class: int, option: str, exclude: Any = None, names: list[str] | None = None) -> None:
    """LatentLoopError when some class of ``ds``'s training split (without rows ``exclude``) has
    fewer than ``per_class`` images: the request is refused, not silently shrunk. ``names``: the
    class names the message uses (default the numbers)."""
    import numpy as np

    from engine.datasets.store import require_ground_truth

    require_ground_truth(ds, f"{option} (the oracle's true labels)")
    y = np.array(ds.targets[: ds.n_train])
    if exclude is not None and len(exclude):
        y[exclude] = -1
    counts = np.bincount(y[y >= 0], minlength=ds.num_classes)
    smallest = int(counts.argmin())
    if per_class > counts[smallest]:
        raise LatentLoopError(
            f"{option} {per_class}: only {counts[smallest]} training images of class "
            f"{names[smallest] if names else smallest} exist "
            f"(the smallest class of {ds.name!r}); ask for at most {counts[smallest]}"
        )


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
    inner = Parser(add_help=False)
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
    p.add_argument("--seed", type=count, help="overrides seed")
    if checkpoint:
        p.add_argument(
            "--checkpoint", type=checkpoint_name, help="checkpoint name (default: train.checkpoint, i.e. ssvae)"
        )
        add_force_arg(p)


def add_force_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--force", action="store_true", help="use a checkpoint trained on another dataset (or version of it) anyway"
    )


def require_checkpoint(name: str) -> None:
    """CheckpointError naming the checkpoints there are, when checkpoint ``name`` does not exist."""
    from engine.stores.checkpoints import CheckpointStore

    store = CheckpointStore()
    if not store.exists(name):
        names = store.names()
        there = f"available: {', '.join(names)}" if names else "no checkpoints yet"
        raise LatentLoopError(
            f"no checkpoint {name!r} in {store.root} ({there}): train one first (latentloop train) "
            "or pass --checkpoint NAME"
        )


def checkpoint_config(args: argparse.Namespace, sets: dict[str, Any], name: str | None = None) -> Config | None:
    """The config of a command that loads checkpoint ``name`` (default: ``--checkpoint``, else
    train.checkpoint): without ``-c``, the one the checkpoint was trained with plus the command
    line's settings ``sets`` (a branch keeps the tasks, weights and curriculum it was forked with).
    None when ``-c`` is given or the checkpoint records no config (then -c or the defaults apply)."""
    from engine.config import apply_overrides, from_dict
    from engine.stores.checkpoints import CheckpointStore

    if getattr(args, "config", None) is not None:
        return None
    name = name or getattr(args, "checkpoint", None) or from_dict({}).train.checkpoint
    require_checkpoint(name)
    raw = CheckpointStore().load(name).meta.get("config")
    if not isinstance(raw, dict) or not raw:
        return None
    return from_dict(apply_overrides(raw, {k: v for k, v in sets.items() if v is not None}))


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


def fmt_bytes(n: int) -> str:
    """``512 B``, ``1.2 MB``, ``3.4 GB`` (powers of 1000, as ``ls --si``)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError(n)


@contextlib.contextmanager
def run_directory(path: Path, results: tuple[str, ...]) -> Iterator[Path]:
    """Create the run directory ``path`` (a LatentLoopError naming it when that fails); when the
    command fails before any of ``results`` exists in it, remove it again, so a refused or broken
    run leaves no empty run directory behind."""
    existed = path.exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LatentLoopError(f"cannot create the run directory {path}: {err.strerror or err}") from None
    try:
        yield path
    except BaseException:
        if not existed and not any((path / r).exists() for r in results):
            shutil.rmtree(path, ignore_errors=True)
        raise


def output_file(text: str) -> Path:
    """An output file named on the command line (``-o``, ``--out``): relative to the working
    directory, its missing parent directories created, as in every command; a place that cannot
    hold it is a LatentLoopError naming it."""
    path = Path(text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise LatentLoopError(f"cannot create the directory {path.parent} for {path}: {err.strerror or err}") from None
    if path.is_dir():
        raise LatentLoopError(f"{path} is a directory: name a file")
    return path
