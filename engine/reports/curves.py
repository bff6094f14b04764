"""Run outputs: CSV tables, summary statistics, active-learning curves (PNG) and the matplotlib
helpers of every report figure (experiment reports: engine/reports/experiment.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.io import atomic_write_bytes


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(plt: Any, fig: Any, path: Path, tight: bool = True) -> None:
    """Lay out (unless the caller placed the axes), write the figure to ``path`` (PNG), free it."""
    if tight:
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _save(plt: Any, fig: Any, ax: Any, path: Path) -> None:
    """Grid and legend, then write the figure to ``path`` and free it."""
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(plt, fig, path)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows of dicts with the same keys -> CSV (atomic)."""
    if not rows:
        atomic_write_bytes(path, b"")
        return
    keys = list(rows[0])
    lines = [",".join(keys)] + [",".join(_fmt(r.get(k)) for k in keys) for r in rows]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else str(v)


def labels_to_sustain(rows: Iterable[dict[str, Any]], threshold: float) -> int | None:
    """Label count of the first round after which test accuracy stays at or above ``threshold``
    in every later round (rows in round order; None if the last round is below it)."""
    need = None
    for r in rows:
        below = r["test_acc"] < threshold
        need = None if below else (r["labels"] if need is None else need)
    return need


def mean_sd(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample sd (0 for one value), min, max and n; Nones when ``values`` is empty."""
    if not values:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    a = np.asarray(values, np.float64)
    return {
        "mean": float(a.mean()),
        "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "min": float(a.min()),
        "max": float(a.max()),
        "n": len(a),
    }


def plot_learning_curves(
    path: Path,
    rows: list[dict[str, Any]],
    title: str = "Active learning",
    thresholds: tuple[float, ...] = (0.9, 0.95, 0.97),
    n_test: int | None = None,
) -> None:
    """Test accuracy vs number of labels, one line per strategy: the mean over the rows' seeds,
    with a band from the lowest to the highest seed when there are several. ``n_test``: the size
    of the test split, shown on the axis."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for strat in dict.fromkeys(r["strategy"] for r in rows):
        rs = [r for r in rows if r["strategy"] == strat]
        labels = sorted({r["labels"] for r in rs})
        accs = [[r["test_acc"] for r in rs if r["labels"] == n] for n in labels]
        n_seeds = len({r.get("seed") for r in rs})
        (line,) = ax.plot(
            labels, [np.mean(a) for a in accs], marker="o", ms=3, label=f"{strat} ({n_seeds} seed{'s' * (n_seeds > 1)})"
        )
        if n_seeds > 1:
            ax.fill_between(labels, [min(a) for a in accs], [max(a) for a in accs], color=line.get_color(), alpha=0.15)
    for t in thresholds:
        ax.axhline(t, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("labels")
    ax.set_ylabel(f"test accuracy ({n_test:,} held-out images)" if rows and n_test else "test accuracy")
    ax.set_title(title)
    _save(plt, fig, ax, path)
