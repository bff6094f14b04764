"""The Runs page's service: the experiment and simulation run directories under artifacts/ (docs/runs.md).

``artifacts/experiments/<name>-<time>/`` (``latentloop experiment``: metrics.json, history.csv,
REPORT.md, *.png, checkpoints/<name>.ckpt/) and ``artifacts/simulate/<time>/`` (``latentloop
simulate``: curve.csv, summary.json, curve.png). A row is parsed again only when its directory or
the file it comes from changed (modification times), so listing a hundred runs costs a few stats.
A missing or malformed file never hides a run: its row says what is wrong and the rest still show.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import re
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from app.services.branches import BranchProber, branch_curves, branch_row, branch_view, latest_probes, probe_values
from app.services.checkpoints import CheckpointService
from app.services.holdout import split_tag, split_word
from app.services.images import png_bytes_uri
from app.viewmodels import RunRow, RunSeries, RunView
from engine.errors import LatentLoopError
from engine.reports.rundir import RunDirError, as_float, as_int, flatten, read_csv, read_json
from engine.stores.checkpoints import CheckpointStore

# directory under artifacts/ -> kind; "checkpoints" are the shared store's checkpoints (branches)
KINDS = {"experiments": "experiment", "simulate": "simulate", "checkpoints": "branch"}
SOURCES = {"experiment": "metrics.json", "simulate": "curve.csv", "branch": "meta.json"}  # the row's file
SORT_KEYS = ("name", "date", "labels", "accuracy", "backend", "steps")
# metric -> (what the chart shows, its x axis)
METRICS = {
    "accuracy": ("accuracy", "step"),  # each run's split (test, held-out labels) is in its legend
    "labels": ("accuracy", "labels"),
    "tau_acc": ("tau-route accuracy", "step"),
    "loss": ("total loss", "step"),
    "rec": ("reconstruction loss", "step"),
    "sup": ("supervised loss", "step"),
}
MAX_PNG_BYTES = 4 << 20  # a bigger plot is named, not shown
MAX_REPORT_CHARS = 200_000
STAMP_RE = re.compile(r"(?:(?P<name>.+)-)?(?P<stamp>\d{8}-\d{6})")
IMAGE_LINK_RE = re.compile(r"!\[[^\]]*\]\(([^)\s]*)[^)]*\)")


class RunBrowser:
    """The run directories under ``root`` (``artifacts/``). ``shared``: the app's CheckpointStore
    (artifacts/checkpoints); ``ckpt``: the CheckpointService that loads a fork into the Label page."""

    def __init__(
        self, root: Path, shared: CheckpointStore, ckpt: CheckpointService, probe: Callable[[str], object]
    ) -> None:
        self.root = Path(root)
        self.shared = shared
        self.ckpt = ckpt
        # probe(name): fit and save one checkpoint's probes (engine.workspace.probe_checkpoint)
        self.prober = BranchProber(probe)
        self._rows: dict[str, tuple[tuple[int, ...], RunRow]] = {}
        self._lock = threading.RLock()

    # -- the list ------------------------------------------------------------------------------------
    def scan(self, force: bool = False) -> list[RunRow]:
        """Every run directory, re-reading only the ones that changed (all of them with ``force``)."""
        with self._lock:
            found: dict[str, tuple[tuple[int, ...], RunRow]] = {}
            for sub, kind in KINDS.items():
                try:
                    dirs = sorted(p for p in (self.root / sub).iterdir() if p.is_dir() and not p.name.startswith("."))
                except OSError:  # no runs of this kind yet
                    continue
                for path in dirs:
                    rid = f"{sub}/{path.name}"
                    key = _stamp(path, kind)
                    old = self._rows.get(rid)
                    found[rid] = (key, old[1] if old and old[0] == key and not force else _read_row(rid, path, kind))
            self._rows = found
            return [row for _, row in found.values()]

    def rows(self, sort_by: str = "date", descending: bool = True, force: bool = False) -> list[RunRow]:
        """The runs sorted by one of SORT_KEYS; rows without that value come last either way."""
        if sort_by not in SORT_KEYS:
            raise RunDirError(f"cannot sort runs by {sort_by!r}: use one of {', '.join(SORT_KEYS)}")
        rows = self.scan(force)
        known = [r for r in rows if getattr(r, sort_by) is not None]
        missing = [r for r in rows if getattr(r, sort_by) is None]

        def key(r: RunRow) -> Any:
            v = getattr(r, sort_by)
            return (v.lower(), r.date) if isinstance(v, str) else (v, r.date)

        return sorted(known, key=key, reverse=descending) + sorted(missing, key=lambda r: r.date, reverse=True)

    def _find(self, run_id: str) -> tuple[Path, RunRow]:
        """The directory and row of a listed run (a new one is found by a scan)."""
        with self._lock:
            if run_id not in self._rows:
                self.scan()
            if run_id not in self._rows:
                raise RunDirError(f"no run {run_id!r} under {self.root} (refresh the list)")
            return self.root / run_id, self._rows[run_id][1]

    # -- one run ---------------------------------------------------------------------------------------
    def open(self, run_id: str) -> RunView:
        """The run's plots, config, flattened metrics and report; unreadable parts become ``problems``."""
        path, row = self._find(run_id)
        if row.kind == "branch":
            return branch_view(path, row, self.root / "probes")
        problems = [row.error] if row.error else []
        plots = _plots(path, problems)
        checkpoint = _checkpoint_name(path) if row.kind == "experiment" else None
        config = _config(path, checkpoint, problems)
        source = "metrics.json" if row.kind == "experiment" else "summary.json"
        metrics: list[tuple[str, str]] = []
        if not (row.error and source in row.error):
            try:
                metrics = flatten(read_json(path / source))
            except RunDirError as err:
                problems.append(str(err))
        report = ""
        if (path / "REPORT.md").is_file():
            try:
                text = (path / "REPORT.md").read_text(encoding="utf-8", errors="replace")[:MAX_REPORT_CHARS]
                # The plots are shown above the report: a relative image link would not load in the page.
                report = IMAGE_LINK_RE.sub(lambda m: f"*(plot {m.group(1)}: shown above)*", text)
            except OSError as err:
                problems.append(f"REPORT.md: {err}")
        return RunView(row, plots, config, metrics, report, checkpoint, problems)

    def curves(self, run_ids: list[str], metric: str) -> tuple[list[RunSeries], list[str]]:
        """One series per run (per strategy and seed for a simulation) of ``metric`` (METRICS), and
        a note for each run that has none."""
        if metric not in METRICS:
            raise RunDirError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        series: list[RunSeries] = []
        notes: list[str] = []
        for rid in run_ids:
            try:
                path, row = self._find(rid)
            except RunDirError as err:
                notes.append(str(err))
                continue
            try:
                if row.kind == "branch":
                    found = branch_curves(path, row, metric, _label(row))
                else:
                    found = (_experiment_curves if row.kind == "experiment" else _simulate_curves)(path, row, metric)
            except RunDirError as err:
                notes.append(f"{row.name}: {err}")
                continue
            if not found:
                notes.append(f"{row.name} ({row.kind}): no {METRICS[metric][0]} by {METRICS[metric][1]}")
            series += found
        return series, notes

    def probe_table(self, run_ids: list[str]) -> tuple[list[str], list[tuple[str, list[float | None]]]]:
        """The newest probe results of the chosen checkpoints side by side: (run names, rows of
        ``("<task>.<metric>", value per run)``); runs without probes get empty cells."""
        names: list[str] = []
        values: list[dict[str, float | None]] = []
        for rid in run_ids:
            try:
                _, row = self._find(rid)
            except RunDirError:
                continue
            if row.kind != "branch":
                continue
            names.append(row.name)
            values.append(probe_values(latest_probes(self.root / "probes", row.name)[1]))
        keys = sorted({k for v in values for k in v})
        return names, [(k, [v.get(k) for v in values]) for k in keys]

    def probe(self, run_ids: list[str]) -> str:
        """Start probing the chosen checkpoints (only branches have probes)."""
        names = []
        for rid in run_ids:
            with contextlib.suppress(RunDirError):
                _, row = self._find(rid)
                if row.kind == "branch":
                    names.append(row.name)
        return self.prober.start(names)

    # -- fork into the Label page -------------------------------------------------------------------
    def fork(self, run_id: str, name: str) -> str:
        """Copy the run's checkpoint into the shared store as ``name`` (never over an existing one),
        its meta's ``parent`` the run's path, and load it (training must be stopped). A failed load
        removes the copy again, so the store is as it was."""
        from engine.stores.checkpoint_meta import now_iso
        from engine.stores.checkpoints import CheckpointExistsError, check_name

        name = check_name((name or "").strip())
        path, row = self._find(run_id)
        if row.kind == "branch":
            raise RunDirError(
                f"{row.name!r} is a checkpoint already: load or branch it in the Label page's Checkpoints panel"
            )
        src = _checkpoint_name(path) if row.kind == "experiment" else None
        if src is None:
            raise RunDirError(f"run {row.name!r} has no checkpoint to load")
        taken = f"checkpoint {name!r} already exists: choose a new name (a fork never replaces a checkpoint)"
        if self.shared.exists(name):
            raise CheckpointExistsError(taken)
        ck = CheckpointStore(path / "checkpoints").load(src)
        parent = str(path.relative_to(self.root.parent))
        meta = {**ck.meta, "parent": parent, "created": now_iso(), "name": name}
        meta.update(parent_id=ck.meta.get("id"), id=uuid.uuid4().hex)  # a fork: its own id
        try:
            self.shared.save(name, ck.weights, ck.optimizer, ck.state, meta, overwrite=False)
        except CheckpointExistsError as err:
            raise CheckpointExistsError(taken) from err
        try:
            msg = self.ckpt.load(name)
        except Exception:
            with contextlib.suppress(LatentLoopError, OSError):
                self.shared.rm(name)
            raise
        return f"{msg}: a fork of {parent}"


