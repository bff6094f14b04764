"""An experiment's REPORT.md and its figures, built from the run directory alone (the files of
engine.reports.rundir): the same directory always gives the same text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from engine.analysis.mixture import (
    SURE,
    component_stats,
    expected_calibration_error,
    mixture_metrics,
    top_responsibility,
)
from engine.analysis.projection import Projector
from engine.io import atomic_write_bytes
from engine.reports import plots as rp
from engine.reports.rundir import GALLERY, RunData, RunDirError, load_run

FIGURES = ("curves.png", "latent_map.png", "tau.png", "components.png", "confusion.png", "calibration.png")
SECTIONS = (
    "Learning curves",
    "Latent map",
    "Mixture components",
    "Confusion matrix and per-class accuracy",
    "Calibration",
    "Label budget",
    "Config",
)


def write_report(run_dir: Path) -> Path:
    """(Re)write ``run_dir``/REPORT.md and its PNGs; a missing or malformed file raises RunDirError."""
    data = load_run(run_dir)
    try:
        text = _build(data)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise RunDirError(f"{run_dir}: malformed run directory ({type(err).__name__}: {err})") from None
    path = Path(run_dir) / "REPORT.md"
    atomic_write_bytes(path, text.encode())
    return path


def _table(head: list[str], rows: list[list[Any]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        "| " + " | ".join(str(v) for v in r) + " |" for r in rows
    ]


def _phase_at(spans: list[tuple[str, int, int]], step: int) -> str:
    """Phase an evaluation after ``step`` steps belongs to (the phase its last step ran in)."""
    return next((n for n, a, b in spans if a < step <= b), spans[0][0] if spans else "")


def _gallery(a: dict[str, np.ndarray], resp: np.ndarray) -> list[np.ndarray]:
    """Each component's top-responsibility images, looked up in the stored gallery images."""
    stored = a["gallery_rows"]
    out = []
    for c in range(resp.shape[1]):
        rows = top_responsibility(resp, c, GALLERY)
        pos = np.clip(np.searchsorted(stored, rows), 0, max(len(stored) - 1, 0))
        if len(rows) and (len(stored) == 0 or not np.array_equal(stored[pos], rows)):
            raise ValueError("report.npz: gallery_images lack a component's top-responsibility samples")
        out.append(a["gallery_images"][pos] if len(rows) else a["gallery_images"][:0])
    return out


def class_names(run: dict[str, Any], num_classes: int) -> list[str]:
    """The classes' names run.json records (``class_names``); ``"0"``.. for a run without them
    (one of a dataset without classes.json, or one written before the names were recorded)."""
    names = run.get("class_names") or [str(i) for i in range(num_classes)]
    if not isinstance(names, list) or len(names) != num_classes or not all(isinstance(n, str) for n in names):
        raise ValueError(f"run.json: class_names must be {num_classes} strings")
    return names


