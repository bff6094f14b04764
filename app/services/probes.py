"""The Probes panel's model: what each latent slice encodes, measured at every map refresh.

A probe (a task with weight 0, engine/tasks.py) fits a scikit-learn model on the latent means of
the training split and scores it on the test split (:func:`engine.analysis.probes.run_probes`). This service
runs every task of the config on each new map version, on a thread of its own (never the training
thread, never a request); a newer version replaces one that is still waiting. It keeps each task's
metrics per training step for the sparklines, and its predictions and targets for the map's
"Probe" colour mode. Probes are added, changed and removed here: validated, then sent to the
trainer through its command queue while a run is alive (engine.events.SetProbe / RemoveProbe), so
the trainer's ``cfg.tasks`` (which its checkpoints save) and this list agree. No Dash.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from app.arrays import typed
from app.colours import categorical_marker
from app.services.embeddings import MapVersion
from app.services.refresh import RefreshPump
from app.services.training import TrainingSession
from engine import events as ev
from engine.config import Config
from engine.tasks import TaskConfig
from engine.training.probe_edit import FORK_NOTE, check_probe, with_probe, without_probe

if TYPE_CHECKING:
    from engine.analysis.probes import ProbeResult
    from engine.datasets import Dataset
    from engine.training.trainer import Trainer

MAX_TRAIN = 10_000  # training rows a live probe is fitted on (``latentloop probe`` uses all of them)
METRICS = ("accuracy", "r2", "mae", "psnr")  # the panel's columns, in order
HISTORY = 200  # steps kept per task for the sparklines
NICE = 10  # the probe thread's extra niceness (Linux: per thread), so training keeps its cores


@dataclass(frozen=True)
class ProbeRow:
    """One task of the panel: its config, its newest result (or error) and its metrics over steps."""

    task: TaskConfig
    result: ProbeResult | None = None
    error: str = ""
    history: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)  # metric -> (steps, values)
    note: str = ""  # what the probe was fitted and scored on, where that is not the splits (no ground truth)


@dataclass(frozen=True)
class ProbesView:
    """What the panel shows: a row per task, the status line and the map version measured."""

    rows: list[ProbeRow]
    status: str  # "idle" | "waiting" | "running" | "error"
    message: str
    version: int | None
    step: int | None
    max_train: int


@dataclass
class _Run:
    """The newest finished probe run: per task its result or error, predictions and targets."""

    version: int
    step: int
    results: dict[str, ProbeResult] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # ProbeRow.note


class ProbeService:
    """``cfg``: the trainer's config (its tasks, model sizes, data root, validation rows and seed);
    ``dataset``: the engine Dataset; ``session``: the TrainingSession (its trainer's config follows
    every change); ``n_points``: map rows; ``max_train``: training rows a probe is fitted on."""

    def __init__(
        self,
        cfg: Config,
        dataset: Dataset,
        session: TrainingSession | None,
        n_points: int,
        *,
        max_train: int = MAX_TRAIN,
    ) -> None:
        self.dataset = dataset
        self.session = session
        self.n_points, self.max_train = int(n_points), int(max_train)
        self._cfg = cfg
        self._tasks = list(cfg.tasks)
        self._cond = threading.Condition()  # guards the state below (the pump has its own)
        self._pump = RefreshPump(self._handle, name="probes", nice=NICE)
        self._last: MapVersion | None = None  # the newest version submitted (a change re-runs it)
        self._run: _Run | None = None
        self._history: dict[str, dict[int, dict[str, float]]] = {}  # task -> step -> metrics
        self._running = False
        self._error = ""
        self._gen = 0  # bumped whenever the panel may change
        self._published = 0  # bumped whenever the colours may change (a run published, a probe removed)

    # -- the thread -------------------------------------------------------------------------------
    def start(self) -> ProbeService:
        self._pump.start()
        return self

    def stop(self) -> None:
        self._pump.stop()

    def submit(self, v: MapVersion) -> None:
        """Probe map version ``v`` (cheap: any thread); a newer one replaces it while it waits.
        Another version of the same model outputs (a UMAP map of the same refresh) is not probed again."""
        with self._cond:
            if self._last is not None and self._last.mu is v.mu and not self._pump.pending:
                return
            self._last = v
            self._gen += 1
        self._pump.offer(v)

    def wait(self, timeout: float = 60.0) -> bool:
        """Until no run is pending or under way (False: timed out)."""
        return self._pump.wait(timeout)

    def _handle(self, v: MapVersion) -> None:
        """One probe run (the pump's thread); an error is shown in the panel, the app goes on."""
        with self._cond:
            self._running = True
            self._gen += 1
        try:
            self._reconcile()
            with self._cond:
                cfg, tasks = self._cfg, list(self._tasks)
            run = self._probe(v, cfg, tasks)
            error = ""
        except Exception as err:
            traceback.print_exc()
            run, error = None, f"{type(err).__name__}: {err}"
        with self._cond:
            if run is not None:
                self._publish(run, tasks)
            self._error = error
            self._running = False
            self._gen += 1

    def _probe(self, v: MapVersion, cfg: Config, tasks: list[TaskConfig]) -> _Run:
        """Every task on version ``v``, one at a time, so a failing one is reported on its own row;
        with the config's data root, validation rows and seed, like ``latentloop probe``."""
        from engine.analysis.probes import probe_outputs
        from engine.backends.base import Out

        run = _Run(v.version, v.step)
        for task in tasks:
            try:
                if self.dataset.has_ground_truth:
                    res = probe_outputs(cfg, self.dataset, {Out.MU: v.mu, Out.RESP: v.resp}, [task], self.max_train)
                else:
                    res, run.notes[task.name] = self._without_truth(v, cfg, task)
            except Exception as err:
                run.errors[task.name] = f"{type(err).__name__}: {err}"
                continue
            for r in res.results:
                run.results[r.name] = r
            run.predictions.update(res.predictions)
            run.targets.update(res.targets)
        return run

    def _without_truth(self, v: MapVersion, cfg: Config, task: TaskConfig) -> tuple[Any, str]:
        """A probe on a dataset with unknown targets: a class probe is fitted on the user's labels
        and scored on the held-out ones (engine/stores/holdout.py), the accuracy's split; any other
        task on the dataset's own splits, or, without a test split, on a fixed fifth of the training
        rows. Returns the run and what it was fitted and scored on, in words."""
        from engine.analysis.probes import ProbeError, run_probes
        from engine.datasets.attributes import dataset_attributes
        from engine.stores import holdout
        from engine.tasks import LABEL_TARGET

        ds = self.dataset
        attrs = dataset_attributes(ds, cfg.data.root) if task.kind == "regression" else {}
        common: dict[str, Any] = {"attrs": attrs, "max_train": self.max_train, "seed": cfg.seed}
        if task.kind == "classification" and task.target == LABEL_TARGET:
            if self.session is None:
                raise ProbeError("this dataset has no true classes, and no labels to fit a class probe on")
            store = self.session.trainer.labels
            labels = store.read()
            trained, held = holdout.label_split(labels, holdout.read_fraction(store.path.parent))
            if len(trained) < 2 or len(held) == 0:
                raise ProbeError(
                    f"this dataset has no true classes: a class probe is fitted on your labels and scored on the "
                    f"held-out ones ({len(trained)} to fit, {len(held)} held out so far; label more)"
                )
            targets = np.full(len(ds), -1, np.int64)
            targets[: len(labels)] = labels
            ds = dataclasses.replace(ds, targets=targets)
            res = run_probes([task], ds, v.mu, v.resp, train_rows=trained, test_rows=held, **common)
            return res, f"your labels: fit on {len(trained)}, scored on {len(held)} held-out labels (no true classes)"
        if len(ds.test_idx):
            return run_probes([task], ds, v.mu, v.resp, validation=cfg.data.validation, **common), ""
        rows = np.asarray(ds.train_idx, np.int64)
        test = holdout.held_out(rows, holdout.DEFAULT_FRACTION)
        res = run_probes([task], ds, v.mu, v.resp, train_rows=rows[~test], test_rows=rows[test], **common)
        return res, f"no test split: scored on a fixed fifth of the training images ({int(test.sum())})"

    def _publish(self, run: _Run, tasks: list[TaskConfig]) -> None:
        """Keep the run and its metrics per step (called under the lock). A task changed since the
        run started is left out: its new definition gets its own run."""
        current = {t.name: t for t in self._tasks}
        for t in tasks:
            if current.get(t.name) != t:
                run.results.pop(t.name, None)
                run.errors.pop(t.name, None)
                run.predictions.pop(t.name, None)
                run.targets.pop(t.name, None)
        for name, r in run.results.items():
            steps = self._history.setdefault(name, {})
            steps[run.step] = dict(r.metrics)  # a re-run at the same step replaces its point
            for old in sorted(steps)[:-HISTORY]:
                del steps[old]
        self._run = run
        self._published += 1

    def _reconcile(self) -> None:
        """With no run alive, make the trainer's probes this list's (a command sent just as a run
        ended is never read by it); if its auxiliary tasks differ, it holds another config (a loaded
        branch) and this list follows it instead."""
        sess = self.session
        if sess is None or sess.active:
            return

        def align(tr: Trainer) -> None:
            with self._cond:
                if tr.cfg.tasks == self._tasks:
                    return
                if [t for t in tr.cfg.tasks if not t.is_probe] != [t for t in self._tasks if not t.is_probe]:
                    self._adopt(tr.cfg)
                else:
                    tr.set_tasks(self._tasks)

        with contextlib.suppress(Exception):  # a run just started: it got the commands
            sess.exclusive(align)

    def set_config(self, cfg: Config) -> None:
        """Follow another config (a loaded checkpoint's): its tasks and model sizes. A task whose
        definition changed starts a new history."""
        with self._cond:
            self._adopt(cfg)

    def _adopt(self, cfg: Config) -> None:
        kept = {t.name for t in cfg.tasks if t in self._tasks}
        self._history = {k: v for k, v in self._history.items() if k in kept}
        self._cfg, self._tasks = cfg, list(cfg.tasks)
        self._gen += 1
        self._published += 1

    # -- changes from the page ----------------------------------------------------------------------
    @property
    def tasks(self) -> list[TaskConfig]:
        with self._cond:
            return list(self._tasks)

    def set_probe(self, raw: dict[str, Any]) -> str:
        """Add the probe ``raw`` (name, kind, target, input, head) or change the one of its name.
        Returns the panel's message; ValueError with a message for the user when it is not valid."""
        with self._cond:
            m = self._cfg.model
            task = check_probe(raw, self._tasks, m.latent_dim, m.components)
            old = next((t for t in self._tasks if t.name == task.name), None)
            if old == task:
                return f"probe {task.name!r} is unchanged"
            self._tasks = with_probe(self._tasks, task)
            self._history.pop(task.name, None)  # a changed probe measures something else
        how = self._send(ev.SetProbe(task.model_dump(mode="json")))
        self._rerun()
        return f"{'changed' if old else 'added'} probe {task.name!r} ({how})"

    def remove_probe(self, name: str) -> str:
        """Remove the probe ``name``; ValueError for an auxiliary task or an unknown name."""
        with self._cond:
            old = next((t for t in self._tasks if t.name == name), None)
            if old is None:
                raise ValueError(f"no task {name!r}")
            if not old.is_probe:
                raise ValueError(f"{name!r} is an auxiliary task; {FORK_NOTE}")
            self._tasks = without_probe(self._tasks, name)
            self._history.pop(name, None)
            if self._run is not None:
                for part in (
                    self._run.results,
                    self._run.errors,
                    self._run.predictions,
                    self._run.targets,
                    self._run.notes,
                ):
                    part.pop(name, None)
            self._gen += 1
            self._published += 1
        return f"removed probe {name!r} ({self._send(ev.RemoveProbe(name))})"

    def _send(self, cmd: ev.SetProbe | ev.RemoveProbe) -> str:
        """To the trainer: directly while no run is alive, else through its command queue."""
        if self.session is None:
            return "no trainer"
        return self.session.send_probe(cmd)

    def _rerun(self) -> None:
        """Probe the newest version again (a change shows at once, not at the next refresh)."""
        with self._cond:
            last = self._last
            self._gen += 1
        if last is not None and not self._pump.pending:
            self._pump.offer(last)

    # -- what the page reads ---------------------------------------------------------------------
    def key(self) -> int:
        """Changes whenever :meth:`view` or :meth:`colours` may answer differently."""
        return self._gen

    def colour_key(self) -> int:
        """Changes whenever :meth:`colours` may answer differently for the same choice."""
        return self._published

    def view(self) -> ProbesView:
        with self._cond:
            run, rows = self._run, []
            for t in self._tasks:
                hist = self._history.get(t.name, {})
                steps = sorted(hist)
                series = {
                    m: (steps, [float(hist[s][m]) for s in steps]) for m in METRICS if steps and m in hist[steps[-1]]
                }
                res = run.results.get(t.name) if run else None
                rows.append(
                    ProbeRow(
                        t,
                        res,
                        run.errors.get(t.name, "") if run else "",
                        series,
                        run.notes.get(t.name, "") if run else "",
                    )
                )
            if self._running:
                status, message = "running", f"probing map v{self._last.version if self._last else '?'}…"
            elif self._error:
                status, message = "error", self._error
            elif run is None:
                status, message = "waiting", "waiting for the first map"
            else:
                status, message = "idle", f"map v{run.version} · step {run.step}"
            return ProbesView(
                rows, status, message, run.version if run else None, run.step if run else None, self.max_train
            )

    def colour_options(self) -> list[dict[str, str]]:
        """The map's probe colour menu: each task's prediction, and its target where it has one."""
        out = []
        for t in self.tasks:
            what = "PSNR" if t.kind == "reconstruction" else "prediction"
            out.append({"label": f"{t.name} · {what}", "value": f"{t.name}|pred"})
            if t.kind != "reconstruction" and not self._user_labels(t):
                out.append({"label": f"{t.name} · target ({t.target})", "value": f"{t.name}|target"})
        return out

    def _user_labels(self, task: TaskConfig) -> bool:
        """The task's target is the user's labels (a class probe on a dataset without true classes):
        its colours are the "User label" mode's, so the menu does not offer them twice."""
        from engine.tasks import LABEL_TARGET

        return not self.dataset.has_ground_truth and task.kind == "classification" and task.target == LABEL_TARGET

    def colours(self, choice: str | None, num_classes: int) -> dict[str, Any] | None:
        """The "Probe" colour mode's marker for ``choice`` ("<task>|pred" or "<task>|target") over the
        map rows; None while the newest run has no such values. Classes get the categorical palette,
        values a continuous scale whose range is the target's (so target and prediction compare)."""
        name, _, what = (choice or "").partition("|")
        with self._cond:
            run = self._run
            task = next((t for t in self._tasks if t.name == name), None)
        if run is None or task is None or (what == "target" and self._user_labels(task)):
            return None
        values = (run.targets if what == "target" else run.predictions).get(name)
        if values is None:
            return None
        shown = np.nan_to_num(np.asarray(values, np.float32)[: self.n_points])
        if task.kind == "classification":
            return categorical_marker(np.clip(np.rint(shown), 0, num_classes - 1).astype(np.uint8), num_classes)
        ref = run.targets.get(name, values) if task.kind == "regression" else values
        lo, hi = (float(x) for x in np.nanpercentile(np.asarray(ref, np.float64), [1.0, 99.0]))
        hi = hi if hi > lo else lo + 1.0
        return {"color": typed(shown), "colorscale": "Viridis", "cmin": lo, "cmax": hi, "showscale": False}
