"""The plain views the Label page's panels show (no Dash): the selected sample, the label
statistics, the candidate queue and its menu, the worker line."""

from __future__ import annotations

import numpy as np

from app.presenter.sources import LabelSources
from app.services.embeddings import MapVersion
from app.services.images import png_data_uri
from app.services.label_issues import SUSPICIOUS
from app.viewmodels import QueueView, SampleView, StatsView
from engine.reports.accuracy import describe_accuracy
from engine.stores.holdout import HELD_OUT


def _current(src: LabelSources, v: MapVersion | None, labels: np.ndarray | None) -> tuple[MapVersion, np.ndarray]:
    """``v`` and ``labels``, the current map version and labels where they are None."""
    v = v or src.cache.current
    assert v is not None
    return v, src.label_reader.read() if labels is None else labels


def sample_view(
    src: LabelSources, serial: int, v: MapVersion | None = None, labels: np.ndarray | None = None
) -> SampleView:
    """Sample ``serial`` as the sample panel shows it (``v``, ``labels``: the current ones by default)."""
    v, labels = _current(src, v, labels)
    p = v.probs[serial]
    top = [(int(c), float(p[c])) for c in np.argsort(-p, kind="stable")[:3]]
    recon = src.viewer.reconstruct(serial)
    lab = int(labels[serial]) if serial < src.n_train and labels[serial] >= 0 else None
    issue = src.issues.of(v, labels, serial) if lab is not None else None
    return SampleView(
        serial=serial,
        split="train" if serial < src.n_train else "test",
        image=png_data_uri(src.dataset.images[serial]),
        recon=png_data_uri(recon) if recon is not None else None,
        top=top,
        label=lab,
        true=int(src.dataset.targets[serial]) if src.dataset.targets[serial] >= 0 else None,
        predicted=top[0][0],
        certainty=top[0][1],
        names=src.class_names,
        issue=issue,
    )


def stats_view(src: LabelSources, labels: np.ndarray, start_id: int = 0) -> StatsView:
    """The label counts, the accuracy with its split (the test split, or the held-out labels of a
    dataset without test truth, with their fraction) and the labels added by the CLI since ``start_id``."""
    lab = labels[: src.n_train]
    per = np.bincount(lab[lab >= 0], minlength=src.num_classes)
    last = src.session.last_eval
    acc = last.get("test_acc")
    acc = float(acc) if acc is not None and np.isfinite(acc) else None
    split = str(last.get("split") or (HELD_OUT if src.holdout.active else "test"))
    return StatsView(
        per_class=[int(x) for x in per],
        labelled=int((lab >= 0).sum()),
        unlabelled=int((lab < 0).sum()),
        test_acc=acc,
        test_acc_step=last.get("step"),
        cli_added=src.label_reader.cli_added_since(start_id),
        error=labels_error_note(src),
        accuracy=describe_accuracy(acc, int(last.get("n_test") or 0), split),
        split=split,
        holdout=src.holdout.view(lab),
        names=src.class_names,
    )


def labels_error_note(src: LabelSources) -> str:
    """The labels.csv error, and what it means for a run that is alive (the trainer keeps its
    last good labels, engine.events.LabelsError)."""
    err = src.label_reader.error
    if err and src.session.state in ("starting", "running", "paused"):
        err += " (training goes on with the last good labels and picks the file up once it is fixed)"
    return err


def queue_view(
    src: LabelSources, strategy: str, v: MapVersion | None = None, labels: np.ndarray | None = None
) -> QueueView:
    """The candidates of ``strategy`` (cached ranking; filtering out the labelled ones is cheap)."""
    v, labels = _current(src, v, labels)
    if strategy == SUSPICIOUS:
        found, note = src.issues.candidates(v, labels, src.queue.size)
        return QueueView(found, note, strategy, src.class_names)
    items = src.queue.items(strategy, v.version, v.probs, v.mu, labels, mc=src.viewer.mc_probs, resp=v.resp)
    return QueueView(items, src.queue.describe_source(strategy), strategy, src.class_names)


def queue_key(src: LabelSources, strategy: str, v: MapVersion) -> str:
    """Changes whenever :func:`queue_view` may rank differently (labels aside, except for the
    suspicious labels, whose ranking is of the labels)."""
    if strategy == SUSPICIOUS:
        return f"suspicious:{src.issues.key(v)}"
    return repr(src.queue.key(strategy, v.version))


def sample_brief(
    src: LabelSources, serial: int, v: MapVersion | None = None, labels: np.ndarray | None = None, why: str = ""
) -> dict[str, object]:
    """What the page's sample script (app/assets/sample.js) draws for ``serial`` without a request:
    the image, the label, the top-3 prediction and a reason. No reconstruction (a model pass per
    sample); the server-rendered panel, which follows, has it."""
    v, labels = _current(src, v, labels)
    p = v.probs[serial]
    top = [[int(c), round(float(p[c]), 4)] for c in np.argsort(-p, kind="stable")[:3]]
    train = serial < src.n_train
    lab = int(labels[serial]) if train and labels[serial] >= 0 else None
    if not why and lab is not None:
        issue = src.issues.of(v, labels, serial)
        why = issue.reason(src.class_names) if issue is not None else ""
    return {
        "serial": int(serial),
        "split": "train" if train else "test",
        "image": png_data_uri(src.dataset.images[serial]),
        "label": lab,
        "predicted": top[0][0],
        "certainty": top[0][1],
        "top": top,
        "reason": why,
        "v": int(v.version),
    }


def sample_full(
    src: LabelSources, serial: int, v: MapVersion | None = None, labels: np.ndarray | None = None
) -> dict[str, object]:
    """The whole sample panel of ``serial`` for a selection (``/_ll/sample``, drawn by sample.js
    without a Dash callback): :func:`sample_brief` with the reconstruction, the true class, the
    label-issue line of a labelled sample and the point's map coordinates (the selection ring of a
    map without per-point arrays)."""
    v, labels = _current(src, v, labels)
    sv = sample_view(src, serial, v, labels)
    issue = sv.issue
    return sample_brief(src, serial, v, labels) | {
        "recon": sv.recon,
        "true": sv.true,
        "issue": None
        if issue is None
        else {
            "given": issue.given,
            "suggested": issue.suggested,
            "suggested_prob": round(float(issue.suggested_prob), 4),
            "quality": round(float(issue.quality), 4),
            "accepted": bool(issue.accepted),
            "reason": issue.reason(src.class_names),
        },
        "xy": [float(v.xy[serial, 0]), float(v.xy[serial, 1])],
        "full": True,
    }


def queue_samples(
    src: LabelSources, view: QueueView, v: MapVersion | None = None, labels: np.ndarray | None = None
) -> list[dict[str, object]]:
    """:func:`sample_brief` of every queued candidate, in queue order (``n`` and ``p`` move
    through them)."""
    v, labels = _current(src, v, labels)
    return [sample_brief(src, c.serial, v, labels, c.why) for c in view.items]
