"""Figures of an experiment report (matplotlib, Agg): learning curves over the curriculum phases,
the latent map, the tau heatmap, the component gallery, the confusion matrix and the reliability
diagram. Each function writes one PNG. Classes are shown by the names the caller passes (the
dataset's, ``"0"``.. for one without classes.json), cut to :data:`NAME_WIDTH` characters."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.analysis.mixture import ComponentStats
from engine.datasets.classes import short_name
from engine.reports.curves import pyplot, save_figure

LOSS_KEYS = ("loss", "rec", "kl_z", "kl_c", "sup", "cons", "usage")
NAME_WIDTH = 12  # characters of a class name on an axis or in a caption


def _names(names: Sequence[str] | None, num_classes: int) -> list[str]:
    """``names``, or the numbers ``"0"``.. when the caller has none."""
    return [str(i) for i in range(num_classes)] if names is None else list(names)


def _class_ticks(names: Sequence[str]) -> tuple[list[str], int, float]:
    """The names as tick labels, their rotation (upright while every name is a short one) and the
    inches the figure grows by to hold them (0 for upright ones: MNIST's figures keep their size)."""
    labels = [short_name(n, NAME_WIDTH) for n in names]
    longest = max(map(len, labels), default=0)
    return labels, 0 if longest <= 2 else 90, 0.0 if longest <= 2 else 0.3 + 0.075 * longest


def _phase_bands(ax: Any, spans: Sequence[tuple[str, int, int]]) -> None:
    """Shade each curriculum phase (alternating grey) and name it at the top of the axes."""
    for i, (name, start, end) in enumerate(spans):
        ax.axvspan(start, end, color="0.85" if i % 2 == 0 else "0.93", zorder=0, lw=0)
        ax.text((start + end) / 2, 1.0, name, transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7)


def plot_curves(
    path: Path,
    history: list[dict[str, Any]],
    evaluations: list[dict[str, Any]],
    spans: Sequence[tuple[str, int, int]],
    split: str,
) -> None:
    """Loss terms (log scale) and accuracies against training step, phases shaded."""
    plt = pyplot()
    fig, (ax_l, ax_a) = plt.subplots(2, 1, figsize=(8, 6.5), dpi=100, sharex=True)
    steps = [h["step"] for h in history]
    for k in LOSS_KEYS:
        # a term that is off (0) in some phases is drawn where it is on: log scale
        vals = np.array([v if isinstance(v := h.get(k), int | float) and v > 0 else np.nan for h in history])
        if np.isfinite(vals).any():
            ax_l.plot(steps, vals, label=k, lw=1)
    ax_l.set_yscale("log")
    ax_l.set_ylabel("loss terms")
    if history and "acc_labeled" in history[0]:
        ax_a.plot(steps, [h["acc_labeled"] for h in history], label="labelled rows of the batch", lw=1, alpha=0.7)
    e_steps = [e["step"] for e in evaluations]
    ax_a.plot(e_steps, [e["test_acc"] for e in evaluations], marker="o", ms=4, label=f"{split} accuracy")
    ax_a.plot(e_steps, [e["tau_acc"] for e in evaluations], marker="s", ms=3, ls="--", label=f"{split}, tau route")
    ax_a.set_ylabel("accuracy")
    ax_a.set_xlabel("step")
    ax_a.set_ylim(-0.02, 1.02)
    for ax in (ax_l, ax_a):
        _phase_bands(ax, spans)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    save_figure(plt, fig, path)


def plot_latent_map(
    path: Path,
    xy: np.ndarray,
    targets: np.ndarray,
    labelled: np.ndarray,
    num_classes: int,
    names: Sequence[str] | None = None,
) -> None:
    """2-D map of the latent means coloured by true class (``names``: the classes' names);
    labelled samples ringed in black."""
    plt = pyplot()
    names = _names(names, num_classes)
    fig, ax = plt.subplots(figsize=(7, 6), dpi=100)
    cmap = plt.get_cmap("tab10" if num_classes <= 10 else "tab20", max(num_classes, 2))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=targets, cmap=cmap, vmin=-0.5, vmax=num_classes - 0.5, s=4, alpha=0.7)
    if labelled.any():
        ax.scatter(xy[labelled, 0], xy[labelled, 1], facecolors="none", edgecolors="black", s=18, lw=0.6)
    bar = fig.colorbar(sc, ax=ax, ticks=range(num_classes), label="true class")
    bar.ax.set_yticklabels(_class_ticks(names)[0])
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"latent means, {len(xy)} training samples ({int(labelled.sum())} labelled, ringed)")
    save_figure(plt, fig, path)


