"""Curriculum phases: warm-up -> KL anneal -> refinement (docs/formats.md, "Curriculum").

Each phase sets the loss weights. The phase at a step is a pure function of the step, the config
and the advances the user asked for (:meth:`Curriculum.advance`), which a checkpoint stores, so a
resumed run lands in the same phase with the same weights.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from engine.backends.base import LOSS_WEIGHT_KEYS, loss_weight_vector
from engine.config import Config

PHASES = ("warmup", "kl_anneal", "refinement")
# PhaseWeights field -> its LOSS_WEIGHT_KEYS name
_WEIGHT_KEYS = {"alpha": "alpha", "beta": "beta", "gamma": "gamma", "consistency": "cons", "usage": "usage"}


class Curriculum:
    """The schedule of a run. ``advances`` holds (step, offset) per "advance to the next phase":
    from trainer step ``step`` on, the schedule is read at ``step + offset`` (the newest offset
    applies; offsets only grow)."""

    def __init__(self, cfg: Config) -> None:
        self.c = cfg.curriculum
        self.loss = cfg.loss
        # schedule steps at which kl_anneal and refinement start (refinement never ends)
        self.bounds = (self.c.warmup_steps, self.c.warmup_steps + self.c.anneal_steps)
        self.advances: list[tuple[int, int]] = []
        # curriculum.phase_weights by LOSS_WEIGHT_KEYS name: the weights each phase sets itself
        self.overrides: dict[str, dict[str, float]] = {
            phase: {key: v for field, key in _WEIGHT_KEYS.items() if (v := getattr(pw, field)) is not None}
            for phase, pw in self.c.phase_weights.items()
        }

    @property
    def offset(self) -> int:
        """Steps the schedule is ahead of the trainer (0 until the first advance)."""
        return self.advances[-1][1] if self.advances else 0

    def _offset_at(self, step: int) -> int:
        return next((off for at, off in reversed(self.advances) if at <= step), 0)

    def _phase_at(self, t: int) -> str:
        """Phase at schedule step ``t`` (not shifted)."""
        for name, end in zip(PHASES[:-1], self.bounds, strict=True):
            if t < end:
                return name
        return PHASES[-1]

    def phase(self, step: int) -> str:
        """Phase name at trainer step ``step`` (0-based), advances included."""
        return self._phase_at(step + self._offset_at(step))

    def advance(self, step: int) -> str | None:
        """Start the next phase at trainer step ``step`` (the next step to run): returns its name,
        or None in the last phase (nothing changes). Steps already run keep their phase."""
        t = step + self._offset_at(step)
        later = [b for b in self.bounds if b > t]
        if not later:
            return None
        self.advances = [a for a in self.advances if a[0] < step] + [(step, later[0] - step)]
        return self.phase(step)

    def starts(self) -> list[tuple[str, int]]:
        """(phase, first trainer step) of every phase in order, advances included; a phase that has
        no steps starts where the next one does. Phases after the current one are where they will
        start if nobody advances again."""
        segments = [(0, 0), *self.advances]
        out = []
        for name, begin in zip(PHASES, (0, *self.bounds), strict=True):
            for i, (at, off) in enumerate(segments):  # the first segment that reaches the phase
                start = max(at, begin - off)
                if i + 1 == len(segments) or start < segments[i + 1][0]:
                    break
            out.append((name, start))
        return out

    def weights(self, step: int, has_feedback: bool = False) -> np.ndarray:
        """Loss weights (LOSS_WEIGHT_KEYS order) for trainer step ``step``."""
        t = step + self._offset_at(step)
        phase = self._phase_at(t)
        L = self.loss
        if phase == "warmup":
            beta, gamma = 0.0, 0.0  # reconstruction (and labels) only: let the decoder find its footing
        elif phase == "kl_anneal":
            frac = (t - self.bounds[0] + 1) / max(1, self.c.anneal_steps)
            beta, gamma = L.beta * frac, L.gamma * frac
        else:
            beta, gamma = L.beta, L.gamma
        cons_on = PHASES.index(phase) >= PHASES.index(self.c.consistency_from)
        w = {
            "rec": 1.0,
            "beta": beta,
            "gamma": gamma,
            "alpha": L.alpha,
            "cons": L.consistency if cons_on else 0.0,
            "usage": L.usage,
            "roi": L.roi if has_feedback else 0.0,
        }
        w.update(self.overrides.get(phase, {}))
        return loss_weight_vector(**w)

    def schedule(self, step: int) -> dict[str, Any]:
        """What the dashboard shows at trainer step ``step`` (the next step to run), as plain data:
        ``phase``, its ``start`` step, the ``weights`` used at ``step`` by LOSS_WEIGHT_KEYS name
        (``roi`` as applied to a batch with feedback boxes), the phase ``starts`` (list of
        (phase, start step)), the ``offset`` and whether an advance would change anything
        (``can_advance``). Safe from another thread: :meth:`advance` replaces ``advances``, never
        edits it, and this reads one version of it."""
        view = copy.copy(self)  # shares the current ``advances`` list, whatever the trainer does next
        starts = view.starts()
        phase = view.phase(step)
        w = view.weights(step, has_feedback=True)
        return {
            "phase": phase,
            "start": dict(starts)[phase],
            "weights": {k: float(v) for k, v in zip(LOSS_WEIGHT_KEYS, w, strict=True)},
            "starts": starts,
            "offset": view.offset,
            "can_advance": phase != PHASES[-1],
        }

    def state(self) -> np.ndarray:
        """The advances as int64 [n, 2] (step, offset): the checkpoint's ``curriculum.advances``."""
        return np.array(self.advances, np.int64).reshape(-1, 2)

    def set_state(self, arr: np.ndarray | None) -> None:
        """Restore :meth:`state` (None: a checkpoint written before advances existed, no advance)."""
        rows = np.asarray(arr if arr is not None else np.zeros((0, 2)), np.int64).reshape(-1, 2)
        self.advances = [(int(a), int(o)) for a, o in rows]
