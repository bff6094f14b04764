"""One wording of an accuracy: which split it is on, how many samples, and (for user labels) how sure.

Three kinds of number are called accuracy (docs/formats.md, "Which accuracy"):

- ``test``: on the dataset's test split, scored against its true classes;
- ``validation``: on a part of the training split held out by ``data.validation`` (true classes);
- ``held-out``: on the user's own labels set aside from training (engine/stores/holdout.py), for
  a dataset with no test truth. Few and chosen by a person, so it is shown with its 95% interval.
"""

from __future__ import annotations

import math

from engine.stores.holdout import HELD_OUT

SPLIT_NOUNS = {"test": "test images", "validation": "validation images", HELD_OUT: "held-out labels"}


def wilson_interval(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``correct / n`` (sound at small n and at 0 or 1)."""
    if n <= 0:
        return (0.0, 1.0)
    p = correct / n
    d = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / d
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, centre - half), min(1.0, centre + half))


def describe_accuracy(acc: float | None, n: int, split: str = "test") -> str:
    """``"97.1% on 10000 test images"``; for held-out labels ``"91% ± 6 on 48 held-out labels"``
    (± the larger side of the 95% Wilson interval, in points); ``"n/a ..."`` when nothing was scored."""
    noun = SPLIT_NOUNS.get(split, f"{split} samples")
    if acc is None or n <= 0 or not math.isfinite(acc):
        return f"n/a (0 {noun})" if split != HELD_OUT else "n/a (no held-out labels yet)"
    if split != HELD_OUT:
        return f"{100 * acc:.1f}% on {n} {noun}"
    lo, hi = wilson_interval(round(acc * n), n)
    half = max(acc - lo, hi - acc)
    return f"{100 * acc:.0f}% ± {max(1, round(100 * half))} on {n} {noun}"
