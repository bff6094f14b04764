"""Probes: how well a slice of the latent space encodes a task's target, measured with scikit-learn.

Every task of the config's ``tasks:`` list is probed, whatever its weight (an auxiliary task's
probe tells how well its slice encodes the target after training shaped it). A probe reads the
task's input slice of concat(mu, q) (:func:`engine.tasks.resolve`), standardises it, and fits on
the training rows only:

- classification (target: the dataset's true class) -- multinomial logistic regression, C chosen
  among :data:`C_GRID` by stratified 5-fold cross-validated accuracy; scored by test accuracy;
- regression (target: an attribute of :mod:`engine.datasets.attributes`) -- ridge regression, alpha chosen
  among :data:`ALPHA_GRID` by 5-fold cross-validated R^2; scored by test R^2 and MAE;
- reconstruction (target: every pixel in [0, 1]) -- multi-output ridge, alpha by 5-fold
  cross-validated MSE; predictions clipped to [0, 1]; scored by test PSNR = 10 log10(1 / MSE);
  for colour images also per channel (``psnr_r``, ``psnr_g``, ``psnr_b``; ``psnr`` is then that
  of the MSE over all three channels, the mean of theirs).

Head ``mlp`` swaps in MLPClassifier / MLPRegressor (one hidden layer of
:data:`engine.tasks.AUX_HIDDEN`, early stopping, ``random_state=seed``) with its L2 ``alpha``
chosen among :data:`MLP_ALPHA_GRID`. The test rows never reach the search: the chosen
hyper-parameter and ``cv_score`` depend on the training rows alone (docs/tasks.md). Over 400
lines: the three kinds of probe share the search and the split, and read best side by side.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from engine.datasets import Dataset, validation_idx
from engine.errors import LatentLoopError
from engine.tasks import IMAGE_TARGET, LABEL_TARGET, TaskConfig, resolve

C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)  # logistic regression: inverse L2 strength
ALPHA_GRID = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # ridge: L2 strength
MLP_ALPHA_GRID = (1e-4, 1e-2)  # MLP heads: L2 strength (each fit is slow, so two values)
FOLDS = 5
MSE_FLOOR = 1e-10  # a perfect reconstruction would give an infinite PSNR
METRIC_KEYS = {"classification": ("accuracy",), "regression": ("r2", "mae"), "reconstruction": ("psnr", "mse")}


class ProbeError(LatentLoopError, ValueError):
    """A task cannot be probed (slice out of range, no target values, too few rows or classes)."""


@dataclass(frozen=True)
class ProbeResult:
    """One task's probe: its test-split metrics (plus ``cv_score``, the cross-validated score of
    the chosen hyper-parameter on the training rows, in the same units as the first metric)."""

    name: str
    kind: str
    target: str
    input: str
    head: str
    weight: float
    metrics: dict[str, float]
    params: dict[str, float]
    n_train: int
    n_test: int
    seconds: float
    subsampled: bool = False  # the training rows were subsampled to max_train


@dataclass(frozen=True)
class ProbeRun:
    """The probes of a run's tasks. ``predictions``: per task, float32 [N] for every dataset row
    (predicted class, predicted value, or per-row PSNR for reconstruction); ``targets``: per
    classification or regression task, the float32 [N] target."""

    results: list[ProbeResult]
    predictions: dict[str, np.ndarray]
    targets: dict[str, np.ndarray]
    max_train: int | None = None


def probe_features(task: TaskConfig, mu: np.ndarray, resp: np.ndarray) -> np.ndarray:
    """The task's input slice of concat(mu, resp): float64 [N, width]; ProbeError if out of range."""
    mu, resp = np.asarray(mu), np.asarray(resp)
    if mu.ndim != 2 or resp.ndim != 2 or len(mu) != len(resp):
        raise ProbeError(f"mu {mu.shape} and responsibilities {resp.shape} must be [N, D] and [N, K]")
    try:
        sl = resolve(task.input, mu.shape[1], resp.shape[1])
    except ValueError as err:
        raise ProbeError(f"task {task.name!r}: {err}") from None
    return np.concatenate([mu, resp], axis=1)[:, sl.start : sl.stop].astype(np.float64)


