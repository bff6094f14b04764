"""A sweep: independent runs, executed here one after another, or as Ray tasks (``--ray``).

Without an address every run is called in this process, in order, exactly as the commands did
before Ray (an exception stops the sweep), and Ray is never imported. With ``ray="auto"`` (the
Ray cluster of this machine, or a new local one) or ``ray="HOST:PORT"`` each run is a Ray task
that asks for its resources (:func:`task_resources`), is retried once when its worker dies
(Ray's ``max_retries``), and a run that still fails is reported by name in
:attr:`SweepResult.failed` while the other runs' results are kept. The caller gathers the results
into its run directory and summary, as after a local sweep (docs/scale.md).

A run's function must be importable by name on the workers (a module-level function), and its
arguments and result picklable; it writes nothing the caller needs on the worker's disk (a
cluster's workers do not share it): it returns what the caller writes.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from engine.errors import LatentLoopError

RAY_HELP = (
    "run each run as a Ray task: auto (this machine's Ray cluster, or a new local one) or HOST:PORT "
    "of a cluster's head (`ray start --head`); needs pip install -e '.[cluster]' (docs/scale.md)"
)
INSTALL = "pip install -e '.[cluster]'"
CONNECT_TIMEOUT_S = 5.0  # a socket to HOST:PORT
PROBE_TIMEOUT_S = 60.0  # a Ray driver connecting there (a few seconds on a live cluster)
_CHECKED: set[str] = set()  # addresses where a Ray cluster answered


@dataclass(frozen=True)
class Run:
    """One independent run: ``fn(*args, **kwargs)``, named for the progress lines and failures."""

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    num_cpus: int = 1
    num_gpus: int = 0


@dataclass
class SweepResult:
    """Each finished run's result by name (in the order of the runs) and each failed run's reason."""

    results: dict[str, Any]
    failed: dict[str, str]


class Resources(TypedDict):
    """What a task asks Ray for: ``Run(name, fn, args, **resources)``."""

    num_cpus: int
    num_gpus: int


def task_resources(threads: int, device: str) -> Resources:
    """What a run asks Ray for: ``threads`` CPUs (one when 0, "all cores but one", is set: a task
    cannot know its node's cores before it is placed) and one GPU when it trains on CUDA."""
    return Resources(num_cpus=max(1, threads), num_gpus=1 if device.startswith("cuda") else 0)


def run_sweep(
    runs: list[Run], ray: str | None = None, on_done: Callable[[str, Any], None] | None = None
) -> SweepResult:
    """Run every run, here (``ray`` None) or on Ray; ``on_done(name, result)`` after each finished
    run (in order here, as they finish on Ray)."""
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise ValueError(f"run names must be unique: {names}")
    if ray is None:
        results = {}
        for run in runs:
            results[run.name] = run.fn(*run.args, **run.kwargs)
            if on_done is not None:
                on_done(run.name, results[run.name])
        return SweepResult(results, {})
    return _run_on_ray(runs, ray, on_done)


def import_ray() -> Any:
    """The ``ray`` module, or a LatentLoopError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise LatentLoopError(f"--ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


def _check_reachable(address: str) -> None:
    """A LatentLoopError naming ``address`` unless a Ray cluster answers there. ``ray.init`` itself
    keeps retrying for minutes at an address nobody answers or where something else listens, and
    cannot be interrupted: first a socket (a few seconds), then a throwaway driver in a child
    process with a time limit."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise LatentLoopError(f"--ray {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise LatentLoopError(
            f"cannot reach the Ray cluster at {address}: {err.strerror or err} "
            "(is `ray start --head` running there, and the port open?)"
        ) from None
    probe = "import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False); ray.shutdown()"
    try:
        done = subprocess.run(
            [sys.executable, "-c", probe, address], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise LatentLoopError(
            f"no Ray cluster answers at {address} within {PROBE_TIMEOUT_S:g} s "
            "(something listens there: is it the head's port, the one `ray start --head` printed?)"
        ) from None
    if "InvalidAuthToken" in done.stderr:  # `ray start --head` turns token authentication on
        raise LatentLoopError(
            f"the Ray cluster at {address} wants its token: set RAY_AUTH_MODE=token and give this machine the "
            "head's token (its ~/.ray/auth_token, or RAY_AUTH_TOKEN); docs/scale.md"
        )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise LatentLoopError(f"cannot connect to the Ray cluster at {address}: {last}")


def check_ray(address: str) -> Any:
    """The ``ray`` module, once ``--ray address`` is usable: Ray installed, and a Ray cluster
    answering at HOST:PORT (checked once per address and process). A LatentLoopError naming what is
    missing otherwise; the commands call it before they load any data."""
    ray = import_ray()
    if address != "auto" and address not in _CHECKED:
        _check_reachable(address)
        _CHECKED.add(address)
    return ray


def connect(address: str) -> tuple[Any, bool]:
    """``(ray, started)``: Ray connected to ``address`` ("auto" or HOST:PORT); ``started`` when this
    call initialised it (an already initialised Ray, e.g. a test's, is used as it is)."""
    ray = check_ray(address)
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=None if address == "auto" else address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise LatentLoopError(f"cannot connect to the Ray cluster at {address}: {err}") from None
    return ray, True


def _reason(err: BaseException) -> str:
    """One line on why a task failed: the run's own exception, or what happened to its worker."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}".splitlines()[0]
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__} (tried twice){': ' + first if first else ''}"


def _run_on_ray(runs: list[Run], address: str, on_done: Callable[[str, Any], None] | None) -> SweepResult:
    ray, started = connect(address)
    try:
        remote: dict[Callable[..., Any], Any] = {}
        pending = {}
        for run in runs:
            fn = remote.setdefault(run.fn, ray.remote(run.fn))
            task = fn.options(name=run.name, num_cpus=run.num_cpus, num_gpus=run.num_gpus, max_retries=1)
            pending[task.remote(*run.args, **run.kwargs)] = run.name
        done: dict[str, Any] = {}
        failed: dict[str, str] = {}
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            name = pending.pop(ready[0])
            try:
                done[name] = ray.get(ready[0])
            except ray.exceptions.RayError as err:  # the run raised, or its worker died twice
                failed[name] = _reason(err)
                continue
            if on_done is not None:
                on_done(name, done[name])
        order = [r.name for r in runs]
        return SweepResult({n: done[n] for n in order if n in done}, {n: failed[n] for n in order if n in failed})
    finally:
        if started:
            ray.shutdown()
