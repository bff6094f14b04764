"""What the page's poll script (app/assets/poll.js) reads every couple of seconds instead of a Dash
callback: a key that changes whenever the sync callback could answer a poll differently, and the
training run's progress.

A Dash round trip costs the browser tens of milliseconds of CPU (every connected component is
notified), next to the training thread on a small machine; a plain JSON fetch costs next to
nothing. So the page fires the sync only when ``key`` moved, the training panel's drain only when
the run produced something the panel draws (``train.events``), and writes the step, the progress
and the speed itself (docs/architecture.md section 4, "The sync model").
"""

from __future__ import annotations

from typing import Any

from app.services.candidates import EXTERNAL
from app.services.workers import worker_status


def sync_key(state: Any) -> str:
    """Changes whenever a sync without events (a poll) may answer a tab differently: the labels and
    accepted labels (also when the CLI writes them), the map version, the UMAP job, the test accuracy,
    the forecast's candidates, the worker line, the feedback boxes and the probe results."""
    state.label_reader.read()  # cached by the store's version; sets labels_error when the file is broken
    v = state.cache.current
    ps = state.projection.status()
    ws = worker_status(state.hub)
    f = ws["forecast"]
    parts = (
        state.labels.version(),
        state.labels.accepted_version(),
        state.label_reader.error,
        v.version if v is not None else None,
        ps["generation"],
        ps["message"],
        ps["settings_error"],
        state.session.status().get("test_acc"),
        state.queue.key(EXTERNAL, 0),
        [(w.name, w.state, w.restarts) for w in ws["workers"]],
        f and (f.version, f.window_open, f.reason),
        ws["forecast_error"],
        state.feedback.version(),
        state.probes.key(),
        state.probes.colour_key(),
    )
    return repr(parts)


def train_status(state: Any) -> dict[str, Any]:
    """The run as the panel shows it. ``events`` changes whenever the drain callback would draw
    something new other than curve points (state, phase, a save, an error, a message), ``curves``
    counts the curve points (the page redraws them at most every few seconds); ``step``,
    ``progress`` and ``sps`` change all the time and are written by the page itself."""
    session = state.session
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


def live_status(state: Any) -> dict[str, Any]:
    """The poll script's answer: ``{"key": sync_key, "train": train_status}``."""
    return {"key": sync_key(state), "train": train_status(state)}
