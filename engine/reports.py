"""Run outputs: learning curves and loss curves as CSV/PNG, experiment reports (Markdown)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.io import atomic_write_bytes


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, ax: Any, path: Path) -> None:
    """Grid and legend, then write the figure to ``path`` and free it."""
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


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


def labels_to_reach(rows: Iterable[dict[str, Any]], threshold: float) -> int | None:
    """Smallest label count whose test accuracy reached ``threshold`` (None if never)."""
    hits = [r["labels"] for r in rows if r["test_acc"] >= threshold]
    return min(hits) if hits else None


def plot_learning_curves(path: Path, rows: list[dict[str, Any]], title: str = "Active learning") -> None:
    """Test accuracy vs number of labels, one line per strategy."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    for strat in dict.fromkeys(r["strategy"] for r in rows):
        rs = [r for r in rows if r["strategy"] == strat]
        ax.plot([r["labels"] for r in rs], [r["test_acc"] for r in rs], marker="o", ms=3, label=strat)
    for t in (0.9, 0.95):
        ax.axhline(t, color="grey", lw=0.6, ls="--")
    ax.set_xlabel("labels")
    ax.set_ylabel("test accuracy (10,000 held-out images)" if rows else "test accuracy")
    ax.set_title(title)
    _save(plt, fig, ax, path)


def plot_losses(
    path: Path, history: list[dict[str, Any]], keys: tuple[str, ...] = ("loss", "rec", "sup", "cons")
) -> None:
    """Loss terms against training step."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    steps = np.array([h["step"] for h in history])
    for k in keys:
        if history and k in history[0]:
            ax.plot(steps, [h[k] for h in history], label=k)
    ax.set_xlabel("step")
    ax.set_yscale("log")
    _save(plt, fig, ax, path)
