"""PCA vs UMAP for the latent map: time, neighbourhood preservation, class separation, GIL stalls.

The latent means of the map rows (the 60,000 MNIST training images) come from, in this order:

1. ``--embeddings FILE.npz`` with arrays ``mu [N, D]`` and ``targets [N]``;
2. the checkpoint ``artifacts/checkpoints/<--checkpoint>.ckpt`` (default: the default config's
   ``train.checkpoint``) if it exists, loaded weights only;
3. otherwise a model trained for ``--steps`` steps (default 3000) with the default config
   (``configs`` defaults, the dataset's current labels) in this process.

Methods, side by side in one run on the same means (``--methods``):

- ``pca``: the dashboard's PCA map (``engine.analysis.projection.Projector``);
- ``umap``: the dashboard's UMAP (``UmapParams()``: fitted on every row up to 100,000);
- ``umap-subsample``: fitted on a 20,000-row subsample, the other rows placed by ``transform`` (the
  way bigger maps are made; on 60,000 MNIST rows it was slower and worse than the full fit).

Per method: wall seconds (the methods run in ABBA order and the faster of each method's two runs
is reported, both kept; the UMAP numba kernels are compiled first, on 2,000 rows, and that warm-up
is reported apart), ``knn_preservation`` (for a fixed random set of ``--queries``
points, the mean fraction of each one's 10 nearest neighbours among all rows in the latent space
that are also among its 10 nearest in 2-D) and ``silhouette`` (sklearn's silhouette score of the
true classes in 2-D on a fixed random subset of ``--silhouette-rows`` rows; the same score in the
latent space is reported for reference).

``gil``: how long UMAP stops the other threads of the process that runs it. A ticker thread sleeps
1 ms in a loop and records how late it wakes up, (a) while ``umap_embed`` runs on a thread of this
process and (b) while ``ProjectionService`` computes the same map in its child process (the
dashboard's design). Reported: p99 and max of the lateness in milliseconds.

    .venv/bin/python benchmarks/bench_projection.py            # MNIST -> docs/benchmarks/projection.json
    .venv/bin/python benchmarks/bench_projection.py --embeddings FILE.npz --methods pca umap
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import write_result

METHODS = ("pca", "umap", "umap-subsample")
K = 10


def load_means(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    """(mu of the map rows, their true classes, where they came from)."""
    if args.embeddings is not None:
        with np.load(args.embeddings, allow_pickle=False) as z:
            return np.asarray(z["mu"], np.float32), np.asarray(z["targets"]), f"embeddings {args.embeddings}"
    from engine.backends.base import Out
    from engine.stores.checkpoints import CheckpointStore
    from engine.workspace import make_trainer, open_workspace, predict_all

    overrides = {"data.name": args.dataset, "train.checkpoint": args.checkpoint}
    ws = open_workspace(None, overrides)
    name = ws.cfg.train.checkpoint
    rows = np.arange(ws.dataset.n_train)
    if CheckpointStore().exists(name):
        trainer = make_trainer(ws, resume=True, weights_only=True)
        source = f"checkpoint {name}"
    else:
        trainer = make_trainer(ws)
        trainer.run(steps=args.steps)
        source = f"default config trained {args.steps} steps (no checkpoint {name!r})"
    mu = predict_all(trainer, rows)[Out.MU]
    return np.asarray(mu, np.float32), ws.dataset.targets[rows], source


def knn_preservation(mu: np.ndarray, xy: np.ndarray, queries: np.ndarray, k: int = K) -> float:
    """Mean fraction of each query's k nearest neighbours in ``mu`` that are among its k nearest in ``xy``."""
    from sklearn.neighbors import NearestNeighbors

    def neighbours(x: np.ndarray) -> list[set[int]]:
        idx = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x[queries], return_distance=False)
        return [set([int(j) for j in row if j != q][:k]) for q, row in zip(queries, idx, strict=True)]

    hi, lo = neighbours(mu), neighbours(xy)
    return float(np.mean([len(a & b) / k for a, b in zip(hi, lo, strict=True)]))


def silhouette(x: np.ndarray, targets: np.ndarray, rows: np.ndarray) -> float:
    from sklearn.metrics import silhouette_score

    return float(silhouette_score(x[rows], targets[rows]))


def run_method(name: str, mu: np.ndarray, seed: int) -> np.ndarray:
    from engine.analysis.projection import Projector, UmapParams, umap_embed

    if name == "pca":
        return Projector(seed=seed).fit_transform(mu)
    params = UmapParams(seed=seed) if name == "umap" else UmapParams(seed=seed, max_fit_rows=20_000)
    return umap_embed(mu, params)


