"""Does the label-issue ranking find planted labelling mistakes? (docs/label-issues.md)

MNIST, 200 oracle labels (20 per class, seed s). A known fraction of them (5, 10, 20%) is flipped to
a wrong class, in two ways: ``random`` (any other class) and ``confusable`` (4<->9, 3<->5, 7<->1,
drawn from the labels of those six classes). The model trains on the noisy labels (the same
config and steps for every run), then three rankers order the 200 labelled samples, in the same run
on the same model:

- ``tau_loo``: LatentLoop's: leave-one-out tau probabilities, ranked by cleanlab's label quality
  score (engine.analysis.label_issues);
- ``logreg_cv``: cleanlab's standard recipe: 5-fold cross-validated logistic regression on the
  latent means, ranked by the same score;
- ``random``: a random order (the floor).

Reported per ranker: recall and precision at k = the number flipped (equal at that k), and the
precision and recall of cleanlab's flagged set (find_label_issues). Test accuracy of the noisy
model is kept for context. Three seeds; mean and sd over them.

    .venv/bin/python benchmarks/bench_label_issues.py --dump DIR     # train 18 runs -> label-issues.json
    .venv/bin/python benchmarks/bench_label_issues.py --rescore DIR/*.npz   # score saved runs again

Each run's model outputs are saved (``--dump``), so runs made by several processes (e.g. one per
seed) are joined, and a ranker changed, by ``--rescore`` without training again. With ``--ray
auto|ADDRESS`` each run is a Ray task (docs/scale.md) that sends its outputs back into ``--dump``;
a run that fails twice is named under ``failed`` in the JSON, the others are kept.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import run_main, write_result
from engine.analysis.label_issues import NeighbourhoodIndex, score_labels
from engine.backends.base import Out
from engine.config import load_config
from engine.datasets import Dataset, load_dataset, oracle_labels
from engine.reports.curves import mean_sd
from engine.stores.labels import LabelStore
from engine.sweep import RAY_HELP, Run, check_ray, run_sweep
from engine.training.tau import TauClassifier
from engine.training.trainer import Trainer

CONFUSABLE = {4: 9, 9: 4, 3: 5, 5: 3, 7: 1, 1: 7}
RANKERS = ("neighbourhood", "tau_loo", "logreg_cv", "random")
EARLY_STEPS = (500, 1000)


def plant_flips(labels: dict[int, int], kind: str, fraction: float, seed: int, num_classes: int) -> dict[int, int]:
    """``{serial: wrong label}`` for round(fraction * len(labels)) of the labelled samples."""
    rng = np.random.default_rng(10_000 + seed)
    serials = np.array(sorted(labels))
    if kind == "confusable":
        serials = np.array([s for s in serials if labels[s] in CONFUSABLE])
    m = round(fraction * len(labels))
    if m > len(serials):
        raise ValueError(f"cannot flip {m} labels: only {len(serials)} are eligible")
    chosen = rng.choice(serials, m, replace=False)
    flips = {}
    for raw in chosen:
        s = int(raw)
        if kind == "confusable":
            flips[s] = CONFUSABLE[labels[s]]
        else:
            others = [c for c in range(num_classes) if c != labels[s]]
            flips[s] = int(rng.choice(others))
    return flips


def rank_scores(
    order: np.ndarray, flipped: np.ndarray, flagged: np.ndarray | None, suspicious: np.ndarray | None = None
) -> dict[str, float]:
    """``order``: positions into the labelled arrays, most suspicious first; the rest bool masks:
    the planted flips, cleanlab's flagged set and the queue's suspicious set."""
    k = int(flipped.sum())
    out = {"recall_at_k": float(flipped[order[:k]].sum() / k)}
    for name, sel in (("flagged", flagged), ("suspicious", suspicious)):
        if sel is not None:
            n = int(sel.sum())
            out[name] = n
            out[f"{name}_precision"] = float((sel & flipped).sum() / n) if n else 0.0
            out[f"{name}_recall"] = float((sel & flipped).sum() / k)
    return out


def score(d: Any) -> dict[str, dict[str, float]]:
    """Every ranker on the same model's outputs (one saved run ``d``)."""
    serials, noisy, flipped, prior = d["serials"], d["noisy"], d["flipped"], d["prior"]
    resp, mu = d["all_resp"][serials], d["all_mu"][serials]
    n_train = len(d["all_labelled"])
    index = NeighbourhoodIndex(d["all_mu"][:n_train], d["all_resp"][:n_train])
    res = {}
    for name in RANKERS:
        if name == "random":
            order = np.random.default_rng(20_000 + int(d["seed"])).permutation(len(serials))
            res[name] = rank_scores(order, flipped, None)
            continue
        ranked = score_labels(serials, noisy, resp, mu, prior, method=name, index=index, labelled=d["all_labelled"])
        pos = {int(s): i for i, s in enumerate(serials)}
        order = np.array([pos[r.serial] for r in ranked.ranked])  # positions into the labelled arrays
        flagged = np.zeros(len(serials), bool)
        flagged[[pos[r.serial] for r in ranked.ranked if r.flagged]] = True
        suspicious = np.zeros(len(serials), bool)
        suspicious[[pos[r.serial] for r in ranked.issues()]] = True
        res[name] = rank_scores(order, flipped, flagged, suspicious)
    return res


