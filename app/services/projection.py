"""ProjectionService: which 2-D map the dashboard shows (PCA or UMAP), and UMAP in the background.

PCA is the :class:`~app.services.embeddings.EmbeddingCache` map: instant, computed on the refresh
pump, the default. UMAP takes tens of seconds on 60,000 points, so it is computed for the newest
submitted map version in a child process and swapped in when ready (:meth:`coords` answers for
that version only; until then the page keeps the aligned PCA map). A newer version cancels the
job of an older one. The choice persists per dataset in ``data/<dataset>/app.json``
(docs/formats.md, "App settings").

Why a child process and not a thread: umap-learn's numba kernels are compiled without ``nogil``,
so a thread running them holds the GIL for a whole optimisation epoch at a time, and compiling them
on first use is seconds of Python work; the page's requests and the training thread would stall
behind it. A process is niced, leaves the GIL alone and can be cancelled (terminated) when its
version is stale, which a thread in the middle of a numba kernel cannot. The process reads the
latent means once (pickled with its arguments, 4 MB for 60,000 x 16) and sends back progress
messages and the raw map; the alignment (Procrustes onto the previous UMAP map, or onto the PCA map
on screen for the first one) runs on this side on the job's thread and takes milliseconds.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis.projection import UmapParams, UmapProjector, normalise_for_plot, umap_embed
from engine.io import atomic_write_bytes
from workers.child import limit_child
from workers.supervisor import child_main

PROJECTIONS = ("pca", "umap")
PROJECTION_NAMES = {"pca": "PCA", "umap": "UMAP"}
SETTINGS_FILE = "app.json"  # in data/<dataset>/
SETTINGS_KEY = "projection"

_CTX = mp.get_context("spawn")
Embed = Callable[[np.ndarray, UmapParams, Callable[[str], None]], np.ndarray]


def _umap_child(conn: Any, mu: np.ndarray, params: UmapParams, embed: Embed, nice: int) -> None:
    """The child process: ``embed`` the latent means, send ("progress", text)..., then ("done", xy)
    or ("error", text)."""
    os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba loads: one core for the child
    limit_child(nice)
    try:
        xy = embed(mu, params, lambda msg: conn.send(("progress", msg)))
        conn.send(("done", np.asarray(xy, dtype=np.float64)))
    except Exception as err:
        conn.send(("error", f"{type(err).__name__}: {err}"))
    finally:
        conn.close()


@dataclass
class _Job:
    version: int
    mu: np.ndarray
    reference: np.ndarray | None
    started: float
    message: str = "starting"
    cancelled: bool = False


class ProjectionService:
    """The projection choice (persisted in ``settings_path``) and the background UMAP jobs; thread-safe.

    ``embed(mu, params, progress)`` computes the raw UMAP map in the child; it must be importable by
    name (spawn pickles it), tests pass a fake.
    """

    def __init__(
        self,
        settings_path: str | Path,
        params: UmapParams | None = None,
        embed: Embed = umap_embed,
        nice: int = 10,
        on_ready: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        self.path = Path(settings_path)
        self.on_ready = on_ready  # (version, xy) when a UMAP map is ready: the app swaps it in
        self.params = params or UmapParams()
        self._embed = embed
        self._nice = nice
        self._lock = threading.Lock()
        self._projector = UmapProjector(self.params)
        self._choice, self.settings_error = self._read()
        self._latest: tuple[int, np.ndarray, np.ndarray | None] | None = None  # newest submit
        self._job: _Job | None = None
        self._ready: tuple[int, np.ndarray] | None = None  # (version, normalised UMAP xy)
        self._outcome: tuple[str, int, float, str] | None = None  # (state, version, seconds, error) of the last job
        self._generation = 0  # bumped when the map to show changes (a UMAP ready, a new choice)

    # -- the choice ------------------------------------------------------------------------------
    def _read(self) -> tuple[str, str]:
        """(choice, error): PCA and an error naming the file when it cannot be used (never rewritten here)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return "pca", ""
        except OSError as err:
            return "pca", f"{self.path}: cannot be read ({err.strerror or err}); the map uses PCA"
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return "pca", f"{self.path}: not valid JSON ({err}); the map uses PCA until a projection is chosen"
        if not isinstance(data, dict):
            return "pca", f"{self.path}: must be a JSON object; the map uses PCA until a projection is chosen"
        value = data.get(SETTINGS_KEY, "pca")
        if value not in PROJECTIONS:
            return "pca", (
                f"{self.path}: {SETTINGS_KEY!r} must be one of {', '.join(map(repr, PROJECTIONS))}, got {value!r}; "
                "the map uses PCA until a projection is chosen"
            )
        return str(value), ""

    def choice(self) -> str:
        """The projection the map shows: "pca" or "umap"."""
        return self._choice

    def set_choice(self, name: str) -> None:
        """Choose the projection and save it (keeping the file's other keys); UMAP starts computing
        for the newest submitted version if it has none, PCA cancels a running job."""
        if name not in PROJECTIONS:
            raise ValueError(f"unknown projection {name!r}: choose one of {', '.join(PROJECTIONS)}")
        with self._lock:
            if name != self._choice:
                self._choice = name
                self._generation += 1
            if name == "pca":
                self._cancel_locked()
            else:
                self._start_locked()
        try:
            data = json.loads(self.path.read_text("utf-8")) if self.path.exists() else {}
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            data = {}  # the malformed file the user is replacing by choosing
        if not isinstance(data, dict):
            data = {}
        data[SETTINGS_KEY] = name
        try:
            atomic_write_bytes(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
            self.settings_error = ""
        except OSError as err:
            self.settings_error = f"{self.path}: the projection choice could not be saved ({err})"

    # -- jobs ------------------------------------------------------------------------------------
    def submit(self, version: int, mu: np.ndarray, reference: np.ndarray | None = None) -> None:
        """A new map version's latent means ``mu [M, D]`` (the map rows). Returns at once: with UMAP
        chosen, a job starts for it (cancelling an older one). ``reference [M, 2]``, optional: the
        map shown for this version (the aligned PCA), which the first UMAP map is aligned to."""
        with self._lock:
            self._latest = (int(version), np.asarray(mu), None if reference is None else np.asarray(reference))
            if self._choice == "umap":
                self._start_locked()

    def _start_locked(self) -> None:
        latest = self._latest
        if latest is None:
            return
        version, mu, reference = latest
        if (self._job is not None and self._job.version == version) or (
            self._ready is not None and self._ready[0] == version
        ):
            return  # already computing or computed
        self._cancel_locked()
        job = _Job(version, mu, reference, time.monotonic())
        self._job = job
        # The process is started by the job's thread: spawning pickles 4 MB through a pipe while the
        # child boots, which must not happen in the request that chose UMAP.
        threading.Thread(target=self._run, args=(job,), name=f"umap-v{version}", daemon=True).start()

    def _cancel_locked(self) -> None:
        job = self._job
        if job is None:
            return
        job.cancelled = True  # the job's thread terminates its process within a poll
        self._job = None

    def _run(self, job: _Job) -> None:
        """The job's thread: start the child, relay its progress, align and publish its map."""
        recv, send = _CTX.Pipe(duplex=False)
        proc = _CTX.Process(
            target=child_main,
            args=(os.getpid(), _umap_child, send, job.mu, self.params, self._embed, self._nice),
            name=f"umap-v{job.version}",
            daemon=True,
        )
        result: np.ndarray | None = None
        error = ""
        ended = False
        try:
            proc.start()
        except OSError as err:
            recv.close()
            send.close()
            self._finish(job, None, f"the UMAP process could not start: {err}")
            return
        send.close()  # the child holds the only writer: its exit ends our reads
        try:
            while not job.cancelled:
                if not recv.poll(0.25):
                    continue
                kind, payload = recv.recv()
                if kind == "progress":
                    job.message = str(payload)
                elif kind == "done":
                    result = payload
                    break
                else:
                    error = str(payload)
                    break
        except (EOFError, OSError):
            ended = True
        finally:
            recv.close()
            if job.cancelled:
                proc.terminate()
            proc.join(5.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        if ended:
            error = f"the UMAP process ended without a result (exit code {proc.exitcode})"
        self._finish(job, result, error)

    def _finish(self, job: _Job, result: np.ndarray | None, error: str) -> None:
        with self._lock:
            if job is not self._job or job.cancelled:
                return  # superseded: a newer version (or PCA) took over
            self._job = None
            seconds = time.monotonic() - job.started
            if result is None:
                self._outcome = ("error", job.version, seconds, error or "no result")
                return
            try:
                xy = normalise_for_plot(self._projector.align(result, reference=job.reference))
            except ValueError as err:  # a map of the wrong shape from the embedding
                self._outcome = ("error", job.version, seconds, str(err))
                return
            xy.flags.writeable = False
            self._ready = (job.version, xy)
            self._outcome = ("ready", job.version, seconds, "")
            self._generation += 1
        if self.on_ready is not None:
            self.on_ready(job.version, xy)

    # -- what the page reads ---------------------------------------------------------------------
    def coords(self, version: int) -> np.ndarray | None:
        """The UMAP map (float32 ``[M, 2]``, about [-1, 1], read-only) for ``version`` when UMAP is
        chosen and ready for it; else None (show the PCA map)."""
        with self._lock:
            ready = self._ready
            if self._choice == "umap" and ready is not None and ready[0] == version:
                return ready[1]
            return None

    def status(self) -> dict[str, Any]:
        """The notice: ``state`` (off / idle / computing / ready / error), ``version`` and ``seconds``
        (running or taken) of the newest job, ``message`` (the text to show), ``generation`` (changes
        whenever the map to show changes: the swap signal to poll) and ``settings_error``."""
        with self._lock:
            job, outcome, choice, gen = self._job, self._outcome, self._choice, self._generation
        out: dict[str, Any] = {
            "choice": choice,
            "state": "off",
            "version": None,
            "seconds": None,
            "message": "",
            "generation": gen,
            "settings_error": self.settings_error,
        }
        if choice != "umap":
            return out
        if job is not None:
            secs = time.monotonic() - job.started
            msg = f"UMAP: computing for map v{job.version} (started {secs:.0f} s ago): {job.message}"
            return {**out, "state": "computing", "version": job.version, "seconds": secs, "message": msg}
        if outcome is None:
            return {**out, "state": "idle", "message": "UMAP: waiting for a map version"}
        state, version, secs, error = outcome
        if state == "ready":
            msg = f"UMAP ready for v{version} (computed in {secs:.0f} s)"
        else:
            msg = f"UMAP failed for v{version}: {error}; the map shows PCA"
        return {**out, "state": state, "version": version, "seconds": secs, "message": msg}

    def close(self) -> None:
        """Cancel a running job (the app is shutting down)."""
        with self._lock:
            self._cancel_locked()