def plot_tau(path: Path, tau: np.ndarray, stats: Sequence[ComponentStats], names: Sequence[str] | None = None) -> None:
    """Heatmap of tau (components x classes, the classes by ``names``), each row annotated with its usage."""
    plt = pyplot()
    k, c = tau.shape
    labels, rotation, extra = _class_ticks(_names(names, c))
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * c + extra, 1.0 + 0.32 * k + extra), dpi=100)
    im = ax.imshow(tau, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    if k * c <= 400:
        for i in range(k):
            for j in range(c):
                ax.text(
                    j,
                    i,
                    f"{tau[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="w" if tau[i, j] < 0.6 else "k",
                )
    ax.set_xticks(range(c), labels, rotation=rotation)
    ax.set_yticks(range(k), [f"{s.component} ({100 * s.usage:.0f}%)" for s in stats], fontsize=7)
    ax.set_xlabel("class")
    ax.set_ylabel("component (usage)")
    fig.colorbar(im, ax=ax, label="tau")
    save_figure(plt, fig, path)


def plot_gallery(
    path: Path, images: Sequence[np.ndarray], stats: Sequence[ComponentStats], names: Sequence[str] | None = None
) -> None:
    """One row per component: its most responsible images, titled with tau class (by name) and usage. Gray
    images ([n, H, W] per row) are drawn in gray, colour ones ([n, H, W, 3]) in their colours;
    a cell is as wide as the images' aspect ratio asks."""
    plt = pyplot()
    k = len(stats)
    cols = max([len(im) for im in images] + [1])
    captions = [str(s.tau_class) if names is None else short_name(names[s.tau_class], NAME_WIDTH) for s in stats]
    longest = max(map(len, captions), default=1)
    margin = 1.1 + 0.05 * max(longest - 2, 0)  # inches left of the images for each row's caption
    shapes = [im.shape[1:3] for im in images if len(im)]
    aspect = shapes[0][1] / shapes[0][0] if shapes else 1.0  # width / height of one image
    width = 0.55 * aspect * cols + margin
    fig, axes = plt.subplots(k, cols, figsize=(width, 0.6 * k + 0.3), dpi=100, squeeze=False)
    for row, (s, ims) in enumerate(zip(stats, images, strict=True)):
        for j in range(cols):
            ax = axes[row, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < len(ims) and ims[j].ndim == 3:
                ax.imshow(ims[j])  # RGB uint8: shown as its colours (a colour map would not apply)
            elif j < len(ims):
                ax.imshow(ims[j], cmap="gray", vmin=0, vmax=255)
        flags = " dead" * s.dead + " redundant" * s.redundant
        axes[row, 0].set_ylabel(
            f"c{s.component} -> {captions[row]}\n{100 * s.usage:.1f}%{flags}",
            rotation=0,
            ha="right",
            va="center",
            fontsize=7,
        )
    fig.subplots_adjust(left=margin / width, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.1)
    save_figure(plt, fig, path, tight=False)


def plot_confusion(path: Path, cm: np.ndarray, split: str, names: Sequence[str] | None = None) -> None:
    """Confusion matrix (rows: true class, columns: predicted, both by ``names``), counts written in
    the cells."""
    plt = pyplot()
    c = cm.shape[0]
    labels, rotation, extra = _class_ticks(_names(names, c))
    fig, ax = plt.subplots(figsize=(1.5 + 0.5 * c + extra, 1.2 + 0.45 * c + extra), dpi=100)
    share = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(c):
        for j in range(c):
            if cm[i, j]:
                ax.text(
                    j, i, str(cm[i, j]), ha="center", va="center", fontsize=7, color="w" if share[i, j] > 0.5 else "k"
                )
    ax.set_xticks(range(c), labels, rotation=rotation)
    ax.set_yticks(range(c), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{split} split")
    fig.colorbar(im, ax=ax, label="share of the true class")
    save_figure(plt, fig, path)


def plot_reliability(path: Path, bins: dict[str, list], ece: float) -> None:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with bin counts."""
    plt = pyplot()
    edges = np.asarray(bins["edges"])
    count = np.asarray(bins["count"])
    acc = np.asarray(bins["accuracy"])
    conf = np.asarray(bins["confidence"])
    width = np.diff(edges)
    full = count > 0
    fig, (ax, ax_n) = plt.subplots(2, 1, figsize=(5.5, 6), dpi=100, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(edges[:-1][full], acc[full], width=width[full], align="edge", edgecolor="k", lw=0.5, label="accuracy")
    ax.bar(
        edges[:-1][full], (conf - acc)[full], bottom=acc[full], width=width[full], align="edge",
        color="tab:red", alpha=0.3, label="gap to confidence",
    )  # fmt: skip
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label="perfect calibration")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(f"ECE {ece:.4f}")
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3)
    ax_n.bar(edges[:-1], count, width=width, align="edge", color="0.5")
    ax_n.set_yscale("symlog")
    ax_n.set_xlabel("confidence (max class probability)")
    ax_n.set_ylabel("samples")
    ax_n.set_xlim(0, 1)
    save_figure(plt, fig, path)
