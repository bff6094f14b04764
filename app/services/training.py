"""TrainingSession: the background training thread of docs/architecture.md section 2.

The engine's :class:`~engine.training.trainer.Trainer` runs in a daemon thread; commands go in through a
``queue.Queue`` and events come out through a bounded one (the trainer drops the oldest when it is
full, so it never waits on the page). The page drains the events from a ``dcc.Interval`` via
:meth:`drain`, which folds them into a history every browser tab can read from its own cursor.

New embeddings are captured by a trainer listener (it runs on the training thread, right when the
trainer has them), together with a copy of the weights and the tau route's prediction, and handed
to ``on_refresh`` (the app's refresh pump, app/services/refresh.py), so the map, the reconstructions
and the forecast worker follow without anyone touching the trainer's model from another thread.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.services.train_settings import TrainSettings, validate_settings
from engine import events as ev
from engine.config import Config
from engine.threads import switch_interval
from engine.training.probe_edit import apply_probe_command

if TYPE_CHECKING:  # annotations only
    from engine.stores.checkpoints import CheckpointStore
    from engine.training.trainer import Trainer

ACTIVE = ("starting", "running", "paused", "stopping")
# the interpreter's switch interval while a run goes on (Python's default: 5 ms): the page's
# requests then keep the training thread waiting for the interpreter lock 0.5 ms at most at a time
RUN_SWITCH_INTERVAL_S = 0.0005


class SessionError(RuntimeError):
    """A command that does not fit the session's state (e.g. Start while running)."""


@dataclass
class History:
    """Everything drained so far; tabs keep cursors into these lists."""

    metrics: list[dict[str, Any]] = field(default_factory=list)  # {step, loss, rec, sup, acc_labeled, sps}
    evals: list[dict[str, Any]] = field(default_factory=list)  # {step, test_acc, tau_acc, n_labels, n_test, split}
    phases: list[tuple[int, str]] = field(default_factory=list)  # (first step, curriculum phase) per change


