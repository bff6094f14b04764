"""The Runs page: the experiment and simulation runs under artifacts/ (docs/runs.md).

Pure functions of the context dict and the run views of app/services/runs.py: the sortable run table
(a tick per row to compare, the name opens the run), the compare chart, the opened run (plots,
metrics, config, REPORT.md) and the "Load as fork" control.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app import figures
from app.layouts.parts import card_header, menu, small_button
from app.viewmodels import PageContext, RunRow, RunSeries, RunView

# (sort key or "", header) of the table's columns after the tick; "" columns do not sort
COLUMNS = (
    ("name", "Name"),
    ("", "Kind"),
    ("date", "Date"),
    ("labels", "Labels"),
    ("accuracy", "Accuracy"),
    ("backend", "Backend"),
    ("steps", "Steps"),
)
DEFAULT_SORT: dict[str, Any] = {"by": "date", "desc": True}
NUMERIC = ("date", "labels", "accuracy", "steps")  # sorted high to low on the first click
GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


def runs_page(ctx: PageContext) -> Any:
    """The Runs page's cards (the table is filled when the page is shown)."""
    return dbc.Container(
        [
            dcc.Store(id="runs-sort", data=DEFAULT_SORT),
            dcc.Store(id="runs-selected", data=[]),
            dcc.Store(id="runs-open-id", data=None),
            dbc.Row(
                [
                    dbc.Col([runs_card(), compare_card(ctx)], lg=7, className="mb-2"),
                    dbc.Col(run_card(), lg=5, className="mb-2"),
                ],
                className="g-2",
            ),
        ],
        fluid=True,
        className="pt-2",
        id="runs-page",
    )


def runs_card() -> Any:
    return dbc.Card(
        [
            card_header(
                "Runs",
                small_button("Refresh", "runs-refresh", "secondary", outline=True, title="read artifacts/ again"),
                html.Span("", id="runs-status", className="small text-muted"),
            ),
            dbc.CardBody(html.Div(runs_table([], DEFAULT_SORT, []), id="runs-table"), className="p-2 ll-runs-box"),
        ],
        className="mb-2",
    )


def compare_card(ctx: PageContext) -> Any:
    return dbc.Card(
        [
            card_header("Compare", menu("runs-metric", ctx.run_metrics, "accuracy", "ll-runs-metric")),
            dbc.CardBody(
                [
                    dcc.Graph(id="runs-compare", figure=compare_figure([], "", ""), config=GRAPH_CONFIG),
                    html.Div("", id="runs-compare-note", className="small text-muted"),
                    html.Div(
                        [
                            small_button(
                                "Probe ticked checkpoints",
                                "runs-probe",
                                "secondary",
                                outline=True,
                                title="fit each ticked checkpoint's probes (its config's tasks) in the background",
                            ),
                            html.Span("", id="runs-probe-status", className="small text-muted ms-2", role="status"),
                        ],
                        className="mt-2",
                    ),
                    dcc.Interval(id="runs-probe-poll", interval=1500, disabled=True),
                    html.Div(probe_table([], []), id="runs-probes", className="mt-1"),
                ],
                className="p-2",
            ),
        ]
    )


def run_card() -> Any:
    return dbc.Card(
        [
            card_header("Run"),
            dbc.CardBody(
                [
                    html.Div(
                        dbc.InputGroup(
                            [
                                dbc.Input(id="runs-fork-name", placeholder="new checkpoint name", size="sm"),
                                dbc.Button(
                                    "Load as fork",
                                    id="runs-fork",
                                    color="primary",
                                    disabled=True,  # until a run with a checkpoint is open
                                    size="sm",
                                    title="copy the run's checkpoint under the new name and load it "
                                    "into the Label page (training must be stopped)",
                                ),
                            ],
                            size="sm",
                        ),
                        className="mb-1",
                    ),
                    html.Div("", id="runs-fork-message", className="small mb-2", role="status"),
                    html.Div(run_view(None), id="runs-view"),
                ],
                className="p-2",
            ),
        ]
    )


def _sort_header(key: str, title: str, sort: dict[str, Any]) -> Any:
    if not key:
        return html.Th(title)
    arrow = (" ▼" if sort.get("desc") else " ▲") if sort.get("by") == key else ""
    return html.Th(
        html.Button(
            title + arrow, id={"type": "runs-sort", "col": key}, className="btn btn-link btn-sm p-0 ll-sort-head"
        )
    )


