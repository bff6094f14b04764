"""ROI feedback: "look here" boxes per sample, shared by the app and the CLI.

``data/<dataset>/feedback.jsonl`` holds one JSON object per line::

    {"id": 3, "sample_idx": 123, "x0": 0.1, "y0": 0.2, "x1": 0.6, "y1": 0.9,
     "strength": 1.0, "instruction": "focus center", "time": "2026-11-22T00:30:00+00:00"}

Coordinates are normalised to [0, 1], x to the right, y downwards (image rows). One active box
per sample: adding feedback for a sample replaces its previous box. The file is rewritten whole
(it is small) under an inter-process lock with an atomic replace, like labels.csv.

The trainer turns each item into an input-gradient penalty outside the box ("right for the right
reasons", Ross et al. 2017): the share of the squared input gradient that falls outside it,
weighted by ``strength`` (the ``roi`` term of engine/backends/base.py).
"""

from __future__ import annotations

import builtins
import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.errors import LatentLoopError
from engine.io import atomic_write_bytes, file_lock
from engine.paths import data_dir

Box = tuple[float, float, float, float]


class FeedbackError(LatentLoopError):
    pass


@dataclass(frozen=True)
class FeedbackItem:
    sample_idx: int
    x0: float
    y0: float
    x1: float
    y1: float
    strength: float = 1.0
    instruction: str = ""
    time: str = ""
    id: int = 0

    @property
    def box(self) -> Box:
        return (self.x0, self.y0, self.x1, self.y1)


