"""The training run's progress as the page's poll script (app/assets/poll.js) reads it every couple
of seconds instead of a Dash callback; the poll's other half, the sync key, is the Label page's
(:meth:`app.presenter.label_page.LabelPage.live_key`).

A Dash round trip costs the browser tens of milliseconds of CPU (every connected component is
notified), next to the training thread on a small machine; a plain JSON fetch costs next to
nothing. So the page fires the sync only when ``key`` moved, the training panel's drain only when
the run produced something the panel draws (``train.events``), and writes the step, the progress
and the speed itself (docs/architecture.md section 4, "The sync model").
"""

from __future__ import annotations

from typing import Any

from app.services.training import TrainingSession


def train_status(session: TrainingSession) -> dict[str, Any]:
    """The run as the panel shows it. ``events`` changes whenever the drain callback would draw
    something new other than curve points (state, phase, a save, an error, a message), ``curves``
    counts the curve points (the page redraws them at most every few seconds); ``step``,
    ``progress`` and ``sps`` change all the time and are written by the page itself."""
    session.drain()  # fold the trainer's queued events in (cheap; also done by the drain callback)
    st = session.status()
    h = session.history
    span = st["target"] - st["run_start"]
    progress = 0 if span <= 0 else max(0, min(100, round(100 * (st["step"] - st["run_start"]) / span)))
    running = st["state"] in ("running", "starting")
    events = [st["saves"], st["state"], st["phase"], st["error"], st["message"]]
    return {
        "busy": bool(st["busy"]),
        "state": st["state"],
        "step": st["step"],
        "target": st["target"],
        "progress": progress,
        "label": f"{st['step']} / {st['target']}" if span > 0 else "",
        "sps": f"{st['samples_per_s']:.0f} samples/s" if running and st["samples_per_s"] else "",
        "events": repr(events),
        "curves": len(h.metrics) + len(h.evals),
    }