# -- reading run directories -----------------------------------------------------------------------------
def _stamp(path: Path, kind: str) -> tuple[int, ...]:
    """Modification times of the run directory and its row's file (an edit in place keeps the dir's)."""
    source = SOURCES[kind]
    times = []
    for p in (path, path / source):
        try:
            times.append(p.stat().st_mtime_ns)
        except OSError:
            times.append(0)
    return tuple(times)


def _name_date(path: Path) -> tuple[str, str]:
    """The run's name and start time: ``<name>-YYYYmmdd-HHMMSS`` (else the directory's name and time)."""
    m = STAMP_RE.fullmatch(path.name)
    if m:
        with contextlib.suppress(ValueError):
            when = _dt.datetime.strptime(m.group("stamp"), "%Y%m%d-%H%M%S")
            return m.group("name") or "", when.strftime("%Y-%m-%d %H:%M:%S")
    try:
        when = _dt.datetime.fromtimestamp(path.stat().st_mtime)
    except OSError:
        return path.name, ""
    return path.name, when.strftime("%Y-%m-%d %H:%M:%S")


def _read_row(rid: str, path: Path, kind: str) -> RunRow:
    name, date = _name_date(path)
    base: dict[str, Any] = {"id": rid, "kind": kind, "date": date, "path": str(path)}
    try:
        if kind == "branch":
            return branch_row(base, path)
        if kind == "experiment":
            return _experiment_row(base, name, path)
        return _simulate_row(base, name, path)
    except RunDirError as err:
        empty: dict[str, Any] = {"labels": None, "accuracy": None, "accuracy_of": "", "backend": None, "steps": None}
        return RunRow(name=name or path.name, **base, **empty, error=str(err))