def _row(r: RunRow, picked: bool) -> Any:
    acc = "" if r.accuracy is None else f"{r.accuracy:.4f}"
    name: list[Any] = [
        html.Button(r.name, id={"type": "runs-open", "run": r.id}, className="btn btn-link btn-sm p-0 text-start")
    ]
    if r.error:
        name.append(html.Div(r.error, className="small text-danger ll-run-error"))
    return html.Tr(
        [
            html.Td(dbc.Checkbox(id={"type": "runs-pick", "run": r.id}, value=picked), title="tick to compare"),
            html.Td(name),
            html.Td(r.kind),
            html.Td(r.date, className="text-nowrap"),
            html.Td("" if r.labels is None else f"{r.labels:,}"),
            html.Td([acc, html.Span(f" {r.accuracy_of}", className="text-muted small") if acc else ""]),
            html.Td(r.backend or ""),
            html.Td("" if r.steps is None else f"{r.steps:,}"),
        ],
        className="table-warning" if r.error else "",
        title=r.path,
    )


def runs_table(rows: Sequence[RunRow], sort: dict[str, Any], selected: Sequence[str]) -> Any:
    """The run table: sort headers, one row per run (ticked if in ``selected``)."""
    if not rows:
        return html.Div(
            "No runs yet: `latentloop experiment` and `latentloop simulate` write them under artifacts/.",
            className="small text-muted",
        )
    head = html.Thead(html.Tr([html.Th(""), *[_sort_header(k, t, sort) for k, t in COLUMNS]]))
    body = html.Tbody([_row(r, r.id in selected) for r in rows])
    return dbc.Table([head, body], size="sm", hover=True, className="mb-0 small ll-runs-table")


def compare_figure(series: Sequence[RunSeries], title: str, x_title: str) -> dict[str, Any]:
    """The compare chart: one line (with markers) per series."""
    if not series:
        return figures.empty_map("tick two or more runs to compare them", transparent=True)
    names = [s.name for s in series]
    fig = figures.curve_figure(names, {s.name: (s.x, s.y) for s in series}, title=title)
    for trace in fig["data"]:
        trace["mode"] = "lines+markers"
    fig["layout"].update(height=300, uirevision=f"runs:{title}:{x_title}")
    fig["layout"]["xaxis"]["title"] = {"text": x_title, "font": {"size": 11}}
    fig["layout"]["legend"]["y"] = -0.3
    return fig


def probe_table(names: Sequence[str], rows: Sequence[tuple[str, Sequence[float | None]]]) -> Any:
    """The ticked checkpoints' newest probe results side by side (task.metric x checkpoint)."""
    if not names:
        return html.Div("Tick checkpoints (kind branch) to compare their probes.", className="small text-muted")
    if not rows:
        return html.Div(
            "No probe results for the ticked checkpoints yet: press Probe, or run latentloop probe.",
            className="small text-muted",
        )
    head = html.Thead(html.Tr([html.Th("probe")] + [html.Th(n) for n in names]))
    body = html.Tbody(
        [html.Tr([html.Td(k)] + [html.Td("-" if v is None else f"{v:.4g}") for v in vals]) for k, vals in rows]
    )
    return dbc.Table([head, body], size="sm", className="mb-0 small", id="runs-probe-table")


def run_view(view: RunView | None, error: str = "") -> Any:
    """The opened run: name, problems, plots, metrics, config and report."""
    if view is None:
        text = error or "Click a run's name to see its plots, metrics, config and report."
        return html.Div(text, className="small " + ("text-danger" if error else "text-muted"))
    r = view.row
    parts: list[Any] = [
        html.H6(f"{r.name} ({r.kind}, {r.date})", className="mb-1"),
        html.Div(r.path, className="small text-muted mb-2 text-break"),
    ]
    if view.problems:
        parts.append(dbc.Alert([html.Div(p) for p in view.problems], color="warning", className="py-1 px-2 small mb-2"))
    if view.checkpoint is None and r.kind != "branch":
        parts.append(html.Div("This run has no checkpoint to load.", className="small text-muted mb-2"))
    parts += [
        html.Figure([html.Img(src=uri, alt=name, className="ll-run-plot"), html.Figcaption(name)], className="mb-2")
        for name, uri in view.plots
    ]
    if view.metrics:
        rows = [html.Tr([html.Td(k, className="text-break"), html.Td(v)]) for k, v in view.metrics]
        table = dbc.Table(html.Tbody(rows), size="sm", className="mb-0 small")
        parts.append(html.Details([html.Summary("Metrics"), html.Div(table, className="ll-run-metrics")], open=True))
    if view.config:
        parts.append(html.Details([html.Summary("Config"), html.Pre(view.config, className="small ll-run-config")]))
    if view.report:
        parts.append(
            html.Details([html.Summary("REPORT.md"), dcc.Markdown(view.report, className="small ll-run-report")])
        )
    return html.Div(parts, id="runs-view-body")
