"""Checkpoints as rows of the Runs page: every branch (``artifacts/checkpoints/<name>.ckpt/``) with
its curves (the ``history`` and ``evaluations`` its meta.json keeps, a branch's starting with its
parent's), what its fork changed, and its probe results (``artifacts/probes/<name>-step<step>.json``,
written by ``latentloop probe`` or the page's Probe button), so two branches compare side by side
with the experiment runs' chart."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.holdout import split_tag, split_word
from app.viewmodels import RunRow, RunSeries, RunView
from engine.reports.rundir import RunDirError, as_float, as_int, flatten, read_json

if TYPE_CHECKING:  # annotations only
    pass

PROBE_FILE_RE = re.compile(r"(?P<name>.+)-step(?P<step>\d+)\.json")
PROBE_METRICS = ("accuracy", "r2", "mae", "psnr")  # the columns of a side-by-side probe table


def branch_name(path: Path) -> str:
    return path.name.removesuffix(".ckpt")


def branch_row(base: dict[str, Any], path: Path) -> RunRow:
    """A checkpoint's row from its meta.json (RunDirError naming the problem)."""
    m = read_json(path / "meta.json")
    if not isinstance(m, dict):
        raise RunDirError(f"meta.json: expected a JSON object, got {type(m).__name__}")
    metrics: dict[str, Any] = m["metrics"] if isinstance(m.get("metrics"), dict) else {}
    created = str(m.get("created") or "")
    return RunRow(
        name=branch_name(path),
        **{**base, "date": created[:19].replace("T", " ") or base["date"]},
        labels=as_int(m.get("labels_count")),
        accuracy=as_float(metrics.get("test_acc")),
        accuracy_of=split_word(metrics.get("split")),
        backend=m["backend"] if isinstance(m.get("backend"), str) else None,
        steps=as_int(m.get("step")),
    )


def latest_probes(probes_dir: Path, name: str) -> tuple[Path | None, dict[str, Any] | None]:
    """The newest probe JSON of checkpoint ``name`` (highest step), or (None, None)."""
    best: tuple[int, Path] | None = None
    try:
        files = list(probes_dir.glob("*.json"))
    except OSError:
        return None, None
    for p in files:
        m = PROBE_FILE_RE.fullmatch(p.name)
        if m and m.group("name") == name and (best is None or int(m.group("step")) > best[0]):
            best = (int(m.group("step")), p)
    if best is None:
        return None, None
    try:
        doc = read_json(best[1])
    except RunDirError:
        return best[1], None
    return best[1], doc if isinstance(doc, dict) else None


def probe_values(doc: dict[str, Any] | None) -> dict[str, float | None]:
    """``{"<task>.<metric>": value}`` of a probe JSON (PROBE_METRICS only)."""
    out: dict[str, float | None] = {}
    for p in (doc or {}).get("probes") or []:
        if not isinstance(p, dict) or not isinstance(p.get("metrics"), dict):
            continue
        for k in PROBE_METRICS:
            if k in p["metrics"]:
                out[f"{p.get('name')}.{k}"] = as_float(p["metrics"][k])
    return out