def _experiment_row(base: dict[str, Any], name: str, path: Path) -> RunRow:
    m = read_json(path / "metrics.json")
    if not isinstance(m, dict):
        raise RunDirError(f"metrics.json: expected a JSON object, got {type(m).__name__}")
    return RunRow(
        name=name or path.name,
        **base,
        labels=as_int(m.get("labels", m.get("n_labels"))),
        accuracy=as_float(m.get("test_acc")),
        accuracy_of=split_word(m.get("split")),
        backend=m["backend"] if isinstance(m.get("backend"), str) else None,
        steps=as_int(m.get("step")),
    )


def _simulate_row(base: dict[str, Any], name: str, path: Path) -> RunRow:
    rows = _read_curve(path)
    finals: dict[str, list[dict[str, float]]] = {}
    last: dict[tuple[str, Any], dict[str, Any]] = {}
    for r in rows:
        last[(r["strategy"], r.get("seed"))] = r  # rows are in round order per strategy and seed
    for (strat, _), r in last.items():
        finals.setdefault(strat, []).append(r)
    best = max(finals, key=lambda s: sum(r["test_acc"] for r in finals[s]) / len(finals[s]))
    acc = sum(r["test_acc"] for r in finals[best]) / len(finals[best])
    seeds = len(finals[best])
    steps = [r["step"] for r in rows if r.get("step") is not None]
    return RunRow(
        name=name or " vs ".join(finals),
        **base,
        labels=as_int(max(r["labels"] for r in finals[best])),
        accuracy=as_float(acc),
        accuracy_of=f"test, {best} final" + (f" (mean of {seeds} seeds)" if seeds > 1 else ""),
        backend=None,  # a simulation does not record it
        steps=as_int(max(steps)) if steps else None,
    )


