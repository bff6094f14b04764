"""Curriculum phases: warm-up -> KL anneal -> label refinement -> active learning.

Each phase sets the loss weights; the phase at a step is a pure function of the step and the
config, so a resumed run lands in the same phase with the same weights.
"""

from __future__ import annotations

from engine.backends.base import loss_weight_vector
from engine.config import Config

PHASES = ("warmup", "kl_anneal", "label_refinement", "active_learning")


class Curriculum:
    def __init__(self, cfg: Config) -> None:
        self.c = cfg.curriculum
        self.loss = cfg.loss
        self.bounds = (
            self.c.warmup_steps,
            self.c.warmup_steps + self.c.anneal_steps,
            self.c.warmup_steps + self.c.anneal_steps + self.c.refine_steps,
        )

    def phase(self, step: int) -> str:
        """Phase name at ``step`` (0-based)."""
        for name, end in zip(PHASES[:-1], self.bounds, strict=True):  # the last phase never ends
            if step < end:
                return name
        return PHASES[-1]

    def weights(self, step: int, has_feedback: bool = False):
        """Loss weights (LOSS_WEIGHT_KEYS order) for ``step``."""
        phase = self.phase(step)
        L = self.loss
        if phase == "warmup":
            beta, gamma = 0.0, 0.0  # reconstruction (and labels) only: let the decoder find its footing
        elif phase == "kl_anneal":
            frac = (step - self.bounds[0] + 1) / max(1, self.c.anneal_steps)
            beta, gamma = L.beta * frac, L.gamma * frac
        else:
            beta, gamma = L.beta, L.gamma
        cons_on = PHASES.index(phase) >= PHASES.index(self.c.consistency_from)
        return loss_weight_vector(
            rec=1.0,
            beta=beta,
            gamma=gamma,
            alpha=L.alpha,
            cons=L.consistency if cons_on else 0.0,
            usage=L.usage,
            roi=L.roi if has_feedback else 0.0,
        )