def check_box(box: Any) -> Box:
    """Validate a normalised box; raises FeedbackError naming the problem."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise FeedbackError(f"a box is four numbers x0 y0 x1 y1, got {box!r}") from None
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        raise FeedbackError(f"box coordinates must lie in [0, 1], got {(x0, y0, x1, y1)}")
    if not (x0 < x1 and y0 < y1):
        raise FeedbackError(f"box needs x0 < x1 and y0 < y1, got {(x0, y0, x1, y1)}")
    return (x0, y0, x1, y1)


def _check_strength(s: Any) -> float:
    try:
        v = float(s)
    except (TypeError, ValueError):
        raise FeedbackError(f"strength must be a number, got {s!r}") from None
    if not 0.0 < v <= 10.0:
        raise FeedbackError(f"strength must be in (0, 10], got {v}")
    return v


# -- the instruction parser ----------------------------------------------------------------

REGIONS: dict[str, Box] = {
    "top-left": (0.0, 0.0, 0.5, 0.5),
    "top-right": (0.5, 0.0, 1.0, 0.5),
    "bottom-left": (0.0, 0.5, 0.5, 1.0),
    "bottom-right": (0.5, 0.5, 1.0, 1.0),
    "top": (0.0, 0.0, 1.0, 0.5),
    "bottom": (0.0, 0.5, 1.0, 1.0),
    "left": (0.0, 0.0, 0.5, 1.0),
    "right": (0.5, 0.0, 1.0, 1.0),
    "center": (0.25, 0.25, 0.75, 0.75),
    "inside": (0.15, 0.15, 0.85, 0.85),  # "ignore the borders"
}

_V = r"(top|upper|bottom|lower)"
_H = r"(left|right)"
_NUM = r"([0-9]*\.?[0-9]+)"


@dataclass
class ParsedFeedback:
    """What an instruction means, shown to the user before it is applied."""

    action: str = "set"  # "set" or "remove"
    box: Box | None = None
    strength: float = 1.0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.action == "remove":
            return "remove the focus box for this sample"
        if self.box is None:
            return "no region: draw a box or name one (e.g. 'focus center', 'top-left')"
        x0, y0, x1, y1 = self.box
        return (
            f"look inside x {x0:.2f}-{x1:.2f}, y {y0:.2f}-{y1:.2f} (penalise attention outside), "
            f"strength {self.strength:.2f}" + ("; " + "; ".join(self.notes) if self.notes else "")
        )


def parse_instruction(text: str, drawn_box: Box | None = None, strength: float = 1.0) -> ParsedFeedback:
    """Parse a free-text instruction, on top of an optional drawn box and current strength.

    Understands: explicit ``x0=.. y0=.. x1=.. y1=..``; corners ("top-left", "bottom right
    corner", "upper left"); halves ("top", "left", ...); "focus center"/"centre"; "ignore the
    borders/edges"; "strength 0.3"; "increase/decrease focus by 10%"; "stop focus"/"remove"/
    "clear" (removes the box). Words match whole words only: "stop" does not contain "top".
    Raises FeedbackError for an instruction it cannot read at all.
    """
    t = " " + (text or "").lower().replace("centre", "center").replace("_", " ") + " "
    out = ParsedFeedback(
        box=check_box(drawn_box) if drawn_box is not None else None, strength=_check_strength(strength)
    )
    understood = False
    if re.search(r"\b(stop|remove|clear|cancel|delete)\b(\s+(the\s+)?(focus|box|feedback))?", t) and not re.search(
        r"\b(focus|look)\s+(on\s+)?(the\s+)?(top|bottom|left|right|center)\b", t
    ):
        out.action, out.box = "remove", None
        return out

    coords = dict(re.findall(r"\b([xy][01])\s*[=:]\s*" + _NUM, t))
    if coords:
        missing = [k for k in ("x0", "y0", "x1", "y1") if k not in coords]
        if missing:
            raise FeedbackError(f"explicit box is missing {', '.join(missing)}")
        out.box = check_box([coords[k] for k in ("x0", "y0", "x1", "y1")])
        out.notes.append("box from coordinates")
        understood = True
    else:
        corner = re.search(rf"\b{_V}[\s-]*{_H}\b|\b{_H}[\s-]*{_V}\b", t)
        region = None
        if corner:
            words = [w for w in corner.groups() if w]
            v = "top" if any(w in ("top", "upper") for w in words) else "bottom"
            h = "left" if "left" in words else "right"
            region = f"{v}-{h}"
        elif re.search(r"\bignore\b.*\b(border|borders|edge|edges|margin|margins|frame)\b", t):
            region = "inside"
        elif re.search(r"\b(center|middle|central)\b", t):
            region = "center"
        else:
            for name, pattern in (
                ("top", r"\b(top|upper)\b"),
                ("bottom", r"\b(bottom|lower)\b"),
                ("left", r"\bleft\b"),
                ("right", r"\bright\b"),
            ):
                if re.search(pattern, t):
                    region = name
                    break
        if region:
            if drawn_box is not None:
                out.notes.append(f"'{region}' replaces the drawn box")
            out.box = REGIONS[region]
            understood = True

    m = re.search(r"\bstrength\s*(?:=|:|of|to)?\s*" + _NUM, t)
    if m:
        out.strength = _check_strength(m.group(1))
        understood = True
    m = re.search(r"\b(increase|raise|more|decrease|reduce|lower|less)\b[^0-9]*" + _NUM + r"\s*(%|percent)?", t)
    if m and not re.search(r"\bstrength\s*(?:=|:|of|to)?\s*" + _NUM, t):
        amount = float(m.group(2))
        frac = amount / 100.0 if m.group(3) or amount > 1 else amount
        up = m.group(1) in ("increase", "raise", "more")
        out.strength = _check_strength(out.strength * (1 + frac if up else 1 - frac))
        out.notes.append(f"strength {'+' if up else '-'}{frac:.0%}")
        understood = True

    if not understood and text and text.strip():
        raise FeedbackError(
            f"could not understand {text!r}: try 'focus center', 'top-left', "
            "'ignore the borders', 'strength 0.5', 'x0=0.1 y0=0.1 x1=0.9 y1=0.9' or 'stop focus'"
        )
    return out


# -- the store --------------------------------------------------------------------------------


class FeedbackStore:
    """``feedback.jsonl`` for one dataset: add, list, remove; safe between processes."""

    def __init__(self, path: str | Path, n_samples: int) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.n_samples = n_samples

    def version(self) -> tuple[int, int]:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def _read(self) -> list[FeedbackItem]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        items = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                item = FeedbackItem(**d)
                check_box(item.box)
                _check_strength(item.strength)
                if isinstance(item.sample_idx, bool) or not isinstance(item.sample_idx, int):
                    raise ValueError(f"sample_idx must be an integer, got {item.sample_idx!r}")
                if not 0 <= item.sample_idx < self.n_samples:
                    raise ValueError(f"sample_idx {item.sample_idx} out of range")
            except (ValueError, TypeError, FeedbackError) as err:
                raise FeedbackError(f"{self.path}: line {n}: {err}") from None
            items.append(item)
        return items

    def list(self) -> builtins.list[FeedbackItem]:
        """All active feedback items, oldest first."""
        with file_lock(self.lock_path, exclusive=False):
            return self._read()

    def _write(self, items: builtins.list[FeedbackItem]) -> None:
        atomic_write_bytes(self.path, "".join(json.dumps(asdict(i)) + "\n" for i in items).encode())

    def add(self, sample_idx: int, box: Box, strength: float = 1.0, instruction: str = "") -> FeedbackItem:
        """Store a box for a sample (replacing any earlier one for that sample)."""
        idx = int(sample_idx)
        if not 0 <= idx < self.n_samples:
            raise FeedbackError(f"sample {idx} is not a training sample (0..{self.n_samples - 1})")
        x0, y0, x1, y1 = check_box(box)
        with file_lock(self.lock_path):
            items = self._read()
            item = FeedbackItem(
                idx,
                x0,
                y0,
                x1,
                y1,
                _check_strength(strength),
                instruction,
                datetime.now(UTC).isoformat(timespec="seconds"),
                max((i.id for i in items), default=0) + 1,
            )
            self._write([i for i in items if i.sample_idx != idx] + [item])
        return item

    def remove(self, sample_idx: int) -> bool:
        """Remove the box of a sample; False if it had none."""
        with file_lock(self.lock_path):
            items = self._read()
            keep = [i for i in items if i.sample_idx != int(sample_idx)]
            if len(keep) == len(items):
                return False
            self._write(keep)
        return True

    def trainer_items(self) -> tuple[dict[str, Any], ...]:
        """Items in the shape of engine.events.ApplyFeedback."""
        return tuple(
            {"sample_idx": i.sample_idx, "x0": i.x0, "y0": i.y0, "x1": i.x1, "y1": i.y1, "strength": i.strength}
            for i in self.list()
        )


def feedback_store_for(dataset: str, n_samples: int, root: str | Path | None = None) -> FeedbackStore:
    return FeedbackStore(data_dir(dataset, root) / "feedback.jsonl", n_samples)
