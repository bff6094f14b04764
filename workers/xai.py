"""The XAI worker: saliency for one sample at a time from the newest trainer snapshot.

Run as a child process (``xai_main``, spawn context) by the WorkerSupervisor. It never touches
the trainer's memory: weights come from ``artifacts/snapshots/<run>/step_<N>/`` (checkpoint
format) and every result carries the snapshot step it used. It protects training: it runs
niced, with one thread, inside a CPU budget (milliseconds of work per minute), and drops
requests that a newer one has superseded (the user moved on).
"""

from __future__ import annotations

import collections
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis.saliency import explain
from engine.images import overlay_png, png_b64
from workers.child import ChildIO, limit_child
from workers.messages import WorkerError, XaiRequest, XaiResult, from_dict, to_dict
from workers.saliency import agreement, focus_bbox


def newest_snapshot(root: Path) -> Path | None:
    """The newest complete ``step_*`` directory in ``root`` (one run's directory) or one level
    below it (``artifacts/snapshots``: any run)."""
    best: tuple[int, float, Path] | None = None
    found = [*root.glob("step_*"), *root.glob("*/step_*")] if root.exists() else []
    for p in found:
        if not (p / "meta.json").is_file():
            continue
        try:
            key = (int(p.name.split("_", 1)[1]), p.stat().st_mtime, p)
        except (ValueError, OSError):
            continue
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


class XaiEngine:
    """Loads snapshots through the backend protocol and answers requests (in-process core)."""

    def __init__(self, dataset: Any, snapshot_root: Path, cache_size: int = 256) -> None:
        self.ds = dataset
        self.root = Path(snapshot_root)
        self.backend: Any = None
        self.snapshot: Path | None = None
        self.step = -1
        self._cache: collections.OrderedDict[tuple, XaiResult] = collections.OrderedDict()
        self._cache_size = cache_size

    def refresh(self) -> bool:
        """Load the newest snapshot if it changed; True when weights are available. CheckpointError
        when that snapshot reads images of another shape than the dataset's."""
        from engine.backends.registry import create_backend
        from engine.config import ModelConfig
        from engine.errors import CheckpointError
        from engine.stores.checkpoints import read_checkpoint_dir
        from engine.training.checkpoints import served_weights, shape_mismatch

        path = newest_snapshot(self.root)
        if path is None or path == self.snapshot:
            return self.backend is not None
        try:
            ck = read_checkpoint_dir(path)
        except CheckpointError:
            return self.backend is not None  # pruned or half-written: keep the weights we have
        model = ModelConfig.model_validate(ck.meta["model"])
        wrong_shape = shape_mismatch(f"snapshot {path}", ck.meta, self.ds.name, self.ds.image_shape)
        if wrong_shape:  # a run on another dataset's images: never read these
            raise CheckpointError(wrong_shape)
        name = ck.meta.get("backend", "torch")
        if self.backend is None or self.backend.name != name or self.backend.cfg != model:
            self.backend = create_backend(name, model)
        self.backend.set_weights(served_weights(ck.weights, ck.state, ck.meta))  # the model the page reports
        self.snapshot, self.step = path, int(ck.meta.get("step", 0))
        return True

    def answer(self, req: XaiRequest) -> XaiResult:
        from engine.backends.base import Out

        if not self.refresh():
            raise RuntimeError("no model snapshot yet")
        idx = int(req.sample_idx)
        if not 0 <= idx < len(self.ds.images):
            raise ValueError(f"sample {idx} out of range")
        x = self.ds.float_images(np.array([idx]))
        probs = self.backend.predict(x)[Out.PROBS][0]
        if req.target == "pred":
            target, kind = int(probs.argmax()), "pred"
        elif req.target == "true":
            target, kind = int(self.ds.targets[idx]), "true"
            if target < 0:  # unknown targets (an import without classes)
                raise ValueError(
                    f"sample {idx} has no true class in this dataset: explain the predicted class or a class"
                )
        else:
            target, kind = int(req.target), "class"
        if not 0 <= target < len(probs):
            raise ValueError(f"target class {target} out of range")
        methods = tuple(req.methods)
        key = (idx, self.step, methods, target, req.smoothgrad_samples, req.smoothgrad_noise)
        if key in self._cache:
            self._cache.move_to_end(key)
            hit = self._cache[key]
            # the same class may be asked for as "pred", "true" or by number: report how it was asked
            return XaiResult(
                **{**hit.__dict__, "request_id": req.request_id, "ms": 0.0, "cached": True, "target_kind": kind}
            )
        t0 = time.perf_counter()
        maps = explain(
            self.backend, x[0], target, methods, samples=req.smoothgrad_samples, noise=req.smoothgrad_noise, seed=idx
        )
        agree = agreement(maps["gradcam"], maps["smoothgrad"]) if "consensus" in maps else {}
        shown = maps.get("consensus", next(iter(maps.values())))
        box = focus_bbox(shown)
        png = overlay_png(self.ds.images[idx], shown, box)
        top = np.argsort(-probs)[:3]
        result = XaiResult(
            request_id=req.request_id,
            sample_idx=idx,
            snapshot_step=self.step,
            target=target,
            target_kind=kind,
            top_k=[{"class": int(c), "p": float(probs[c])} for c in top],
            # SmoothGrad stands in for a Grad-CAM the model cannot give (dense encoder): always sent then
            maps={
                k: np.round(v, 4).tolist()
                for k, v in maps.items()
                if k in methods or k == "consensus" or (k == "smoothgrad" and "gradcam" not in maps)
            },
            agreement=agree,
            focus_bbox=box,
            overlay_png_b64=png_b64(png),
            ms=round((time.perf_counter() - t0) * 1000.0, 2),
        )
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result


