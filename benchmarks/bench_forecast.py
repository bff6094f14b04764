"""Forecast quality: precision@k of "likely wrong at the next refresh" rankings over an MNIST run.

    .venv/bin/python benchmarks/bench_forecast.py [--steps 3000 --every 250 --pool 0 --seed 2]
    .venv/bin/python benchmarks/bench_forecast.py --dump DIR ...   # also keep every refresh's arrays
    .venv/bin/python benchmarks/bench_forecast.py --fit DIR        # refit workers.forecast.RISK_WEIGHTS
    .venv/bin/python benchmarks/bench_forecast.py --cv DIR DIR DIR # leave-one-run-out, several seeds

Trains the default model (configs/default.yaml) with 10 oracle labels per class (100) in a
temporary label store. Every ``--every`` steps it predicts a fixed pool (all labelled samples plus
``--pool`` random unlabelled training images; the whole train split with ``--pool 0``) and ranks the
unlabelled pool four ways: workers.forecast.Forecaster (risk), plain entropy and margin
(engine.analysis.acquisition) and random. At the next refresh, precision@10 and @100 of each ranking
is the fraction of its top-k that the model then misclassifies (true targets: known here only).
It also records when the review window opens, both at this cadence and at the dashboard's (a
refresh every 500 steps: see docs/forecast.md). Writes docs/benchmarks/forecast.json.

``--cv DIR...`` takes the dumps of several runs (seeds) and, for each run, fits the logistic
combination on the *other* runs and scores it on this one, next to plain entropy and the shipped
RISK_WEIGHTS: precision@k per run, their mean and sd, and the ratio to entropy. It writes
docs/benchmarks/forecast-cv.json.

``--fit DIR`` reads refreshes dumped by ``--dump`` and fits the logistic weights by Newton's method
(IRLS, small L2) on all (refresh t, sample) pairs with positives = misclassified at t+1; it prints
the weights and the per-feature precisions that justify them (it trains nothing).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from benchmarks.common import write_result
from engine.analysis.acquisition import entropy, margin, random_scores
from engine.reports.curves import mean_sd
from workers.forecast import FEATURES, FIT_FEATURES, RISK_WEIGHTS, Forecaster

KS = (10, 100, 1000)
CAL_BINS = (0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 1.0001)
DASHBOARD_EVERY = 500  # the dashboard refreshes at the end of every run of the panel's default 500 steps


# -- the run ------------------------------------------------------------------------------------------


def refreshes(steps: int, every: int, pool_n: int, seed: int, eval_limit: int) -> Iterator[dict[str, Any]]:
    """Train and yield one dict per refresh (step 0 included) over a fixed pool of samples."""
    from engine.backends.base import Out
    from engine.config import load_config
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import LabelStore
    from engine.training.trainer import Trainer

    root = Path(__file__).resolve().parent.parent
    cfg = load_config(
        root / "configs" / "default.yaml", {"seed": seed, "train.eval_every": 10**9, "train.eval_limit": eval_limit}
    )
    ds = load_dataset("mnist")
    tmp = Path(tempfile.mkdtemp(prefix="bench_forecast_"))
    store = LabelStore(tmp / "labels.csv", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 10, seed), source="bench")
    trainer = Trainer(cfg, ds, store)
    labels_all = store.read()
    lab = np.flatnonzero(labels_all >= 0)
    unl = np.flatnonzero(labels_all < 0)
    rng = np.random.default_rng(1000 + seed)
    pick = unl if not pool_n or pool_n >= len(unl) else np.sort(rng.choice(unl, pool_n, replace=False))
    pool = np.concatenate([lab, pick])
    x = ds.float_images(pool)
    while True:
        t0 = time.perf_counter()
        out = trainer.backend.predict(x)
        acc = trainer.evaluate().test_acc if trainer.step else float("nan")
        yield {
            "step": trainer.step,
            "probs": out[Out.PROBS],
            "mu": out[Out.MU],
            "tau_pred": trainer.tau.predict_hard(out[Out.RESP]),
            "labels": labels_all[pool],
            "targets": ds.targets[pool],
            "test_acc": acc,
            "pool": pool,
            "predict_s": time.perf_counter() - t0,
        }
        if trainer.step >= steps:
            return
        trainer.run(steps=min(steps, trainer.step + every))


# -- metrics --------------------------------------------------------------------------------------------


def precision_at(scores: np.ndarray, wrong_next: np.ndarray, k: int) -> float:
    top = np.argsort(-scores, kind="stable")[:k]
    return float(wrong_next[top].mean())


def rankings(fc: Forecaster, r: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Scores over the unlabelled part of the pool, higher = ranked first."""
    unl = r["labels"] < 0
    return {
        "forecast": fc.score[unl],
        "entropy": entropy(r["probs"][unl]),
        "margin": margin(r["probs"][unl]),
        "random": random_scores(int(unl.sum()), rng),
    }


