"""The panels of the Label page that the sync keeps up to date, each declared once.

Each entry says which outputs it fills, its change key, its data and its render (the card module
under app/layouts/ draws it). :data:`PANELS` is the registry: the sync callback's outputs, the diff
(:meth:`~app.presenter.label_page.LabelPage.sync`) and the live endpoint's key all come from it.
"""

from __future__ import annotations

from typing import Any

from dash import Output

from app.layouts import explain, probes, queue, sample, stats, workers
from app.presenter import views
from app.presenter.panel import Frame, Panel
from app.services.workers import worker_status
from app.viewmodels import QueueView
from engine.errors import LatentLoopError


def _sample_key(f: Frame) -> str:
    s = f.selected
    label = int(f.labels[s]) if s is not None and s < f.src.n_train else -1
    return f"{f.v.version}:{s}:{label}:{f.src.labels.accepted_version()}"


def _sample(f: Frame) -> Any:
    return views.sample_view(f.src, f.selected, f.v, f.labels) if f.selected is not None else None


def _stats_key(f: Frame) -> str:
    last = f.src.session.last_eval
    acc = f"{last.get('test_acc')}:{last.get('split')}:{last.get('n_test')}"
    return f"{f.src.labels.version()}:{acc}:{f.src.holdout.version()}:{f.start_id}:{f.src.label_reader.error}"


def _queue(f: Frame) -> QueueView:
    def compute() -> QueueView:
        try:
            return views.queue_view(f.src, f.strategy, f.v, f.labels)  # cached ranking; filtering is cheap
        except (LatentLoopError, ValueError) as err:
            return QueueView([], f"error: {err}", f.strategy)

    result: QueueView = f.once("queue", compute)
    return result


def _queue_key(f: Frame) -> str:
    # Keyed by what is shown, so labelling a sample outside the queue re-sends nothing.
    shown = ",".join(str(c.serial) for c in _queue(f).items)
    return f"{views.queue_key(f.src, f.strategy, f.v)}:{shown}"


def _projection(f: Frame) -> str:
    def compute() -> str:
        ps = f.src.projection.status()
        return str(ps["settings_error"] or ps["message"])

    note: str = f.once("projection", compute)
    return note


def _workers(f: Frame) -> dict[str, Any]:
    status: dict[str, Any] = f.once("workers", lambda: worker_status(f.src.hub))
    return status


def _workers_key(f: Frame) -> str:
    ws = _workers(f)
    fc = ws["forecast"]
    return repr(
        [(w.name, w.state, w.restarts) for w in ws["workers"]]
        + [fc and (fc.version, fc.window_open, fc.reason), ws["forecast_error"]]
    )


def _probes(f: Frame) -> Any:
    return f.src.probes.view(), f.src.probes.colour_options()


def _probes_render(data: Any, r: Any) -> dict[str, Any]:
    view, options = data
    return {
        "probes_table": probes.probes_table(view),
        "probe_status": probes.probes_status(view),
        "probe_options": options,
    }


def _probe_colours(f: Frame) -> dict[str, Any]:
    marker = f.src.probes.colours(f.probe_choice, f.src.num_classes)
    return {"version": f.v.version, "choice": f.probe_choice, "marker": marker}


PANELS: tuple[Panel, ...] = (
    Panel(
        "sample",
        {"sample": Output("sample-panel", "children")},
        key=_sample_key,
        data=_sample,
        render=lambda d, r: {"sample": sample.sample_panel(d)},
    ),
    Panel(
        "stats",
        {"stats_bar": Output("stats-bar", "children"), "stats_text": Output("stats-text", "children")},
        key=_stats_key,
        data=lambda f: views.stats_view(f.src, f.labels, f.start_id),
        render=lambda d, r: {"stats_bar": stats.class_bars(d.per_class, d.names), "stats_text": stats.stats_text(d)},
    ),
    Panel(
        "queue",
        {
            "queue_list": Output("queue-list", "children"),
            "queue_source": Output("queue-source", "children"),
            "queue_store": Output("queue-store", "data"),
        },
        key=_queue_key,
        data=_queue,
        render=lambda d, r: {
            "queue_list": queue.queue_list(d, r.selected),
            "queue_source": d.source,
            "queue_store": [c.serial for c in d.items],
        },
    ),
    Panel(
        "ahead",  # the queued samples' panels, so n, p and a queue click swap the sample at once (sample.js)
        {"ahead": Output("queue-samples", "data")},
        key=_queue_key,
        data=lambda f: views.queue_samples(f.src, _queue(f), f.v, f.labels),
        render=lambda d, r: {"ahead": d},
    ),
    Panel(
        "projection",
        {"projection": Output("projection-status", "children")},
        key=_projection,
        data=_projection,
        render=lambda d, r: {"projection": d},
    ),
    Panel(
        "quality",  # the "label quality" colour mode's scores (clientside.js colours the map with them)
        {"quality": Output("quality-store", "data")},
        key=lambda f: f.src.issues.key(f.v),
        data=lambda f: f.src.issues.colours(f.v, f.labels),
        render=lambda d, r: {"quality": d},
        mode="quality",
    ),
    # The worker line and the list of feedback boxes ride on this poll too: every callback costs
    # the browser tens of milliseconds of CPU (next to the training thread), so the page has no
    # timer of its own for them.
    Panel(
        "workers",
        {"workers": Output("worker-status", "children")},
        key=_workers_key,
        data=_workers,
        render=lambda d, r: {"workers": workers.worker_status(d)},
    ),
    Panel(
        "feedback",
        {"fb_list": Output("fb-list", "children")},
        key=lambda f: repr(f.src.feedback.version()),
        data=lambda f: f.src.boxes.items(),
        render=lambda d, r: {"fb_list": explain.feedback_list(*d)},
    ),
    Panel(
        "probes",  # the Probes panel: a probe run after each map refresh
        {
            "probes_table": Output("probes-table", "children"),
            "probe_status": Output("probe-status", "children"),
            "probe_options": Output("probe-colour", "options"),
        },
        key=lambda f: str(f.src.probes.key()),
        data=_probes,
        render=_probes_render,
    ),
    Panel(
        "probe_colour",  # the "Probe" colour mode's marker (clientside.js colours the map with it)
        {"probe_colours": Output("probe-store", "data")},
        key=lambda f: f"{f.v.version}:{f.src.probes.colour_key()}:{f.probe_choice}",
        data=_probe_colours,
        render=lambda d, r: {"probe_colours": d},
        mode="probe",
    ),
)
