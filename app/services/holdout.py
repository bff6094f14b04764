"""The held-out fraction of a dataset without test truth, as the stats panel shows and changes it.

A dataset whose test split holds no true class is scored on a fraction of the user's own labels,
never trained on (engine/stores/holdout.py, docs/formats.md "Held-out labels"). The panel shows
how many labels that is and lets the user change the fraction: the change is written to
``data/<name>/holdout.json``, which the training thread re-reads at its next label poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import DatasetError
from engine.stores import holdout
from engine.stores.holdout import HELD_OUT


@dataclass(frozen=True)
class HoldoutView:
    """What the stats panel says about the held-out labels."""

    fraction: float
    held: int  # labels held out of training (scored on)
    labelled: int  # labels in all
    error: str = ""  # holdout.json is unreadable: the default is shown, the file named


class HoldoutSetting:
    """The held-out fraction of the app's dataset. ``active``: the dataset has no test truth (else
    nothing is held out and :meth:`view` is None)."""

    def __init__(self, data_dir: Path, active: bool) -> None:
        self.data_dir = Path(data_dir)
        self.active = bool(active)

    def fraction(self) -> tuple[float, str]:
        """The fraction in the file (the default when it has none) and the file's error, if any."""
        try:
            return holdout.read_fraction(self.data_dir), ""
        except DatasetError as err:
            return holdout.DEFAULT_FRACTION, str(err)

    def version(self) -> tuple[int, int]:
        """Changes when holdout.json does (the panel's redraw key)."""
        return holdout.fraction_version(self.data_dir) if self.active else (0, 0)

    def view(self, labels: np.ndarray) -> HoldoutView | None:
        """The fraction and how many of ``labels`` it holds out; None for a dataset with test truth."""
        if not self.active:
            return None
        fraction, error = self.fraction()
        trained, held = holdout.label_split(labels, fraction)
        return HoldoutView(fraction, len(held), len(trained) + len(held), error)

    def set(self, raw: object) -> tuple[bool, str]:
        """Write the fraction typed in the panel (a number, or a string of one; a percentage such as
        "20%" is read as 0.2). Returns ``(ok, message)``; a bad value changes nothing."""
        if not self.active:
            return False, "this dataset is scored on its test split: no labels are held out"
        value: object = raw
        if isinstance(raw, str):
            text = raw.strip()
            try:
                value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
            except ValueError:
                return False, f"held-out fraction {raw!r} is not a number (0 to {holdout.MAX_FRACTION})"
        if value is None:
            return False, f"enter a held-out fraction from 0 to {holdout.MAX_FRACTION}"
        try:
            holdout.write_fraction(self.data_dir, value)  # type: ignore[arg-type]
        except ValueError as err:
            return False, f"{err}: nothing changed"
        return True, (
            f"held-out fraction set to {float(value):g}: the training picks it up at its next label poll"  # type: ignore[arg-type]
        )


def split_word(split: Any) -> str:
    """A run's accuracy split for the table: "test", "validation" or "held-out labels"."""
    return "held-out labels" if split == HELD_OUT else str(split or "test")


def split_tag(metrics: Any, metric: str) -> str:
    """What an accuracy series is scored on, for its legend, where that is not the test split: a run
    on a dataset without test truth is scored on held-out user labels, not comparable to a test
    accuracy (docs/formats.md, "Which accuracy"). "" for losses and test accuracies."""
    split = metrics.get("split") if isinstance(metrics, dict) else None
    if metric not in ("accuracy", "tau_acc", "labels") or not split or split == "test":
        return ""
    return " (held-out labels)" if split == HELD_OUT else f" ({split})"
