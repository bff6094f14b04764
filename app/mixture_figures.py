"""The Model page's figures as plain dicts (no Dash): the tau heatmap and the mixture metrics over time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from app.classnames import name_of, short
from app.colours import RED, palette
from app.figures import _clean
from engine.analysis.mixture import ComponentStats

PHASE_COLOURS = ("rgba(31,119,180,0.07)", "rgba(255,127,14,0.09)", "rgba(44,160,44,0.07)", "rgba(148,103,189,0.08)")


def tau_text(stats: Sequence[ComponentStats]) -> list[str]:
    """Row labels of the heatmap: component, certainty, usage, labelled count and flags."""
    out = []
    for s in stats:
        flags = " dead" if s.dead else ""
        flags += " redundant" if s.redundant else ""
        out.append(f"c{s.component} · {s.certainty:.2f} · {100 * s.usage:.1f}% · {s.labelled} lab{flags}")
    return out


def _column_names(names: Sequence[str], width: int = 10) -> list[str]:
    """``names`` shortened to ``width``, each still unique (a clash keeps its full name)."""
    shortened = [short(n, width) for n in names]
    return [s if shortened.count(s) == 1 else n for s, n in zip(shortened, names, strict=True)]


def tau_values(tau: np.ndarray, stats: Sequence[ComponentStats], names: Sequence[str] = ()) -> dict[str, Any]:
    """The heatmap's data that changes with the map version (patched into the trace at a refresh);
    ``names``: the class names (the numbers where empty)."""
    c = tau.shape[1]
    labels = tau_text(stats)
    cls = [name_of(names, y) for y in range(c)]
    return {
        "z": np.round(tau, 4).tolist(),
        "y": labels,
        # hover: component, class (its full name), tau, certainty, usage, labelled count
        "customdata": [
            [[s.component, cls[y], round(s.certainty, 3), round(100 * s.usage, 2), s.labelled] for y in range(c)]
            for s in stats
        ],
    }


def tau_figure(tau: np.ndarray, stats: Sequence[ComponentStats], names: Sequence[str] = ()) -> dict[str, Any]:
    """Components x classes, each row normalised (tau); click a cell to see the component's samples.
    The columns carry the class names, shortened (the hover has the full name)."""
    k, c = tau.shape
    trace = {
        "type": "heatmap",
        # unique shortened names: plotly merges equal category labels into one column
        "x": _column_names([name_of(names, y) for y in range(c)]),
        "colorscale": "Blues",
        "reversescale": True,  # plotly's Blues runs dark to light: 1 (sure) should be the dark end
        "zmin": 0,
        "zmax": 1,
        "showscale": True,
        "colorbar": {"thickness": 8, "len": 0.9},
        "hovertemplate": "component %{customdata[0]} -> class %{customdata[1]}: tau %{z:.3f}<br>"
        "certainty %{customdata[2]} · usage %{customdata[3]}% · %{customdata[4]} labelled<extra></extra>",
        "xgap": 1,
        "ygap": 1,
        **tau_values(tau, stats, names),
    }
    layout = {
        "uirevision": "tau",
        "height": max(220, 26 * k + 60),
        "margin": {"l": 230, "r": 8, "t": 8, "b": 36},
        "xaxis": {"title": {"text": "class"}, "side": "bottom", "tickfont": {"size": 11}},
        "yaxis": {"autorange": "reversed", "tickfont": {"size": 11, "family": "monospace"}},
    }
    return {"data": [trace], "layout": layout}


def _bands(phases: Sequence[tuple[int, str]], last_step: int, axes: int) -> tuple[list[dict], list[dict]]:
    """Shaded phase bands and their names on every subplot."""
    shapes, notes = [], []
    for i, (start, name) in enumerate(phases):
        end = phases[i + 1][0] if i + 1 < len(phases) else max(last_step, start)
        for a in range(1, axes + 1):
            sfx = "" if a == 1 else str(a)
            shapes.append(
                {
                    "type": "rect",
                    "xref": f"x{sfx}",
                    "yref": f"y{sfx} domain",
                    "x0": start,
                    "x1": end,
                    "y0": 0,
                    "y1": 1,
                    "fillcolor": PHASE_COLOURS[i % len(PHASE_COLOURS)],
                    "line": {"width": 0},
                    "layer": "below",
                }
            )
            shapes.append(
                {
                    "type": "line",
                    "xref": f"x{sfx}",
                    "yref": f"y{sfx} domain",
                    "x0": start,
                    "x1": start,
                    "y0": 0,
                    "y1": 1,
                    "line": {"width": 1, "dash": "dot", "color": "#888"},
                }
            )
        notes.append(
            {
                "x": start,
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "text": name,
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 9, "color": "#555"},
            }
        )
    return shapes, notes


def metrics_figure(
    history: Sequence[dict[str, Any]], losses: Sequence[dict[str, Any]], phases: Sequence[tuple[int, str]]
) -> dict[str, Any]:
    """Four stacked panels over steps: entropy of the mean responsibilities (with its maximum),
    mean tau certainty, KL_z and KL_c (training metrics), usage per component; phases as bands."""
    steps = [h["step"] for h in history]
    k = len(history[-1]["usage"]) if history else 0
    data: list[dict[str, Any]] = [
        {"x": steps, "y": [_clean(h["resp_entropy"]) for h in history], "name": "entropy of mean q", "yaxis": "y"},
        {
            "x": steps,
            "y": [_clean(h["tau_certainty"]) for h in history],
            "name": "mean tau certainty",
            "xaxis": "x2",
            "yaxis": "y2",
        },
        {"x": [r["step"] for r in losses], "y": [_clean(r.get("kl_z", float("nan"))) for r in losses], "name": "KL_z"},
        {"x": [r["step"] for r in losses], "y": [_clean(r.get("kl_c", float("nan"))) for r in losses], "name": "KL_c"},
    ]
    for t in data[2:4]:
        t.update(xaxis="x3", yaxis="y3")
    colours = palette(max(k, 1))
    for c in range(k):
        data.append(
            {
                "x": steps,
                "y": [_clean(h["usage"][c]) for h in history],
                "name": f"usage c{c}",
                "xaxis": "x4",
                "yaxis": "y4",
                "line": {"width": 1, "color": colours[c]},
                "showlegend": False,
            }
        )
    for t in data:
        t.update(type="scatter", mode="lines+markers", marker={"size": 3})
    last = max([*steps, *(r["step"] for r in losses), 0])
    shapes, notes = _bands(phases, last, 4)
    layout: dict[str, Any] = {
        "uirevision": "mixture-metrics",
        "height": 460,
        "margin": {"l": 48, "r": 8, "t": 18, "b": 30},
        "legend": {"orientation": "h", "y": -0.08, "font": {"size": 10}},
        "grid": {"rows": 4, "columns": 1, "pattern": "independent", "roworder": "top to bottom"},
        "xaxis": {"matches": "x4", "showticklabels": False},
        "xaxis2": {"matches": "x4", "showticklabels": False},
        "xaxis3": {"matches": "x4", "showticklabels": False},
        "xaxis4": {"title": {"text": "step", "font": {"size": 10}}},
        "yaxis": {"title": {"text": "entropy", "font": {"size": 10}}},
        "yaxis2": {"title": {"text": "tau cert.", "font": {"size": 10}}, "range": [0, 1.05]},
        "yaxis3": {"title": {"text": "KL", "font": {"size": 10}}},
        "yaxis4": {"title": {"text": "usage", "font": {"size": 10}}},
        "shapes": shapes,
        "annotations": notes,
    }
    if history:
        hmax = history[-1].get("resp_entropy_max")
        if hmax:
            layout["shapes"].append(
                {
                    "type": "line",
                    "xref": "x domain",
                    "yref": "y",
                    "x0": 0,
                    "x1": 1,
                    "y0": hmax,
                    "y1": hmax,
                    "line": {"width": 1, "dash": "dash", "color": RED},
                }
            )
    return {"data": data, "layout": layout}