def run_one(cfg, ds: Dataset, seed: int, kind: str, fraction: float, tmp: Path, dump: Path) -> Path:
    """Train on the noisy labels; save what the rankers need (the model's outputs) to an npz."""
    clean = oracle_labels(ds, 20, seed)
    flips = plant_flips(clean, kind, fraction, seed, ds.num_classes)
    noisy_map = {**clean, **flips}
    store = LabelStore(tmp / f"{seed}-{kind}-{fraction}" / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(noisy_map, source="bench")
    tr = Trainer(cfg, ds, store)
    serials = np.array(sorted(noisy_map))
    t0 = time.perf_counter()
    early: dict[str, np.ndarray] = {}
    for stop in EARLY_STEPS:  # the labelled samples' outputs on the way (for exploring rankers)
        if stop < cfg.train.steps:
            tr.run(steps=stop, evaluate_at_end=False)
            mid = tr.backend.predict(ds.float_images(serials))
            early[f"resp_{stop}"], early[f"mu_{stop}"] = mid[Out.RESP], mid[Out.MU]
    tr.run(steps=cfg.train.steps)
    seconds = time.perf_counter() - t0
    out = tr.backend.predict(ds.float_images(serials))
    full = tr.backend.predict(ds.float_images(np.arange(len(ds))))
    dump.mkdir(parents=True, exist_ok=True)
    path = dump / f"s{seed}-{kind}-{fraction:g}.npz"
    np.savez(
        path,
        seed=seed,
        kind=kind,
        fraction=fraction,
        serials=serials,
        noisy=np.array([noisy_map[s] for s in serials]),
        flipped=np.isin(serials, list(flips)),
        prior=TauClassifier(cfg.model, cfg.train.tau_prior).prior_counts,
        resp=out[Out.RESP],
        mu=out[Out.MU],
        test_acc=float(tr.last_eval.get("test_acc", float("nan"))),
        seconds=seconds,
        all_mu=full[Out.MU],
        all_resp=full[Out.RESP],
        all_probs=full[Out.PROBS],
        **early,
    )
    return path


_MNIST: list[Dataset] = []  # loaded once per process (a Ray worker gets this script's functions by value)


def run_case(config: str, steps: int, seed: int, kind: str, fraction: float, tmp: Path, dump: Path) -> Path:
    """:func:`run_one` on MNIST with ``config`` at ``steps`` (one run of the sweep)."""
    if not _MNIST:
        _MNIST.append(load_dataset("mnist"))
    cfg = load_config(config, {"seed": seed, "train.steps": steps, "train.eval_every": 10**9})
    return run_one(cfg, _MNIST[0], seed, kind, fraction, tmp, dump)


def case_task(config: str, steps: int, seed: int, kind: str, fraction: float) -> bytes:
    """:func:`run_case` as a Ray task: the npz's bytes, for the caller to write into ``--dump``."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_case(config, steps, seed, kind, fraction, Path(tmp), Path(tmp) / "dump").read_bytes()


def score_dump(path: Path) -> tuple[str, str, dict]:
    """(case, seed, result) of one saved run."""
    d = dict(np.load(path))
    d["all_labelled"] = np.isin(np.arange(load_dataset("mnist").n_train), d["serials"])
    seed = int(d["seed"])
    res = score(d)
    r = {
        "flipped": int(d["flipped"].sum()),
        "test_acc": round(float(d["test_acc"]), 4),
        "seconds": round(float(d["seconds"]), 1),
        **res,
    }
    return f"{d['kind']}-{float(d['fraction']):g}", str(seed), r


def summarise(results: dict[str, dict[str, dict]]) -> dict:
    """results[case][seed] -> per case and ranker: mean and sd of every measure over the seeds."""
    out = {}
    for case, per_seed in results.items():
        runs = list(per_seed.values())
        entry: dict = {"flipped": runs[0]["flipped"], "test_acc": mean_sd([r["test_acc"] for r in runs])}
        for name in RANKERS:
            keys = runs[0][name].keys()
            entry[name] = {k: mean_sd([r[name][k] for r in runs]) for k in keys}
        entry["per_seed"] = per_seed
        out[case] = entry
    return out


def write(name: str, results: dict, meta: dict) -> None:
    write_result(
        name,
        {
            "what": "recall at k = number of planted label flips among 200 oracle labels, per ranker "
            "(tau_loo: leave-one-out tau + cleanlab; logreg_cv: cleanlab's cross-validated logistic "
            "regression on the latent means; random), mean and sd over seeds",
            **meta,
            "seeds": sorted({int(s) for r in results.values() for s in r}),
            "cases": summarise(results),
        },
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-c", "--config", default="configs/default.yaml")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    ap.add_argument("--kinds", nargs="+", choices=("random", "confusable"), default=["random", "confusable"])
    ap.add_argument("--name", default="label-issues")
    ap.add_argument(
        "--dump",
        type=Path,
        default=Path(tempfile.gettempdir()) / "latentloop-label-issues",
        help="where each run's model outputs are saved (npz; default: a temporary directory)",
    )
    ap.add_argument("--rescore", nargs="+", type=Path, help="score these saved runs (npz) into --name; no training")
    ap.add_argument("--ray", metavar="auto|ADDRESS", help=RAY_HELP)
    args = ap.parse_args()
    meta = {"config": args.config, "steps": args.steps, "labels": 200}
    if args.rescore:
        paths = args.rescore
        meta["command"] = (
            "python benchmarks/bench_label_issues.py --dump DIR (here as --seeds 0 1 and --seeds 2 in two "
            "processes), then --rescore DIR/*.npz"
        )
        meta["runs"] = [p.name for p in paths]
    else:
        if args.ray:
            check_ray(args.ray)
        tmp = Path(tempfile.mkdtemp())
        cases = [(seed, kind, fraction) for seed in args.seeds for kind in args.kinds for fraction in args.fractions]
        if args.ray:  # the task sends its npz back: a cluster's worker does not share this disk
            runs = [Run(f"s{s}-{k}-{f:g}", case_task, (args.config, args.steps, s, k, f)) for s, k, f in cases]
        else:
            runs = [Run(f"s{s}-{k}-{f:g}", run_case, (args.config, args.steps, s, k, f, tmp, args.dump))
                    for s, k, f in cases]  # fmt: skip
        done: dict[str, Path] = {}

        def keep(name: str, out: Path | bytes) -> None:
            if isinstance(out, bytes):
                args.dump.mkdir(parents=True, exist_ok=True)
                (args.dump / f"{name}.npz").write_bytes(out)
                out = args.dump / f"{name}.npz"
            done[name] = out
            seed, kind, fraction = name[1:].split("-")
            print(f"seed {seed} {kind} {fraction}: {json.dumps(score_dump(out)[2])}", flush=True)

        failed = run_sweep(runs, args.ray, keep).failed
        for name, reason in failed.items():
            print(f"failed: {name}: {reason}", file=sys.stderr)
        if failed:
            meta["failed"] = failed
        paths = [done[r.name] for r in runs if r.name in done]
        meta["command"] = "python benchmarks/bench_label_issues.py " + " ".join(sys.argv[1:])
    results: dict[str, dict[str, dict]] = {}
    for path in paths:
        case, seed, r = score_dump(path)
        results.setdefault(case, {})[seed] = r
    write(args.name, results, meta)
    return 1 if meta.get("failed") else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