def _build(d: RunData) -> str:
    a, run, m, out = d.arrays, d.run, d.metrics, d.path
    split = str(a["split"])
    tau, resp = a["tau"], a["sample_resp"]
    k, c = tau.shape
    names = class_names(run, c)
    cells = [_cell(n) for n in names]  # the names in the Markdown tables
    spans = [
        (str(n), int(s), int(e)) for n, s, e in zip(a["phase_names"], a["phase_starts"], a["phase_ends"], strict=True)
    ]
    evals = m["evaluations"]
    rp.plot_curves(out / "curves.png", d.history, evals, spans, split)

    labelled = a["sample_labels"] >= 0
    xy = Projector(seed=0).fit_transform(a["sample_mu"], ids=a["sample_idx"])
    rp.plot_latent_map(out / "latent_map.png", xy, a["sample_targets"], labelled, c, names)

    stats = component_stats(tau, resp, a["sample_labels"])
    mix = mixture_metrics(resp, tau)
    rp.plot_tau(out / "tau.png", tau, stats, names)
    rp.plot_gallery(out / "components.png", _gallery(a, resp), stats, names)

    y, probs = a["eval_targets"], a["eval_probs"]
    pred = probs.argmax(1)
    cm = np.bincount(y * c + pred, minlength=c * c).reshape(c, c)
    rp.plot_confusion(out / "confusion.png", cm, split, names)
    ece, bins = expected_calibration_error(probs, y)
    rp.plot_reliability(out / "calibration.png", bins, ece)

    n_lab = len(a["labelled_idx"])
    budget = np.bincount(a["labelled_y"], minlength=c)
    extra = f"; {run['n_validation']} training samples held out for validation" if run.get("n_validation") else ""
    lpc = run.get("labels_per_class")
    source = f"{lpc} true labels per class (oracle, seed {run['seed']})" if lpc else "the dataset's labels.csv"
    lines = [
        f"# Experiment {run['name']}",
        "",
        f"- dataset: {run['dataset']} ({run['n_train']} train / {run['n_test']} test){extra}",
        f"- dataset sha256: `{run['dataset_sha256']}`",
        f"- backend: {run['backend']} on {run['device']}, threads: {run['threads']}; seed: {run['seed']}",
        f"- git commit: `{run['git_commit']}`",
        f"- started: {run['started']}; steps: {m['step']}; wall time: {run['wall_seconds']:.1f} s "
        f"(training {m['seconds']:.1f} s)",
        f"- labels: {n_lab}",
        f"- {split} accuracy: {m['test_acc']:.4f} (tau route: {m['tau_acc']:.4f}) on {len(y)} images",
        "- config: [config.yaml](config.yaml) (below)",
        "",
        "## Learning curves",
        "",
        "Loss terms and accuracies against the training step; the shaded bands are the curriculum phases.",
        "",
        "![learning curves](curves.png)",
        "",
    ]
    lines += _table(["phase", "steps"], [[n, f"{s + 1}-{e}"] for n, s, e in spans])
    lines += ["", "### Evaluations", ""]
    lines += _table(
        ["step", "phase", f"{split} acc", "tau acc"],
        [[e["step"], _phase_at(spans, e["step"]), f"{e['test_acc']:.4f}", f"{e['tau_acc']:.4f}"] for e in evals],
    )
    lines += [
        "",
        "## Latent map",
        "",
        f"PCA of the latent means of {len(xy)} training samples (every labelled one, ringed, and random others), "
        "coloured by true class.",
        "",
        "![latent map](latent_map.png)",
        "",
        "## Mixture components",
        "",
        f"{k} components, {c} classes. Entropy of the mean responsibilities: {mix['resp_entropy']:.3f} nats "
        f"of at most {mix['resp_entropy_max']:.3f} (every component used equally); mean tau certainty "
        f"{mix['tau_certainty']:.3f}. Dead (usage < 1/(4K)): {_ids(s for s in stats if s.dead)}; "
        f"redundant (another component also sure, tau >= {SURE}, of its class): "
        f"{_ids(s for s in stats if s.redundant)}.",
        "",
        "![tau heatmap](tau.png)",
        "",
        f"Top {GALLERY} images by responsibility per component (from the training sample above):",
        "",
        "![component gallery](components.png)",
        "",
    ]
    lines += _table(
        ["component", "tau class", "certainty", "usage", "labelled", "flags"],
        [
            [s.component, cells[s.tau_class], f"{s.certainty:.3f}", f"{s.usage:.4f}", s.labelled, _flags(s)]
            for s in stats
        ],
    )
    per_class = [
        [cells[i], int(cm[i].sum()), int(cm[i, i]), f"{cm[i, i] / cm[i].sum():.4f}" if cm[i].sum() else "-"]
        for i in range(c)
    ]
    lines += ["", "## Confusion matrix and per-class accuracy", "", f"On the {split} split.", ""]
    lines += ["![confusion matrix](confusion.png)", ""]
    lines += _table(["class", "images", "correct", "accuracy"], per_class)
    conf = float(probs.max(1).mean()) if len(probs) else 0.0
    lines += [
        "",
        "## Calibration",
        "",
        f"Expected calibration error (ECE, {len(bins['count'])} equal-width confidence bins): {ece:.4f}; "
        f"mean confidence {conf:.4f} against accuracy {float((pred == y).mean()) if len(y) else 0.0:.4f}.",
        "",
        "![reliability diagram](calibration.png)",
        "",
        "## Label budget",
        "",
        f"{n_lab} labels ({100 * n_lab / max(run['n_train'], 1):.2f}% of the training split) from {source}.",
        "",
    ]
    lines += _table(["class", "labels"], [[cells[i], int(n)] for i, n in enumerate(budget)])
    lines += _probes(m.get("probes"))
    lines += ["", "## Config", "", "```yaml", yaml.safe_dump(d.config, sort_keys=False).rstrip(), "```", ""]
    return "\n".join(lines)


def _probes(probes: Any) -> list[str]:
    """The probe table of the config's tasks (docs/tasks.md), when the run had any."""
    if not probes:
        return []
    rows = []
    for p in probes:
        mets = p.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.4g}" for k, v in mets.items() if k != "cv_score" and isinstance(v, (int, float)))
        rows.append([p["name"], p["kind"], p["target"], f"`{p['input']}`", p["head"], p["weight"], shown or "-"])
    return [
        "",
        "## Probes",
        "",
        "What the latent mean encodes: a scikit-learn probe per task, fitted with cross-validation on the "
        "training rows and scored on the test split (docs/tasks.md).",
        "",
        *_table(["task", "kind", "target", "input", "head", "weight", "test metrics"], rows),
    ]


def _cell(name: str) -> str:
    """A class name in a Markdown table cell (a ``|`` would end the cell)."""
    return name.replace("|", "\\|")


def _ids(stats: Any) -> str:
    ids = [str(s.component) for s in stats]
    return ", ".join(ids) if ids else "none"


def _flags(s: Any) -> str:
    return " ".join(f for f, on in (("dead", s.dead), ("redundant", s.redundant)) if on)