def _read_curve(path: Path) -> list[dict[str, Any]]:
    rows = read_csv(path / "curve.csv", ("strategy", "labels", "test_acc"))
    if not rows:
        raise RunDirError("curve.csv has no rounds yet")
    return rows


def _plots(path: Path, problems: list[str]) -> list[tuple[str, str]]:
    """The run's PNG files (its own and one directory down, checkpoints aside) as data URIs."""
    files = sorted(path.glob("*.png")) + sorted(p for p in path.glob("*/*.png") if p.parent.name != "checkpoints")
    out = []
    for p in files:
        rel = str(p.relative_to(path))
        try:
            size = p.stat().st_size
            if size > MAX_PNG_BYTES:
                problems.append(f"{rel}: too large to show here ({size / 2**20:.1f} MB)")
                continue
            out.append((rel, png_bytes_uri(p.read_bytes())))
        except (OSError, ValueError) as err:
            problems.append(f"{rel}: {err}")
    return out


def _checkpoint_name(path: Path) -> str | None:
    """The name of the run's checkpoint (``checkpoints/<name>.ckpt``), None without one."""
    try:
        names = CheckpointStore(path / "checkpoints").names()
    except (LatentLoopError, OSError):
        return None
    return names[0] if names else None


def _config(path: Path, checkpoint: str | None, problems: list[str]) -> str:
    """The run's config as JSON text: its ``config.yaml`` (experiments write one), else its checkpoint's."""
    try:
        if (path / "config.yaml").is_file():
            try:
                return json.dumps(yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")), indent=2)
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
                raise RunDirError(f"config.yaml: {err}") from None
        if checkpoint is None:
            return ""
        meta = read_json(path / "checkpoints" / f"{checkpoint}.ckpt" / "meta.json")
        config = meta.get("config") if isinstance(meta, dict) else None
        return json.dumps(config, indent=2) if config else ""
    except RunDirError as err:
        problems.append(f"config: {err}")
        return ""


def _label(row: RunRow, name: str = "") -> str:
    """A series' name: the run's (or a simulated strategy's) and when the run started."""
    return f"{name or row.name} · {row.date[5:16] if row.date else row.id}"


def _experiment_curves(path: Path, row: RunRow, metric: str) -> list[RunSeries]:
    if metric in ("accuracy", "tau_acc", "labels"):
        m = read_json(path / "metrics.json")
        name = _label(row) + split_tag(m, metric)
        if metric == "labels":
            acc = as_float(m.get("test_acc")) if isinstance(m, dict) else None
            return [RunSeries(name, [float(row.labels)], [acc])] if row.labels is not None and acc is not None else []
        evals = m.get("evaluations") if isinstance(m, dict) else None
        key = "test_acc" if metric == "accuracy" else metric
        pts = [
            (e["step"], e[key])
            for e in evals or []
            if isinstance(e, dict) and as_float(e.get("step")) is not None and as_float(e.get(key)) is not None
        ]
        return [RunSeries(name, [p[0] for p in pts], [p[1] for p in pts])] if pts else []
    history = read_csv(path / "history.csv", ("step",))
    pts = [(h["step"], h[metric]) for h in history if isinstance(h.get(metric), float)]
    return [RunSeries(_label(row), [p[0] for p in pts], [p[1] for p in pts])] if pts else []


def _simulate_curves(path: Path, row: RunRow, metric: str) -> list[RunSeries]:
    if metric not in ("accuracy", "tau_acc", "labels"):
        return []
    rows = _read_curve(path)
    x_key = "labels" if metric == "labels" else "step"
    y_key = "tau_acc" if metric == "tau_acc" else "test_acc"
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if isinstance(r.get(x_key), float) and isinstance(r.get(y_key), float):
            groups.setdefault((r["strategy"], r.get("seed")), []).append(r)
    several = len({seed for _, seed in groups}) > 1
    return [
        RunSeries(
            _label(row, f"{strat} seed {seed:g}" if several and isinstance(seed, float) else strat),
            [r[x_key] for r in rs],
            [r[y_key] for r in rs],
        )
        for (strat, seed), rs in groups.items()
    ]