def probe_targets(task: TaskConfig, ds: Dataset, attrs: dict[str, np.ndarray]) -> np.ndarray:
    """The task's target for every dataset row, float32 [N]: the true class (classification) or
    the attribute (regression). A reconstruction's target is the image, not one value per row:
    ProbeError. Missing or non-finite values: ProbeError."""
    if task.kind == "reconstruction" or task.target == IMAGE_TARGET:
        raise ProbeError(f"task {task.name!r}: a reconstruction target is the image, not one value per row")
    if task.target == LABEL_TARGET:
        values = np.asarray(ds.targets)
    else:
        if task.target not in attrs:
            raise ProbeError(f"task {task.name!r}: no values for target {task.target!r}")
        values = np.asarray(attrs[task.target])
    if values.shape != (len(ds),):
        raise ProbeError(f"task {task.name!r}: target {task.target!r} has shape {values.shape}, expected ({len(ds)},)")
    if not np.isfinite(values).all():
        raise ProbeError(f"task {task.name!r}: target {task.target!r} has non-finite values")
    return values.astype(np.float32)


def default_train_rows(ds: Dataset, validation: int = 0) -> np.ndarray:
    """The training split without the ``validation`` held-out rows (``data.validation``)."""
    train = np.asarray(ds.train_idx, np.int64)
    return np.setdiff1d(train, validation_idx(ds, validation)) if validation else train


def subsample(rows: np.ndarray, max_train: int | None, seed: int) -> np.ndarray:
    """At most ``max_train`` of ``rows`` (sorted), the same ones for the same seed."""
    if max_train is None or len(rows) <= max_train:
        return rows
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(rows, size=max_train, replace=False))


def run_probes(
    tasks: Sequence[TaskConfig],
    ds: Dataset,
    mu: np.ndarray,
    resp: np.ndarray,
    *,
    train_rows: np.ndarray | None = None,
    test_rows: np.ndarray | None = None,
    attrs: dict[str, np.ndarray] | None = None,
    max_train: int | None = None,
    seed: int = 0,
    validation: int = 0,
) -> ProbeRun:
    """Fit and score a probe per task on ``mu`` / ``resp`` (every dataset row, Out.MU / Out.RESP).

    ``train_rows`` default: the training split minus the ``validation`` held-out rows;
    ``test_rows`` default: the test split. ``max_train`` subsamples the training rows (with
    ``seed``); ``attrs`` default: :func:`engine.datasets.attributes.dataset_attributes` of ``ds``."""
    if max_train is not None and max_train < 2:
        raise ProbeError(f"max_train must be at least 2, got {max_train}")
    n = len(ds)
    if len(mu) != n or len(resp) != n:
        raise ProbeError(f"mu has {len(mu)} rows and responsibilities {len(resp)}; the dataset has {n}")
    all_train = np.asarray(default_train_rows(ds, validation) if train_rows is None else train_rows, np.int64)
    test = np.asarray(ds.test_idx if test_rows is None else test_rows, np.int64)
    train = subsample(all_train, max_train, seed)
    if len(test) == 0:
        raise ProbeError("no test rows to score the probes on")
    if attrs is None and any(t.kind == "regression" for t in tasks):
        from engine.datasets.attributes import dataset_attributes

        attrs = dataset_attributes(ds)
    results: list[ProbeResult] = []
    predictions: dict[str, np.ndarray] = {}
    targets: dict[str, np.ndarray] = {}
    for task in tasks:
        with threadpool_limits(1):  # BLAS threads on these small problems cost 2-6x (and a core)
            results.append(_probe_one(task, ds, mu, resp, attrs, train, test, seed, predictions, targets))
    if len(train) < len(all_train):
        results = [dataclasses.replace(r, subsampled=True) for r in results]
    return ProbeRun(results, predictions, targets, max_train)


def _probe_one(
    task: TaskConfig,
    ds: Dataset,
    mu: np.ndarray,
    resp: np.ndarray,
    attrs: dict[str, np.ndarray] | None,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    predictions: dict[str, np.ndarray],
    targets: dict[str, np.ndarray],
) -> ProbeResult:
    """One task's probe (its prediction and target go into ``predictions`` / ``targets``)."""
    n = len(ds)
    t0 = time.perf_counter()
    x = probe_features(task, mu, resp)
    if task.kind == "reconstruction":
        # every pixel of every row is the target: uint8 rows (a view, no copy of a memory-mapped
        # dataset), turned into floats only for the rows a fit or a block of predictions reads
        y = ds.images.reshape(n, -1)
        channels = ds.images.shape[3] if ds.images.ndim == 4 else 1
        metrics, params, pred = _fit_reconstruction(task, x.astype(np.float32), y, train, test, seed, channels)
    else:
        target = probe_targets(task, ds, attrs or {})
        targets[task.name] = target
        fit = _fit_classifier if task.kind == "classification" else _fit_regressor
        metrics, params, pred = fit(task, x, target.astype(np.float64), train, test, seed)
    predictions[task.name] = pred.astype(np.float32)
    return ProbeResult(
        name=task.name,
        kind=task.kind,
        target=task.target,
        input=task.input,
        head=task.head,
        weight=float(task.weight),
        metrics=metrics,
        params=params,
        n_train=len(train),
        n_test=len(test),
        seconds=time.perf_counter() - t0,
    )