def evaluate_run(stream: Iterator[dict[str, Any]], dump: Path | None) -> dict[str, Any]:
    fc = Forecaster()
    fc_dash = Forecaster()  # fed only the refreshes the dashboard would make
    rng = np.random.default_rng(0)
    prev: dict[str, Any] | None = None
    prev_scores: dict[str, np.ndarray] | None = None
    rows: list[dict[str, Any]] = []
    opened = {"bench": None, "dashboard": None}
    calib: list[tuple[np.ndarray, np.ndarray]] = []
    prev_risk = np.zeros(0)
    t_start = time.perf_counter()
    for r in stream:
        res = fc.update(
            r["probs"], r["labels"], r["tau_pred"], r["mu"], version=r["step"], step=r["step"], test_acc=r["test_acc"]
        )
        if res.window_open and opened["bench"] is None:
            opened["bench"] = r["step"]
        dash = None
        if r["step"] % DASHBOARD_EVERY == 0:
            dres = fc_dash.update(
                r["probs"],
                r["labels"],
                r["tau_pred"],
                r["mu"],
                version=r["step"],
                step=r["step"],
                test_acc=r["test_acc"],
            )
            dash = {"window_open": dres.window_open, "reason": dres.reason}
            if dres.window_open and opened["dashboard"] is None:
                opened["dashboard"] = r["step"]
        unl = r["labels"] < 0
        wrong_now = (r["probs"].argmax(1) != r["targets"])[unl]
        test_acc = None if np.isnan(r["test_acc"]) else round(r["test_acc"], 4)
        row: dict[str, Any] = {
            "step": r["step"],
            "test_acc": test_acc,
            "pool_error_rate": round(float(wrong_now.mean()), 4),
            "window_open": res.window_open,
            "reason": res.reason,
            "gates": {k: v["value"] for k, v in res.gates.items()},
            "top3": [c["why"] for c in res.candidates[:3]],
            "predict_s": round(r["predict_s"], 1),
        }
        if dash is not None:
            row["dashboard_cadence"] = dash
        if prev is not None and prev_scores is not None:
            wrong_next = wrong_now
            row["precision_of_previous_ranking"] = {
                name: {f"p@{k}": precision_at(s, wrong_next, k) for k in KS} for name, s in prev_scores.items()
            }
            row["previous_window_open"] = prev["window_open"]
            calib.append((prev_risk, wrong_next))
        rows.append(row)
        if dump is not None:
            dump.mkdir(parents=True, exist_ok=True)
            np.savez(
                dump / f"step_{r['step']:06d}.npz",
                probs=r["probs"].astype(np.float16),
                mu=r["mu"].astype(np.float16),
                tau_pred=r["tau_pred"].astype(np.int16),
                labels=r["labels"],
                targets=r["targets"],
                step=r["step"],
                test_acc=r["test_acc"],
            )
        prev = {"window_open": res.window_open}
        # rank only from refreshes the forecaster keeps (before min_steps nothing is recommended)
        prev_scores = rankings(fc, r, rng) if r["step"] >= fc.gates.min_steps else None
        prev_risk = fc.risk[r["labels"] < 0]
        print(
            json.dumps(
                {k: row[k] for k in ("step", "test_acc", "pool_error_rate", "window_open", "reason")}
                | {"p": row.get("precision_of_previous_ranking"), "t": round(time.perf_counter() - t_start)}
            ),
            flush=True,
        )
    return {"rows": rows, "opened": opened, "calibration": calibration(calib)}


