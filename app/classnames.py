"""Class names as the page shows them (issue 24): the dataset's names (``engine.datasets.classes``,
read once by AppState) shortened where space is tight, the full name going to a title attribute.

A dataset without classes.json has the names "0".."K-1", so MNIST's page reads as it always did.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.datasets.classes import short_name

SHORT = 14  # characters of a name on a label button, a queue row or a legend entry
DIGIT_KEYS = 10  # keys 0-9 label the first ten classes (app/assets/input.js)
PICKER_KEY = "l"  # opens the type-ahead class picker (app/assets/picker.js)
FEW_BUTTONS = 20  # up to this many classes the sample panel has a button each; beyond, the first ten


def short(name: str, width: int = SHORT) -> str:
    """``name``, cut to ``width`` characters with an ellipsis when longer (the CLI's and the
    reports' cut, at the page's width)."""
    return short_name(name, width)


def name_of(names: Sequence[str], c: int) -> str:
    """Class ``c``'s name; the number itself for a class outside ``names`` (e.g. -1: none)."""
    return names[c] if 0 <= c < len(names) else str(c)


def digit_names(num_classes: int) -> list[str]:
    """The names of a dataset without classes.json (engine.datasets.classes.read_class_names)."""
    return [str(c) for c in range(num_classes)]