# -- fitting ------------------------------------------------------------------------------------


def _folds(task: TaskConfig, n_train: int, seed: int, y: np.ndarray | None = None) -> Any:
    """The cross-validation splitter over the training rows (stratified for classification)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if y is not None:
        smallest = int(np.unique(y, return_counts=True)[1].min())
        k = min(FOLDS, smallest)
        if k < 2:
            raise ProbeError(f"task {task.name!r}: a class has {smallest} training row(s); the probe needs 2 or more")
        return StratifiedKFold(k, shuffle=True, random_state=seed)
    if n_train < 2 * FOLDS:
        raise ProbeError(f"task {task.name!r}: {n_train} training rows; the probe needs at least {2 * FOLDS}")
    return KFold(FOLDS, shuffle=True, random_state=seed)


def _search(model: Any, grid: Mapping[str, Sequence[float]], cv: Any, scoring: str) -> Any:
    """A grid search over ``model`` (after a StandardScaler fitted inside each fold)."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), model)
    step = pipe.steps[-1][0]
    return GridSearchCV(pipe, {f"{step}__{k}": list(v) for k, v in grid.items()}, cv=cv, scoring=scoring, refit=True)


def _chosen(search: Any) -> dict[str, float]:
    return {k.split("__", 1)[1]: float(v) for k, v in search.best_params_.items()}


def _mlp(regression: bool, seed: int) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from engine.tasks import AUX_HIDDEN

    cls = MLPRegressor if regression else MLPClassifier
    # A learning rate of 1e-2 (not Adam's 1e-3): at 1e-3 early stopping ends small fits before
    # they move off chance (10 synthetic classes, 500 rows: accuracy 0.2 instead of 1.0).
    return cls(
        hidden_layer_sizes=(AUX_HIDDEN,), early_stopping=True, learning_rate_init=1e-2, max_iter=300, random_state=seed
    )