def branch_view(path: Path, row: RunRow, probes_dir: Path) -> RunView:
    """The branch opened: its config, metrics, fork record and newest probes; the report says how
    it came about."""
    problems = [row.error] if row.error else []
    meta: dict[str, Any] = {}
    try:
        raw = read_json(path / "meta.json")
        meta = raw if isinstance(raw, dict) else {}
    except RunDirError as err:
        problems.append(str(err))
    config = json.dumps(meta["config"], indent=2) if isinstance(meta.get("config"), dict) else ""
    fork = meta.get("fork") if isinstance(meta.get("fork"), dict) else None
    probe_path, doc = latest_probes(probes_dir, row.name)
    if probe_path is not None and doc is None:
        problems.append(f"{probe_path.name}: unreadable")
    metrics = flatten({"metrics": meta.get("metrics") or {}, "fork": fork or {}, "probes": probe_values(doc)})
    lines = [f"# Checkpoint {row.name}", ""]
    if fork:
        lines.append(f"A branch of **{fork.get('parent')}** forked at step {fork.get('step')}.")
        diff = fork.get("diff") or {}
        lines += [f"- `{k}`: {v.get('from')!r} -> {v.get('to')!r}" for k, v in diff.items() if isinstance(v, dict)]
        if not diff:
            lines.append("- the same config as its parent")
    else:
        lines.append("A root checkpoint (not a fork).")
    lines.append("")
    if doc is not None:
        lines.append(f"Probes at step {doc.get('step')} ({probe_path.name if probe_path else ''}):")
        lines += [f"- {k}: {v:.4g}" if v is not None else f"- {k}: -" for k, v in probe_values(doc).items()]
    else:
        lines.append(f"No probes yet: `latentloop probe --checkpoint {row.name}` or the Probe button.")
    return RunView(row, [], config, metrics, "\n".join(lines), None, problems)


def branch_curves(path: Path, row: RunRow, metric: str, label: str) -> list[RunSeries]:
    """``metric`` (a key of app.services.runs.METRICS) of a checkpoint over its steps."""
    m = read_json(path / "meta.json")
    if not isinstance(m, dict):
        raise RunDirError("meta.json: expected a JSON object")
    label += split_tag(m.get("metrics"), metric)
    if metric == "labels":
        acc = as_float((m.get("metrics") or {}).get("test_acc"))
        return [RunSeries(label, [float(row.labels)], [acc])] if row.labels is not None and acc is not None else []
    rows = m.get("evaluations") if metric in ("accuracy", "tau_acc") else m.get("history")
    key = "test_acc" if metric == "accuracy" else metric
    pts = [
        (as_float(r.get("step")), as_float(r.get(key)))
        for r in rows or []
        if isinstance(r, dict) and as_float(r.get("step")) is not None and as_float(r.get(key)) is not None
    ]
    return [RunSeries(label, [p[0] for p in pts], [p[1] for p in pts])] if pts else []  # type: ignore[misc]


class BranchProber:
    """Runs ``probe(name)`` (engine.workspace.probe_checkpoint: predict every sample, fit the
    checkpoint's probes, write the JSON) for chosen checkpoints in one background thread; the page
    polls :meth:`status`. One job at a time: a second request while one runs is refused."""

    def __init__(self, probe: Callable[[str], Any]) -> None:
        self.probe = probe
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.done: list[str] = []
        self.errors: list[str] = []
        self.queue: list[str] = []
        self.names: list[str] = []
        self.finished = 0  # jobs completed: the page re-reads the probe table when it changes

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, names: list[str]) -> str:
        """Probe ``names`` in the background; a message for the page."""
        if not names:
            return "tick one or more checkpoints (kind branch) to probe them"
        with self._lock:
            if self.running:
                return f"already probing {', '.join(self.names)}: wait for it to finish"
            self.done, self.errors, self.queue, self.names = [], [], list(names), list(names)
            self._thread = threading.Thread(target=self._run, name="latentloop-branch-probes", daemon=True)
            self._thread.start()
        return f"probing {', '.join(names)} in the background"

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self.queue:
                    self.finished += 1
                    return
                name = self.queue.pop(0)
            try:
                self.probe(name)
                with self._lock:
                    self.done.append(name)
            except Exception as err:  # shown on the page; the other checkpoints still run
                with self._lock:
                    self.errors.append(f"{name}: {type(err).__name__}: {err}")

    def status(self) -> str:
        with self._lock:
            n = len(self.done) + len(self.errors)
            if self.running:
                head = f"probing: {n} of {len(self.names)} done"
            else:
                head = f"probed {', '.join(self.done)}" if self.done else ""
            return "; ".join(x for x in (head, *self.errors) if x)