class CpuBudget:
    """At most ``ms_per_min`` milliseconds of work in any 60-second window."""

    def __init__(self, ms_per_min: float) -> None:
        self.limit = ms_per_min
        self.spent: collections.deque[tuple[float, float]] = collections.deque()

    def used(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        while self.spent and now - self.spent[0][0] > 60.0:
            self.spent.popleft()
        return sum(ms for _, ms in self.spent)

    def wait_s(self) -> float:
        """Seconds until there is budget again (0 when there is)."""
        now = time.monotonic()
        if self.used(now) < self.limit or not self.spent:
            return 0.0
        return max(0.0, 60.0 - (now - self.spent[0][0]))

    def charge(self, ms: float) -> None:
        self.spent.append((time.monotonic(), ms))


def xai_main(
    io: ChildIO,
    *,
    home: str,
    dataset: str,
    snapshot_root: str,
    nice: int = 10,
    budget_ms_per_min: float = 20000.0,
    threads: int = 1,
    data_root: str | None = None,
) -> None:
    """Child-process entry point (spawn): answers the newest request, within the CPU budget."""
    os.environ["LATENTLOOP_HOME"] = home
    limit_child(nice, threads)
    from engine.datasets import load_dataset

    engine = XaiEngine(load_dataset(dataset, root=data_root), Path(snapshot_root))
    budget = CpuBudget(budget_ms_per_min)
    io.ready("xai")

    def report(message: str, req_id: int | None = None) -> None:
        io.put(to_dict(WorkerError("xai", message, req_id)))

    for first in io.requests(0.25, report):
        raw, pause = first, budget.wait_s()
        while pause > 0 and not io.stop_event.is_set():
            time.sleep(min(pause, 0.25))
            raw = io.newer(raw, report)  # keep dropping superseded requests while we wait
            pause = budget.wait_s()
        req_id = raw.get("request_id") if isinstance(raw, dict) else None
        try:
            req = from_dict(raw)
            if not isinstance(req, XaiRequest):
                raise ValueError(f"expected an xai_request, got {raw.get('type')!r}")
            result = engine.answer(req)
            budget.charge(result.ms)
            io.put(to_dict(result))
        except Exception as err:  # a bad request must not kill the worker
            report(f"{type(err).__name__}: {err}", req_id)