def _fit_classifier(
    task: TaskConfig, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    y_train = y[train].astype(np.int64)
    if len(np.unique(y_train)) < 2:
        raise ProbeError(f"task {task.name!r}: the training rows hold fewer than 2 classes")
    cv = _folds(task, len(train), seed, y_train)
    if task.head == "mlp":
        search = _search(_mlp(False, seed), {"alpha": MLP_ALPHA_GRID}, cv, "accuracy")
    else:  # lbfgs fits the multinomial (softmax) model for more than two classes
        search = _search(LogisticRegression(max_iter=1000), {"C": C_GRID}, cv, "accuracy")
    search.fit(x[train], y_train)
    pred = search.predict(x).astype(np.float64)
    accuracy = float((pred[test] == y[test]).mean())
    return {"accuracy": accuracy, "cv_score": float(search.best_score_)}, _chosen(search), pred


def _fit_regressor(
    task: TaskConfig, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
    from sklearn.linear_model import Ridge

    cv = _folds(task, len(train), seed)
    if task.head == "mlp":
        # The MLP learns a standardised target (its initial scale and early stopping assume it).
        mean, sd = float(y[train].mean()), float(y[train].std()) or 1.0
        search = _search(_mlp(True, seed), {"alpha": MLP_ALPHA_GRID}, cv, "r2")
        search.fit(x[train], (y[train] - mean) / sd)
        pred = search.predict(x) * sd + mean
    else:
        search = _search(Ridge(), {"alpha": ALPHA_GRID}, cv, "r2")
        search.fit(x[train], y[train])
        pred = search.predict(x)
    err = pred[test] - y[test]
    ss_tot = float(((y[test] - y[test].mean()) ** 2).sum())
    r2 = 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    metrics = {"r2": r2, "mae": float(np.abs(err).mean()), "cv_score": float(search.best_score_)}
    return metrics, _chosen(search), pred


def psnr(mse: float | np.ndarray) -> Any:
    """10 log10(1 / MSE) for images in [0, 1] (MSE floored at MSE_FLOOR)."""
    return 10.0 * np.log10(1.0 / np.maximum(mse, MSE_FLOOR))


def _unit(pixels: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1] of uint8 rows (float rows are taken as they are)."""
    return pixels.astype(np.float32) / np.float32(255.0) if pixels.dtype == np.uint8 else pixels


CHANNEL_NAMES = ("r", "g", "b")  # a colour image's channels, in the order the arrays hold them


def _fit_reconstruction(
    task: TaskConfig, x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int, channels: int = 1
) -> tuple[dict[str, float], dict[str, float], np.ndarray]:
    """``y``: the flattened images [N, H*W*C] (channels last, so channel c is every C-th column)."""
    from sklearn.linear_model import Ridge

    cv = _folds(task, len(train), seed)
    model = _mlp(True, seed) if task.head == "mlp" else Ridge()
    grid = {"alpha": MLP_ALPHA_GRID if task.head == "mlp" else ALPHA_GRID}
    search = _search(model, grid, cv, "neg_mean_squared_error")
    search.fit(x[train], _unit(y[train]))
    row_mse = np.empty(len(x))
    channel_mse = np.empty((len(x), channels))  # per row and channel (colour)
    for i in range(0, len(x), 4096):  # predictions of every row, in blocks: N x pixels can be large
        block = np.clip(search.predict(x[i : i + 4096]), 0.0, 1.0)
        sq = (block - _unit(y[i : i + 4096])).astype(np.float64) ** 2
        row_mse[i : i + 4096] = sq.mean(1)
        if channels > 1:
            channel_mse[i : i + 4096] = sq.reshape(len(sq), -1, channels).mean(1)
    mse = float(row_mse[test].mean())
    metrics = {"psnr": float(psnr(mse)), "mse": mse, "cv_score": float(psnr(-search.best_score_))}
    if channels > 1:
        for c, value in zip(CHANNEL_NAMES, channel_mse[test].mean(0), strict=True):
            metrics[f"psnr_{c}"] = float(psnr(value))
    return metrics, _chosen(search), psnr(row_mse)


# -- output -------------------------------------------------------------------------------------


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"


def probe_table(results: Sequence[ProbeResult]) -> str:
    """A fixed-width text table, one line per probe (metrics on the test rows)."""
    header = (
        f"{'task':<16} {'kind':<14} {'target':<12} {'input':<10} {'head':<6} {'weight':>6}  "
        f"{'metric':<24} {'cv':>8} {'param':<12} {'train':>7} {'test':>6} {'s':>6}"
    )
    lines = [header]
    for r in results:
        keys = METRIC_KEYS.get(r.kind, ())
        if r.kind == "reconstruction":
            keys += tuple(f"psnr_{c}" for c in CHANNEL_NAMES)  # colour only (absent for gray)
        metric = " ".join(f"{k}={_fmt(r.metrics[k])}" for k in keys if k in r.metrics)
        param = " ".join(f"{k}={v:g}" for k, v in r.params.items())
        n_train = f"{r.n_train}{'*' if r.subsampled else ''}"
        lines.append(
            f"{r.name:<16} {r.kind:<14} {r.target:<12} {r.input:<10} {r.head:<6} {r.weight:>6g}  "
            f"{metric:<24} {_fmt(r.metrics.get('cv_score', float('nan'))):>8} {param:<12} "
            f"{n_train:>7} {r.n_test:>6} {r.seconds:>6.1f}"
        )
    if any(r.subsampled for r in results):
        lines.append("* training rows subsampled (max_train)")
    return "\n".join(lines)


def _json_float(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else float(value)


def probe_json(run: ProbeRun, **meta: Any) -> dict[str, Any]:
    """A JSON-ready dict: ``meta`` (e.g. checkpoint, step, dataset) plus one entry per probe
    (non-finite metrics become null); no per-row arrays."""
    return {
        **meta,
        "max_train": run.max_train,
        "probes": [
            {
                "name": r.name,
                "kind": r.kind,
                "target": r.target,
                "input": r.input,
                "head": r.head,
                "weight": r.weight,
                "metrics": {k: _json_float(v) for k, v in r.metrics.items()},
                "params": {k: _json_float(v) for k, v in r.params.items()},
                "n_train": r.n_train,
                "n_test": r.n_test,
                "subsampled": r.subsampled,
                "seconds": round(r.seconds, 3),
            }
            for r in run.results
        ],
    }


def probe_outputs(cfg: Any, ds: Dataset, out: Mapping[Any, np.ndarray], tasks: Sequence[TaskConfig] | None = None,
                  max_train: int | None = None) -> ProbeRun:  # fmt: skip
    """:func:`run_probes` of ``tasks`` (default ``cfg.tasks``) on a model's predictions ``out``
    (Backend.predict of every dataset row), with the config's data root, validation rows and seed."""
    from engine.backends.base import Out
    from engine.datasets.attributes import dataset_attributes

    tasks = list(cfg.tasks if tasks is None else tasks)
    attrs = dataset_attributes(ds, cfg.data.root) if any(t.kind == "regression" for t in tasks) else {}
    return run_probes(
        tasks,
        ds,
        out[Out.MU],
        out[Out.RESP],
        attrs=attrs,
        max_train=max_train,
        seed=cfg.seed,
        validation=cfg.data.validation,
    )
