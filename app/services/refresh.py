"""The refresh pump: new embeddings become a map version on a server thread of their own.

The training thread's trainer listener hands each refresh (embeddings, a copy of the weights, the
tau route's prediction) to :meth:`RefreshPump.offer`, which only stores it; the pump thread runs the
handler (projection, EmbeddingCache update, overlay rebuild, forecast input) for the newest one,
dropping refreshes it could not keep up with. The page's poll then picks up the newest version, so
no HTTP request handler ever runs a projection.

The same newest-wins thread serves the probe runs (app/services/probes.py): any handler, any
arguments, optionally at a lower priority.

:class:`MapRefresher` is the app's handler: it owns the map's bookkeeping (the newest refresh's
version with its PCA map, the PCA/UMAP switch) and hands each refresh to the services that follow
the map. Its collaborators are passed in (typed; the probe runs as a callable, since
app/services/probes.py itself runs on a :class:`RefreshPump`).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.threads import lower_this_thread

if TYPE_CHECKING:  # annotations only
    from app.services.candidates import CandidateQueue
    from app.services.embeddings import EmbeddingCache, MapVersion
    from app.services.mixture import MixtureView
    from app.services.overlay import LabelOverlay
    from app.services.projection import ProjectionService
    from app.services.training import TrainingSession
    from app.services.viewer import ViewerModel
    from app.services.workers import WorkerHub
    from engine.training.trainer import Embeddings
    from workers.forecast import ForecastResult


class RefreshPump:
    """``handler(*args)`` of the newest :meth:`offer` runs on the pump thread, one at a time (the app:
    ``handler(emb, weights, trained, tau_pred)``). ``nice``: the thread's extra niceness (Linux
    niceness is per thread), so a background job leaves the training its cores."""

    def __init__(self, handler: Callable[..., None], name: str = "refresh-pump", nice: int = 0) -> None:
        self.handler = handler
        self.name, self.nice = name, nice
        self.error = ""
        self._cond = threading.Condition()
        self._pending: tuple[Any, ...] | None = None
        self._offered = 0  # refreshes offered so far
        self._done = 0  # the offer number of the newest refresh handled (or dropped for a newer one)
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> RefreshPump:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)

    def offer(self, *args: Any) -> int:
        """Queue the handler's arguments, replacing any still waiting (cheap: any thread, usually the
        training thread); returns the offer's number."""
        with self._cond:
            self._offered += 1
            self._pending = (self._offered, *args)
            self._cond.notify_all()
            return self._offered

    @property
    def pending(self) -> bool:
        """An offer waits for the thread (not yet being handled)."""
        with self._cond:
            return self._pending is not None

    def wait(self, timeout: float = 60.0) -> bool:
        """Wait until every offer so far is handled (or dropped for a newer one); False: timed out."""
        with self._cond:
            target = self._offered
            return self._cond.wait_for(lambda: self._done >= target or self._stop, timeout)

    def _run(self) -> None:
        lower_this_thread(self.nice)
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._stop:
                    return
                assert self._pending is not None
                number, *args = self._pending
                self._pending = None
            try:
                self.handler(*args)
                self.error = ""
            except Exception as err:
                self.error = f"{type(err).__name__}: {err}"
                traceback.print_exc()
            with self._cond:
                self._done = number
                self._cond.notify_all()


class MapRefresher:
    """New embeddings -> a map version and everything that follows the map (the pump's handler
    :meth:`on_refresh`); a ready UMAP map (:meth:`on_umap`); a forecast result (:meth:`on_forecast`);
    the map card's PCA/UMAP switch (:meth:`set_projection`).

    ``read_labels()``: the current labels; ``submit_probes(version)``: hand a map version to the
    probe runs (returns at once); ``hub()``: the worker hub, None without workers."""

    def __init__(
        self,
        cache: EmbeddingCache,
        projection: ProjectionService,
        viewer: ViewerModel,
        overlay: LabelOverlay,
        mixture: MixtureView,
        queue: CandidateQueue,
        session: TrainingSession,
        read_labels: Callable[[], np.ndarray],
        submit_probes: Callable[[MapVersion], object],
        hub: Callable[[], WorkerHub | None],
        n_points: int,
    ) -> None:
        self.cache = cache
        self.projection = projection
        self.viewer = viewer
        self.overlay = overlay
        self.mixture = mixture
        self.queue = queue
        self.session = session
        self.read_labels = read_labels
        self.submit_probes = submit_probes
        self.hub = hub
        self.n_points = n_points
        self._base: MapVersion | None = None  # the newest refresh's version, with the PCA map

    def on_refresh(
        self, emb: Embeddings, weights: dict[str, np.ndarray] | None, trained: bool, tau_pred: np.ndarray | None = None
    ) -> None:
        """New embeddings (the refresh pump's thread): project, publish, feed the forecast worker."""
        v = self._base = self.cache.update(emb.mu, emb.probs, emb.resp, emb.step, trained)
        self.projection.submit(v.version, v.mu[: self.n_points], reference=v.xy)  # returns at once
        self.submit_probes(v)  # returns at once: the probes run on their own thread
        if weights is not None:
            self.viewer.set_weights(weights, v.version)
        labels = self.read_labels()
        self.overlay.rebuild(labels)
        self.mixture.update(v, weights.get("tau") if weights else None, labels)
        hub = self.hub()
        if hub is not None:
            last = self.session.last_eval
            acc = last.get("test_acc") if trained else None
            hub.submit_forecast(
                v.version,
                int(emb.step),
                emb.probs,
                labels,
                tau_pred,
                emb.mu,
                acc,
                int(self.session.target),
                str(last.get("split") or "test"),  # held-out labels on a dataset without test truth
            )

    def on_umap(self, version: int, xy: np.ndarray) -> None:
        """A UMAP map is ready (a projection job thread): show it if its version is still the newest."""
        base = self._base
        if base is not None and base.version == version:
            self.cache.reproject(base, xy)

    def set_projection(self, name: str) -> str:
        """The map card's PCA/UMAP switch: saved per dataset; PCA is shown at once, UMAP as soon as
        it is ready (at once if it already is). Returns the notice."""
        self.projection.set_choice(name)
        base, shown = self._base, self.cache.current
        if base is not None and shown is not None:
            xy = base.xy if name == "pca" else self.projection.coords(base.version)
            if xy is not None and xy is not shown.xy:
                self.cache.reproject(base, xy)
        return str(self.projection.status()["message"])

    def on_forecast(self, res: ForecastResult) -> None:
        """A forecast result (pump thread): its top candidates feed the queue's "forecast" source
        while the review window is open; when it is closed the queue says which gate holds it."""
        if res.window_open:
            note = f"review window open (step {res.step}): {len(res.candidates)} samples likely wrong next"
            self.queue.set_external(res.candidates, note=note)
        else:
            self.queue.set_external([], note=f"review window {res.reason} (step {res.step})")
