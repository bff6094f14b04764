"""Feedback boxes from the page: list, parse (preview), apply and remove, through the same
``feedback.jsonl`` store as ``latentloop feedback``; applied boxes go to the training session."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from app.services.training import TrainingSession
from engine.errors import LatentLoopError
from engine.stores.feedback import FeedbackError, FeedbackItem, FeedbackStore, ParsedFeedback, parse_instruction


class FeedbackBoxes:
    """``store``: the engine's FeedbackStore; ``session``: the TrainingSession that receives the boxes."""

    def __init__(self, store: FeedbackStore, session: TrainingSession, n_train: int) -> None:
        self.store = store
        self.session = session
        self.n_train = n_train

    def items(self) -> tuple[list[FeedbackItem], str]:
        """Every stored box (newest first) and the error if feedback.jsonl cannot be read."""
        try:
            return sorted(self.store.list(), key=lambda i: -i.id), ""
        except LatentLoopError as err:
            return [], str(err)

    def of(self, serial: int | None) -> FeedbackItem | None:
        """The stored box of ``serial`` (None: none, or the file is unreadable)."""
        items, _ = self.items()
        return next((i for i in items if i.sample_idx == serial), None)

    def parse(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> ParsedFeedback:
        """What ``text`` (on top of the drawn box) would do to ``serial``; FeedbackError if it cannot
        apply. "increase focus by 10%" starts from the stored strength of the sample's box."""
        if serial is None:
            raise FeedbackError("select a training sample first")
        if not 0 <= int(serial) < self.n_train:
            raise FeedbackError(f"#{serial} is a held-out test image: feedback boxes are for training samples")
        old = self.of(int(serial))
        base = old.strength if old is not None else 1.0
        box = None
        if drawn is not None:
            if len(drawn) != 4:
                raise FeedbackError(f"a box has 4 coordinates, got {len(drawn)}")
            box = (float(drawn[0]), float(drawn[1]), float(drawn[2]), float(drawn[3]))
        parsed = parse_instruction(text or "", box, base)
        if parsed.action == "set" and parsed.box is None:
            if old is None:
                raise FeedbackError(parsed.describe())
            # only the strength changes
            parsed = dataclasses.replace(parsed, box=old.box, notes=[*parsed.notes, "keeps the stored box"])
        return parsed

    def apply(self, serial: int | None, text: str, drawn: Sequence[float] | None) -> str:
        """Store (or remove) the sample's box in feedback.jsonl and hand the set to the trainer."""
        parsed = self.parse(serial, text, drawn)
        assert serial is not None
        if parsed.action == "remove":
            return self.remove(int(serial))
        assert parsed.box is not None  # parse() gives every "set" a box
        item = self.store.add(int(serial), parsed.box, parsed.strength, (text or "").strip())
        how = self.session.apply_feedback()
        return f"#{item.sample_idx}: {parsed.describe()}; {how}"

    def remove(self, serial: int) -> str:
        if not self.store.remove(int(serial)):
            return f"#{serial} has no feedback box"
        how = self.session.apply_feedback()
        return f"removed the box of #{serial}; {how}"
