"""The Probes panel (Label page): a table of tasks x metrics with a sparkline per metric over the
training steps, a form to add or change a probe, a remove button per probe and the status line.

Pure functions of :class:`app.services.probes.ProbesView`; the sync callback redraws the table and
the status when the service's key changes (app/callbacks/probes.py). The sparklines are SVG images
(``data:`` URIs), one ``img`` per cell, so the panel adds few components to the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.colours import RED, TAB10
from app.layouts.parts import card_header, menu, small_button
from app.services.probes import METRICS, ProbeRow, ProbesView
from app.viewmodels import PageContext
from engine.tasks import ATTRIBUTES, IMAGE_TARGET, LABEL_TARGET

METRIC_NAMES = {"accuracy": "accuracy", "r2": "R²", "mae": "MAE", "psnr": "PSNR"}
KINDS = ("classification", "regression", "reconstruction")
TARGETS = (LABEL_TARGET, *ATTRIBUTES, IMAGE_TARGET)
SPARK_W, SPARK_H = 64, 16


def sparkline(values: Sequence[float]) -> str:
    """An SVG polyline of ``values`` (oldest first) as a ``data:`` URI; the newest point is a dot."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    span = hi - lo if hi > lo else 1.0
    n = len(vals)
    pts = [
        (2 + (SPARK_W - 4) * (i / (n - 1) if n > 1 else 1.0), SPARK_H - 2 - (SPARK_H - 4) * (v - lo) / span)
        for i, v in enumerate(vals)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    x, y = pts[-1]
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SPARK_W}" height="{SPARK_H}">'
        f'<polyline points="{line}" fill="none" stroke="{TAB10[0]}" stroke-width="1.2"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="1.8" fill="{RED}"/></svg>'
    )
    return "data:image/svg+xml;utf8," + quote(svg)


def metric_text(metric: str, value: float) -> str:
    if not math.isfinite(value):
        return "-"
    if metric == "accuracy":
        return f"{value:.1%}"
    if metric == "psnr":
        return f"{value:.1f} dB"
    return f"{value:.3f}" if metric == "r2" else f"{value:.3g}"


def _metric_cell(row: ProbeRow, metric: str) -> Any:
    res = row.result
    if res is None or metric not in res.metrics:
        return html.Td("", className="ll-probe-metric")
    steps, values = row.history.get(metric, ([], []))
    src = sparkline(values)
    title = f"{METRIC_NAMES[metric]} over steps {steps[0]}..{steps[-1]}" if steps else ""
    if "cv_score" in res.metrics:
        title += f" · cross-validated {res.metrics['cv_score']:.3g} on the training rows"
    parts: list[Any] = [html.Span(metric_text(metric, float(res.metrics[metric])), className="ll-probe-value")]
    if src:
        parts.append(html.Img(src=src, className="ll-spark", alt=""))
    return html.Td(parts, className="ll-probe-metric", title=title, **{"data-metric": metric})


def _row(row: ProbeRow) -> Any:
    t = row.task
    if t.is_probe:
        last: Any = dbc.Button(
            "✕",
            id={"type": "probe-remove", "name": t.name},
            color="link",
            size="sm",
            className="p-0 ll-probe-remove",
            title=f"remove probe {t.name}",
        )
    else:
        last = html.Span(
            f"aux, weight {t.weight:g}", className="small text-muted", title="changes by forking a checkpoint"
        )
    cells = [
        html.Td(t.name, className="fw-semibold"),
        html.Td(f"{t.kind} · {t.target}", className="small"),
        html.Td(html.Code(t.input)),
        html.Td(t.head, className="small"),
    ]
    if row.error:
        cells.append(html.Td(row.error, colSpan=len(METRICS) + 1, className="small text-danger ll-probe-error"))
    else:
        cells += [_metric_cell(row, m) for m in METRICS]
        fit = f"{row.result.n_train:,}" if row.result else ""
        cells.append(html.Td(f"{fit} ({row.note})" if row.note and fit else fit, className="small text-muted"))
    return html.Tr([*cells, html.Td(last)], **{"data-task": t.name})


def probes_table(view: ProbesView) -> Any:
    """The tasks x metrics table (an empty-state line without tasks)."""
    if not view.rows:
        return html.Div("no tasks yet: add a probe below", className="small text-muted")
    head = ["task", "kind · target", "input", "head", *(METRIC_NAMES[m] for m in METRICS), "fit on", ""]
    return html.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody([_row(r) for r in view.rows])],
        className="table table-sm mb-1 ll-probes",
    )


def probes_status(view: ProbesView) -> Any:
    cls = {"error": "text-danger", "running": "text-primary"}.get(view.status, "text-muted")
    return html.Span(view.message, className=f"small {cls}", **{"data-state": view.status})


def _field(label: str, control: Any, width: int) -> Any:
    return dbc.Col([dbc.Label(label, className="small mb-0"), control], width=width, className="mb-1")


def probe_form() -> Any:
    """Name, kind, target, input slice and head of a probe; the same name changes it."""
    return dbc.Row(
        [
            _field("name", dbc.Input(id="probe-name", size="sm", placeholder="e.g. ink_z03"), 2),
            _field("kind", menu("probe-kind", list(KINDS), "regression", "ll-probe-menu"), 3),
            _field(
                "target",
                dcc.Dropdown(
                    id="probe-target",
                    options=list(TARGETS),
                    value="ink",
                    clearable=True,
                    searchable=False,
                    placeholder="default",
                    className="ll-probe-menu",
                ),
                2,
            ),
            _field("input", dbc.Input(id="probe-input", size="sm", value="z", placeholder="z[0:4], q, all"), 2),
            _field("head", menu("probe-head", ["linear", "mlp"], "linear", "ll-probe-menu"), 1),
            dbc.Col(small_button("Add / change", "probe-apply", "primary"), width=2, className="mb-1 align-self-end"),
        ],
        className="g-1",
    )


def probes_card(ctx: PageContext) -> Any:
    """The panel: the table, the form and notes on what can change live."""
    view: ProbesView = ctx.probes
    return dbc.Card(
        [
            card_header("Probes", html.Span(probes_status(view), id="probe-status", className="ms-1", role="status")),
            dbc.CardBody(
                [
                    html.Div(probes_table(view), id="probes-table", className="ll-probes-box"),
                    probe_form(),
                    html.Div(id="probe-message", className="small", role="status"),
                    html.Div(
                        f"Refitted at every map refresh on at most {view.max_train:,} training rows and scored on the "
                        "test split (latentloop probe fits on all rows). Colour the map with the Probe mode. "
                        "Auxiliary tasks (weight > 0) are part of the model: they change by forking a checkpoint.",
                        className="small text-muted",
                    ),
                    dcc.Store(id="probe-store", data=None),  # the Probe colour mode's marker (sync)
                    dcc.Store(id="probe-want", data=None),  # clientside.js: "the tab switched to the Probe mode"
                ],
                className="p-2",
            ),
        ]
    )
