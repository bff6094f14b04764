"""Training progress as the model commands show it (train, experiment, simulate)."""

from __future__ import annotations

import math
import sys
import time
from typing import Any

from engine import events as ev
from engine.reports.accuracy import HELD_OUT, describe_accuracy


def fmt_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    if not math.isfinite(seconds):
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


class TrainProgress:
    """A trainer listener (``trainer.listeners.append(progress)``) that shows the run.

    With ``bar=True`` a tqdm bar on stderr (steps, rate, time left) carries the latest losses and
    test accuracy, and evaluations and phase changes are written above it; with ``bar=False``
    every logged step is one ``step N key=value ...`` line on stdout. Several runs can share one
    bar: ``offset`` is added to the trainer's steps and ``context`` (e.g. strategy and round)
    leads every update. A broken labels file (LabelsError) is always reported on stderr.
    """

    def __init__(self, total: int, initial: int = 0, bar: bool = True) -> None:
        from tqdm import tqdm  # only when a command runs

        self.total = total
        self.initial = initial
        self.offset = 0
        self.context: dict[str, Any] = {}
        self.test = float("nan")
        self.phase = ""  # the last phase shown: every run starts by announcing its phase
        self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True) if bar else None
        self._t0 = time.perf_counter()
        self._done = initial

    def write(self, msg: str, err: bool = False) -> None:
        """A line above the bar (stdout, or stderr with ``err``)."""
        stream = sys.stderr if err else sys.stdout
        if self.bar is not None:
            self.bar.write(msg, file=stream)
        else:
            print(msg, file=stream, flush=True)

    def seconds_left(self) -> float:
        """Estimated time to ``total`` at the average rate so far (inf before any step)."""
        done = self._done - self.initial
        if done <= 0:
            return float("inf")
        return (self.total - self._done) * (time.perf_counter() - self._t0) / done

    def _where(self, step: int) -> str:
        return " ".join(f"{k} {v}" for k, v in self.context.items()) + (", " if self.context else "") + f"step {step}"

    def __call__(self, e: Any) -> None:
        if isinstance(e, ev.Evaluation):
            self.test = e.test_acc
            if e.split == HELD_OUT:
                self.write(
                    f"{self._where(e.step)}: acc {describe_accuracy(e.test_acc, e.n_test, e.split)}, "
                    f"{e.n_labels} labels trained on"
                )
            else:
                self.write(
                    f"{self._where(e.step)}: {e.split} acc {e.test_acc:.4f} (tau {e.tau_acc:.4f}) "
                    f"on {e.n_test} held-out images, {e.n_labels} labels"
                )
        elif isinstance(e, ev.Metrics):
            self._done = self.offset + e.step
            info = {
                **self.context,
                "phase": e.phase,
                "loss": f"{e.losses['loss']:.4f}",
                "rec": f"{e.losses['rec']:.4f}",
                "sup": f"{e.losses['sup']:.3f}",
                "acc_lab": f"{e.acc_labeled:.3f}",
                "test": f"{self.test:.3f}",
                "sps": f"{e.samples_per_s:.0f}",
            }
            if self.bar is not None:
                self.bar.n = self._done
                self.bar.set_postfix(info, refresh=True)
            else:
                print(
                    f"step {e.step} "
                    + " ".join(f"{k}={v}" for k, v in info.items())
                    + f" left={fmt_seconds(self.seconds_left())}",
                    flush=True,
                )
        elif isinstance(e, ev.Phase) and self.bar is not None and e.name != self.phase:
            self.phase = e.name
            self.write(f"{self._where(e.step)}: phase {e.name}")
        elif isinstance(e, ev.LabelsError):
            self.write(
                f"{self._where(e.step)}: labels file unreadable, training on with the last good "
                f"{e.n_labels} labels until it is fixed: {e.message}"
                if e.message
                else f"{self._where(e.step)}: labels file readable again: {e.n_labels} labels",
                err=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