def lateness_ms(work: Callable[[], Any]) -> dict[str, float]:
    """p99 and max of how late a 1 ms sleep loop wakes up while ``work()`` runs on another thread."""
    late: list[float] = []
    done = threading.Event()

    def target() -> None:
        try:
            work()
        finally:
            done.set()

    threading.Thread(target=target, daemon=True).start()
    while not done.is_set():
        t0 = time.perf_counter()
        time.sleep(0.001)
        late.append((time.perf_counter() - t0 - 0.001) * 1e3)
    a = np.asarray(late)
    return {"p99_ms": round(float(np.percentile(a, 99)), 1), "max_ms": round(float(a.max()), 1), "ticks": len(a)}


def gil_stalls(mu: np.ndarray, seed: int) -> dict[str, Any]:
    from app.services.projection import ProjectionService
    from engine.analysis.projection import UmapParams, umap_embed

    params = UmapParams(seed=seed)
    out: dict[str, Any] = {"thread": lateness_ms(lambda: umap_embed(mu, params))}
    with tempfile.TemporaryDirectory() as tmp:
        svc = ProjectionService(Path(tmp) / "app.json", params=params)
        svc.set_choice("umap")

        def child() -> None:
            svc.submit(1, mu)
            while svc.status()["state"] == "computing":
                time.sleep(0.05)
            if svc.status()["state"] != "ready":
                raise RuntimeError(svc.status()["message"])

        out["child_process"] = lateness_ms(child)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embeddings", type=Path, default=None, help="an .npz with mu [N, D] and targets [N]")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--checkpoint", default=None, help="checkpoint name (default: the config's train.checkpoint)")
    ap.add_argument("--steps", type=int, default=3000, help="training steps when there is no checkpoint")
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--queries", type=int, default=5000, help="query points of the kNN preservation")
    ap.add_argument("--silhouette-rows", type=int, default=10_000)
    ap.add_argument("--no-gil", action="store_true", help="skip the GIL stall measurement")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--name", default="projection", help="result file docs/benchmarks/<name>.json")
    args = ap.parse_args()

    mu, targets, source = load_means(args)
    n = len(mu)
    rng = np.random.default_rng(args.seed)
    queries = np.sort(rng.choice(n, min(args.queries, n), replace=False))
    sil_rows = np.sort(rng.choice(n, min(args.silhouette_rows, n), replace=False))
    result: dict[str, Any] = {
        "what": "PCA vs UMAP maps of the latent means: seconds, 10-NN preservation, class silhouette in 2-D, "
        "and the lateness of a 1 ms ticker thread while UMAP runs in-process (thread) vs in the dashboard's child",
        "command": " ".join(["benchmarks/bench_projection.py", *sys.argv[1:]]),
        "source": source,
        "rows": n,
        "dims": int(mu.shape[1]),
        "k": K,
        "queries": len(queries),
        "silhouette_rows": len(sil_rows),
        "latent_silhouette": round(silhouette(mu, targets, sil_rows), 4),
        "methods": {},
    }
    if any(m.startswith("umap") for m in args.methods):
        from engine.analysis.projection import UmapParams, umap_embed

        t0 = time.perf_counter()
        umap_embed(mu[:2000], UmapParams(seed=args.seed, max_fit_rows=1000))  # compiles the numba kernels
        result["umap_warmup_s"] = round(time.perf_counter() - t0, 2)
    # ABBA: the first large UMAP call of a process still compiles kernels the warm-up did not reach
    # (measured: 67 s then 18 s for the same call), so every method runs in both positions and the
    # faster of its runs is reported (all runs are kept)
    order = list(args.methods) + list(reversed(args.methods))
    runs: dict[str, list[float]] = {name: [] for name in args.methods}
    for name in order:
        t0 = time.perf_counter()
        xy = run_method(name, mu, args.seed)
        runs[name].append(round(time.perf_counter() - t0, 3))
        if name in result["methods"]:
            continue  # seeded: the same map again
        result["methods"][name] = {
            "knn_preservation": round(knn_preservation(mu, xy, queries), 4),
            "silhouette": round(silhouette(xy, targets, sil_rows), 4),
        }
    for name in args.methods:
        result["methods"][name].update(seconds=min(runs[name]), runs_seconds=runs[name])
        print(name, result["methods"][name], flush=True)
    result["order"] = order
    if "umap" in args.methods and not args.no_gil:
        result["gil"] = gil_stalls(mu, args.seed)
    write_result(args.name, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