class TrainingSession:
    """Owns the trainer while the app runs. Thread-safe; the page calls it from request threads.

    ``on_refresh(embeddings, weights, trained, tau_pred)``: called on the thread that computed new
    embeddings (the training thread during a run); it must only hand them on (it runs between steps).
    ``trained``: the trainer's weights are trained ones (a checkpoint was loaded), not a fresh model's.
    """

    def __init__(
        self,
        trainer: Trainer,
        checkpoint: str,
        store: CheckpointStore,
        on_refresh: Callable[..., object] | None = None,
        event_queue_size: int = 2000,
        trained: bool = False,
    ) -> None:
        self.trainer = trainer
        self.checkpoint = checkpoint
        self.store = store
        self.on_refresh = on_refresh
        self.commands: queue.Queue[Any] = queue.Queue()
        self.events: queue.Queue[Any] = queue.Queue(maxsize=event_queue_size)
        trainer.attach(self.commands, self.events, self._listen)
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self.state = "idle"  # idle | starting | running | paused | stopping | finished | stopped | error
        self.message = ""
        self.error = ""
        self.phase = trainer.phase
        self.step = int(trainer.step)
        self.target = int(trainer.step)
        self.run_start = int(trainer.step)
        self.samples_per_s = 0.0
        self.history = History()
        self.last_eval: dict[str, Any] = dict(trainer.last_eval or {})
        self.trained = trained
        self.saves = 0  # CheckpointSaved events drained so far: tabs refresh their checkpoint list on a change
        self.saved_name = ""
        self._final: str | None = None  # end state set by the thread, applied after the last events

    # -- the training thread --------------------------------------------------------------------
    def _listen(self, event: Any) -> None:
        """Runs on whichever thread the trainer runs on; must stay cheap."""
        if isinstance(event, ev.Refresh) and self.on_refresh is not None:
            emb = self.trainer.embeddings
            assert emb is not None  # a Refresh event follows the embeddings it announces
            weights = self.trainer.backend.get_weights()
            tau_pred = self.trainer.tau.predict_hard(emb.resp)
            self.on_refresh(emb, weights, self.trained or self.active, tau_pred)

    def _run(self, target: int, save_at_end: bool) -> None:
        try:
            with switch_interval(RUN_SWITCH_INTERVAL_S):
                summary = self.trainer.run(steps=target)
            stopped = int(summary["step"]) < target  # a Stop command ended the run early
            if self.trainer.embeddings is None or self.trainer.embeddings.step != self.trainer.step:
                self.trainer.embed()  # the map should show the final weights
            if save_at_end:
                self.trainer.save_checkpoint(self.checkpoint, store=self.store)
            with self._lock:
                self.message = (
                    f"saved checkpoint {self.checkpoint!r} at step {self.trainer.step}" if save_at_end else ""
                )
                self.trained = True
                self._final = "stopped" if stopped else "finished"
        except Exception as err:  # the app keeps serving; the panel shows the error
            with self._lock:
                self._final = "error"
                self.error = f"{type(err).__name__}: {err}"
                self.message = ""
            traceback.print_exc()

    # -- commands from the page ------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """The training thread is alive (the trainer must not be touched from elsewhere)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def busy(self) -> bool:
        """Running, or finished but not yet drained: the page keeps polling while this holds."""
        return self.active or self.state in ACTIVE or self._final is not None or not self.events.empty()

    def start(self, settings: TrainSettings, cfg: Config | None = None) -> None:
        """Train ``settings.steps`` more steps in the background."""
        with self._lock:
            if self.active:
                raise SessionError("training is already running (pause, resume or stop it)")
            tr = self.trainer
            if cfg is not None and cfg.model != tr.cfg.model:
                raise SessionError("the model architecture cannot change in the app")
            # Between runs the trainer is idle, so swapping its config is safe; the
            # curriculum reads the loss weights from it.
            tr.set_run_config(cfg, settings.refresh_every)
            tr.backend.set_lr(settings.lr)
            self._drain_commands()
            tr.reload_feedback()  # boxes added while no run was going
            self.run_start = tr.step
            self.target = tr.step + settings.steps
            self.state = "starting"
            self.error = ""
            self.message = ""
            self._final = None
            self._thread = threading.Thread(
                target=self._run, args=(self.target, settings.save_at_end), name="latentloop-training", daemon=True
            )
            self._thread.start()

    def _drain_commands(self) -> None:
        while True:
            try:
                self.commands.get_nowait()
            except queue.Empty:
                return

    def pause(self) -> None:
        with self._lock:
            if self.state not in ("starting", "running"):
                raise SessionError("nothing is running")
            self.commands.put(ev.Pause())

    def resume(self) -> None:
        with self._lock:
            if self.state != "paused":
                raise SessionError("training is not paused")
            self.commands.put(ev.Resume())

    def stop(self) -> None:
        with self._lock:
            if not self.active:
                raise SessionError("nothing is running")
            self.state = "stopping"
            # No save here: the run's own "save when the run ends" setting decides.
            self.commands.put(ev.Stop(save=False))

    # -- the training panel's values and buttons ----------------------------------------------------
    def panel_defaults(self) -> dict[str, Any]:
        """The panel's fields at page load: the trainer's config and 500 steps."""
        c = self.trainer.cfg
        return {
            "steps": 500,
            "lr": c.train.lr,
            "alpha": c.loss.alpha,
            "beta": c.loss.beta,
            "gamma": c.loss.gamma,
            "consistency": c.loss.consistency,
            "refresh_every": c.train.refresh_every,
            "save_at_end": True,
        }

    def start_from_panel(self, values: dict[str, Any]) -> dict[str, str]:
        """Validate the panel's values and start a run. Returns field errors (empty: started)."""
        settings, cfg, errors = validate_settings(self.trainer.cfg, values)
        if errors:
            return errors
        assert settings is not None
        try:
            self.start(settings, cfg)
        except SessionError as err:
            return {"_": str(err)}
        return {}

    def command(self, name: str) -> str:
        """A panel button: "pause", "resume" or "stop"; returns an error message or ''."""
        if name not in ("pause", "resume", "stop"):
            return f"unknown command {name!r}"
        try:
            getattr(self, name)()
        except SessionError as err:
            return str(err)
        return ""

    @property
    def acc_split(self) -> str:
        """The split the trainer scores accuracy on ("test", "validation" or "held-out")."""
        return self.trainer.eval_rows()[0]

    def curve_points(
        self, metrics_from: int, evals_from: int, limit: int | None = None
    ) -> tuple[dict[str, tuple[list[int], list[float]]], int, int]:
        """New curve points since a tab's cursors: ``(series -> (steps, values), m_cursor, e_cursor)``;
        at most ``limit`` rows of each kind (metrics, evaluations)."""
        m_end = None if limit is None else metrics_from + limit
        e_end = None if limit is None else evals_from + limit
        m = self.history.metrics[metrics_from:m_end]
        e = self.history.evals[evals_from:e_end]
        pts: dict[str, tuple[list[int], list[float]]] = {}
        for key in ("loss", "rec", "sup", "acc_labeled"):
            pts[key] = ([r["step"] for r in m], [float(r.get(key, float("nan"))) for r in m])
        pts["test_acc"] = ([r["step"] for r in e], [float(r["test_acc"]) for r in e])
        return pts, metrics_from + len(m), evals_from + len(e)

    def apply_feedback(self) -> str:
        """Hand the feedback file's current boxes to the trainer: through its command queue while it
        runs (applied before the next step), directly when it is idle."""
        with self._lock:
            if self.active:
                items = self.trainer.feedback_store.trainer_items() if self.trainer.feedback_store else ()
                self.commands.put(ev.ApplyFeedback(tuple(items)))
                return "sent to the training thread (applies from the next step)"
            self.trainer.reload_feedback()
            return "applies from the next training step"

    def advance_phase(self) -> str:
        """Move a run to its next curriculum phase, from the trainer's next step (command queue)."""
        with self._lock:
            if not self.active:
                return "no run: Advance moves a running training to its next phase"
            self.commands.put(ev.AdvancePhase())
            return "sent: the next phase starts at the trainer's next step"

    def curriculum_info(self) -> dict[str, Any]:
        """The trainer's current phase, its first step, its loss weights and the phase starts."""
        return self.trainer.curriculum.schedule(self.trainer.step)

    def save_checkpoint(self, name: str) -> str:
        """Save now: through the training thread when it runs, directly otherwise."""
        with self._lock:
            if self.active:
                self.commands.put(ev.SaveCheckpoint(name))
                return f"checkpoint {name!r} will be saved by the training thread"
            path = self.trainer.save_checkpoint(name, store=self.store)
            return f"saved checkpoint {name!r} at step {self.trainer.step} ({path})"

    def send_probe(self, cmd: ev.SetProbe | ev.RemoveProbe) -> str:
        """A probe added, changed or removed on the page: straight into the trainer's config while no
        run is alive, else through the command queue (so the run's checkpoints save the same tasks)."""
        with self._lock:
            if self.active:
                self.commands.put(cmd)
                return "sent to the training thread"
            self.trainer.set_tasks(apply_probe_command(self.trainer.cfg, cmd).tasks)
            return "applied to the config"

    def adopt_loaded(self) -> None:
        """The trainer was just loaded from a checkpoint (inside :meth:`exclusive`): the session's step,
        phase and last evaluation follow it, and its weights count as trained."""
        with self._lock:
            tr = self.trainer
            self.step = self.target = self.run_start = tr.step
            self.phase = tr.phase
            self.last_eval = dict(tr.last_eval or {})
            self.trained = True

    def use_checkpoint(self, name: str) -> None:
        """The checkpoint Save and a run's automatic save write from now on (the loaded one)."""
        with self._lock:
            self.checkpoint = name

    def exclusive(self, fn: Callable[[Trainer], Any]) -> Any:
        """Run ``fn(trainer)`` while no training runs (checkpoint loads, fresh embeddings)."""
        with self._lock:
            if self.active:
                raise SessionError("stop training first")
            return fn(self.trainer)

    def wait(self, timeout: float | None = None) -> bool:
        th = self._thread
        if th is not None:
            th.join(timeout)
            return not th.is_alive()
        return True

    # -- events to the page ------------------------------------------------------------------------
    def drain(self) -> int:
        """Fold queued events into the history; returns how many there were."""
        n = 0
        with self._lock:
            while True:
                try:
                    e = self.events.get_nowait()
                except queue.Empty:
                    break
                n += 1
                self._apply(e)
            if self._final is not None and self._thread is not None and not self._thread.is_alive():
                # Only now: queued "running" events must not overwrite the end state.
                self.state, self._final = self._final, None
                self.step = int(self.trainer.step)
        return n

    def _apply(self, e: Any) -> None:
        if isinstance(e, ev.Metrics):
            self.step = e.step
            self.phase = e.phase
            self.samples_per_s = e.samples_per_s
            row = {"step": e.step, "acc_labeled": e.acc_labeled, "sps": e.samples_per_s}
            row.update({k: float(v) for k, v in e.losses.items()})
            self.history.metrics.append(row)
        elif isinstance(e, ev.Evaluation):
            acc = {"test_acc": e.test_acc, "tau_acc": e.tau_acc, "n_test": e.n_test, "split": e.split}
            self.history.evals.append({"step": e.step, **acc, "n_labels": e.n_labels})
            self.last_eval = {**acc, "step": e.step}
        elif isinstance(e, ev.Phase):
            self.phase = e.name
            if not self.history.phases or self.history.phases[-1][1] != e.name:
                self.history.phases.append((e.step, e.name))
        elif isinstance(e, ev.State):
            self.step = max(self.step, e.step)
            if e.state == "running" and self.state in ("starting", "paused", "running"):
                self.state = "running"
            elif e.state == "paused" and self.state in ("starting", "running"):
                self.state = "paused"
            elif e.state == "error":
                self.error = e.message
            # The end states are set by the thread once it is done (checkpoint saved, final map).
        elif isinstance(e, ev.CheckpointSaved):
            self.message = f"saved checkpoint {e.name!r} at step {e.step}"
            self.saves += 1
            self.saved_name = e.name

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "state": self.state,
                "step": self.step,
                "target": self.target,
                "run_start": self.run_start,
                "phase": self.phase,
                "saves": self.saves,
                "saved_name": self.saved_name,
                "samples_per_s": self.samples_per_s,
                "error": self.error,
                "message": self.message,
                "busy": self.busy,
                "test_acc": self.last_eval.get("test_acc"),
                "split": self.last_eval.get("split"),
            }