def calibration(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[dict[str, Any]]:
    """Reported risk at t vs the observed rate of misclassification at t+1, per risk bin."""
    if not pairs:
        return []
    risk = np.concatenate([p[0] for p in pairs])
    wrong = np.concatenate([p[1] for p in pairs])
    out = []
    for lo, hi in itertools.pairwise((0.0, 0.1, 0.3, 0.5, 0.6, 1.0)):
        sel = (risk >= lo) & (risk < hi)
        if sel.any():
            out.append(
                {
                    "risk_bin": [lo, hi],
                    "n": int(sel.sum()),
                    "mean_risk": round(float(risk[sel].mean()), 3),
                    "observed": round(float(wrong[sel].mean()), 3),
                }
            )
    return out


def summarise(rows: list[dict[str, Any]], only_open: bool) -> dict[str, Any]:
    use = [r for r in rows if "precision_of_previous_ranking" in r and (r["previous_window_open"] or not only_open)]
    if not use:
        return {"pairs": 0}
    out: dict[str, Any] = {"pairs": len(use)}
    for name in use[0]["precision_of_previous_ranking"]:
        for k in (f"p@{k}" for k in KS):
            vals = [r["precision_of_previous_ranking"][name][k] for r in use]
            out[f"{name}_{k}"] = round(float(np.mean(vals)), 3)
    prec = [r["precision_of_previous_ranking"] for r in use]
    for k in (f"p@{k}" for k in KS):  # paired: the same refresh, forecast minus entropy
        d = np.array([p["forecast"][k] - p["entropy"][k] for p in prec])
        out[f"forecast_minus_entropy_{k}"] = {
            "mean": round(float(d.mean()), 3),
            "wins": int((d > 0).sum()),
            "ties": int((d == 0).sum()),
            "losses": int((d < 0).sum()),
        }
    out["error_rate_next"] = round(float(np.mean([r["pool_error_rate"] for r in use])), 4)
    return out


# -- fitting the combination (from a --dump directory) ------------------------------------------------


def _load_dump(d: Path) -> list[dict[str, Any]]:
    out = []
    for p in sorted(d.glob("step_*.npz")):
        with np.load(p) as z:
            out.append({k: z[k] for k in z.files})
    return out


def dataset_from_dump(d: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per refresh pair (t, t+1): all FEATURES [n, F] at t over the unlabelled samples, and whether
    each is misclassified at t+1. Pairs start at the first refresh the forecaster keeps."""
    fc = Forecaster()
    xs, ys = [], []
    prev = None
    for r in _load_dump(d):
        step = int(r["step"])
        labels = r["labels"].astype(np.int64)
        unl = labels < 0
        if prev is not None:
            xs.append(prev)
            ys.append((r["probs"].astype(np.float32).argmax(1) != r["targets"])[unl])
        fc.update(r["probs"], labels, r["tau_pred"], r["mu"], version=step, step=step)
        f = fc.last_features
        prev = np.stack([f[n][unl] for n in FEATURES], 1) if step >= fc.gates.min_steps else None
    return xs, ys


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, iters: int = 25) -> np.ndarray:
    """Newton/IRLS for logistic regression with a bias column; returns [bias, w...]."""
    a = np.hstack([np.ones((len(x), 1)), x]).astype(np.float64)
    w = np.zeros(a.shape[1])
    reg = l2 * len(x) * np.eye(a.shape[1])
    reg[0, 0] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(a @ w)))
        g = a.T @ (p - y) + reg @ w
        h = (a * (p * (1 - p))[:, None]).T @ a + reg
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def _mean_precision(scores: list[np.ndarray], ys: list[np.ndarray]) -> dict[str, float]:
    pairs = list(zip(scores, ys, strict=True))
    return {f"p@{k}": round(float(np.mean([precision_at(s, y, k) for s, y in pairs])), 3) for k in KS}


def fit_main(d: Path, validate: list[Path]) -> None:
    """Fit FIT_FEATURES (and, for comparison, all FEATURES) on run ``d``; report precision@k of every
    single feature, the fits and the current RISK_WEIGHTS on ``d`` and on each ``validate`` run."""
    runs = {str(d): dataset_from_dump(d)}
    for v in validate:
        runs[str(v)] = dataset_from_dump(v)
    xs, ys = runs[str(d)]
    x, y = np.concatenate(xs), np.concatenate(ys).astype(np.float64)
    cols = [FEATURES.index(f) for f in FIT_FEATURES]
    w_fit = fit_logistic(x[:, cols], y)
    w_all = fit_logistic(x, y)
    print(f"fit on {d}: {len(xs)} refresh pairs, {len(y)} rows, positive rate {y.mean():.4f}")
    fitted = zip(("bias", *FIT_FEATURES), w_fit, strict=True)
    print("RISK_WEIGHTS = {" + ", ".join(f'"{n}": {v:.2f}' for n, v in fitted) + "}")
    print("all features: " + ", ".join(f"{n}={v:.2f}" for n, v in zip(("bias", *FEATURES), w_all, strict=True)))
    # calibration of the logistic output (it is over-confident at the top): observed positive rate
    # per bin of the raw risk on the fit run -> workers.forecast.RISK_CALIBRATION
    raw = 1.0 / (1.0 + np.exp(-(w_fit[0] + x[:, cols] @ w_fit[1:])))
    table = []
    for lo, hi in itertools.pairwise(CAL_BINS):
        sel = (raw >= lo) & (raw < hi)
        if sel.any():
            table.append((round(float(raw[sel].mean()), 3), round(float(y[sel].mean()), 3)))
    print("RISK_CALIBRATION = ((0.0, 0.0), " + ", ".join(f"({a}, {b})" for a, b in table) + f", (1.0, {table[-1][1]}))")
    cur = np.array([RISK_WEIGHTS.get(n, 0.0) for n in FEATURES])
    report: dict[str, Any] = {}
    for name, (rx, ry) in runs.items():
        rep = {
            "random": round(float(np.mean([yy.mean() for yy in ry])), 3),
            "fit (FIT_FEATURES)": _mean_precision([xx[:, cols] @ w_fit[1:] for xx in rx], ry),
            "fit (all FEATURES)": _mean_precision([xx @ w_all[1:] for xx in rx], ry),
            "RISK_WEIGHTS": _mean_precision([xx @ cur for xx in rx], ry),
        }
        for i, f in enumerate(FEATURES):
            sign = -1.0 if f == "margin" else 1.0
            rep[f] = _mean_precision([sign * xx[:, i] for xx in rx], ry)
        ent = FEATURES.index("entropy")
        for k in KS:  # paired per refresh: RISK_WEIGHTS minus plain entropy
            d = np.array(
                [precision_at(xx @ cur, yy, k) - precision_at(xx[:, ent], yy, k) for xx, yy in zip(rx, ry, strict=True)]
            )
            rep[f"RISK_WEIGHTS_minus_entropy_p@{k}"] = {
                "mean": round(float(d.mean()), 3),
                "wins": int((d > 0).sum()),
                "ties": int((d == 0).sum()),
                "losses": int((d < 0).sum()),
            }
        report[name] = rep
    print(json.dumps(report, indent=1))


def cv_main(dirs: list[Path]) -> None:
    """Leave-one-run-out precision@k of refitted combinations vs entropy and RISK_WEIGHTS."""
    runs = {d.name: dataset_from_dump(d) for d in dirs}
    cur = np.array([RISK_WEIGHTS.get(n, 0.0) for n in FEATURES])
    fit_cols = [FEATURES.index(f) for f in FIT_FEATURES]
    rankers = ("entropy", "RISK_WEIGHTS", "refit FIT_FEATURES", "refit all FEATURES")
    per_run: dict[str, dict[str, dict[str, float]]] = {}
    for held, (xs, ys) in runs.items():
        others = [r for name, r in runs.items() if name != held]
        x = np.concatenate([xx for r in others for xx in r[0]])
        y = np.concatenate([yy for r in others for yy in r[1]]).astype(np.float64)
        w_fit, w_all = fit_logistic(x[:, fit_cols], y), fit_logistic(x, y)
        ent = FEATURES.index("entropy")
        scores = {
            "entropy": [xx[:, ent] for xx in xs],
            "RISK_WEIGHTS": [xx @ cur for xx in xs],
            "refit FIT_FEATURES": [xx[:, fit_cols] @ w_fit[1:] for xx in xs],
            "refit all FEATURES": [xx @ w_all[1:] for xx in xs],
        }
        per_run[held] = {name: _mean_precision(s, ys) for name, s in scores.items()}
        print(held, json.dumps(per_run[held]), flush=True)
    summary = {}
    for name in rankers:
        summary[name] = {}
        for k in (f"p@{k}" for k in KS):
            vals = [per_run[r][name][k] for r in runs]
            base = [per_run[r]["entropy"][k] for r in runs]
            summary[name][k] = {
                **mean_sd(vals),
                "ratio_to_entropy": round(float(np.mean(vals)) / max(float(np.mean(base)), 1e-9), 3),
            }
    write_result(
        "forecast-cv",
        {
            "what": "precision@k of rankings made at refresh t, scored by misclassification at refresh t+1 "
            "(unlabelled pool, true targets); each run's refit combination is fitted on the other runs only",
            "command": "python benchmarks/bench_forecast.py --cv " + " ".join(str(d) for d in dirs),
            "dumps": "python benchmarks/bench_forecast.py --seed S --dump DIR (S = the run names' seeds)",
            "runs": list(runs),
            "per_run": per_run,
            "summary": summary,
        },
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--pool", type=int, default=0, help="random unlabelled train images ranked (0 = all 59,900)")
    ap.add_argument(
        "--seed", type=int, default=2, help="run seed (RISK_WEIGHTS were fitted on seed 0 and checked on seed 1)"
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (on a busy 2-core machine 2 threads ran ~20x slower than 1)",
    )
    ap.add_argument("--eval-limit", type=int, default=2000, help="test images for the accuracy gate")
    ap.add_argument("--dump", type=Path, default=None, help="also save every refresh's arrays here")
    ap.add_argument("--fit", type=Path, default=None, help="fit RISK_WEIGHTS from a --dump directory and exit")
    ap.add_argument("--validate", type=Path, nargs="*", default=[], help="with --fit: other --dump directories")
    ap.add_argument("--cv", type=Path, nargs="+", default=None, help="leave-one-run-out over these --dump directories")
    args = ap.parse_args()
    if args.cv is not None:
        cv_main(args.cv)
        return
    if args.fit is not None:
        fit_main(args.fit, args.validate)
        return
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    run = evaluate_run(refreshes(args.steps, args.every, args.pool, args.seed, args.eval_limit), args.dump)
    rows = run["rows"]
    write_result(
        "forecast",
        {
            "what": "precision@k of rankings made at refresh t, scored by misclassification at refresh t+1 "
            "(unlabelled pool, true targets); forecast = workers.forecast.Forecaster risk",
            "command": "python benchmarks/bench_forecast.py " + " ".join(sys.argv[1:]),
            "config": "configs/default.yaml, 100 oracle labels (10/class)",
            "risk_weights": RISK_WEIGHTS,
            "steps": args.steps,
            "every": args.every,
            "pool_unlabelled": args.pool or "all",
            "seed": args.seed,
            "summary_all_pairs": summarise(rows, only_open=False),
            "summary_window_open": summarise(rows, only_open=True),
            "window_opened_at_step": run["opened"]["bench"],
            "window_opened_at_step_dashboard_cadence": run["opened"]["dashboard"],
            "dashboard_cadence_every": DASHBOARD_EVERY,
            "risk_calibration": run["calibration"],
            "seconds": round(time.perf_counter() - t0, 1),
            "refreshes": rows,
        },
    )


if __name__ == "__main__":
    main()
