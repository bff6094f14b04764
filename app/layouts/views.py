"""Components for the parts of the page that change (pure functions of service views)."""
from __future__ import annotations

from typing import Any, Sequence

import dash_bootstrap_components as dbc
from dash import html

from app.figures import palette


def _swatch(cls: int, n: int) -> html.Span:
    return html.Span(className="ll-swatch", style={"background": palette(n)[cls % max(n, 1)]})


def sample_panel(view: Any) -> Any:
    """The selected sample (a :class:`app.state.SampleView`) or a hint when none is selected."""
    if view is None:
        return html.Div([
            html.P("No sample selected.", className="mb-1 fw-semibold"),
            html.P(["Click a point on the map, or press ", html.Kbd("n"), " for the next candidate."],
                   className="text-muted small mb-0"),
        ], className="ll-sample-empty")
    n = view.num_classes
    label_txt = "none" if view.label is None else str(view.label)
    rows = [
        html.Div([
            html.Figure([html.Img(src=view.image, className="ll-digit", alt=f"sample {view.serial}"),
                         html.Figcaption("image")], className="ll-fig"),
            html.Figure([html.Img(src=view.recon, className="ll-digit", alt="reconstruction") if view.recon
                         else html.Div("n/a", className="ll-digit ll-na"),
                         html.Figcaption("reconstruction")], className="ll-fig"),
            html.Div([
                html.Div([html.Span(f"#{view.serial}", className="fw-bold me-2", id="sample-serial"),
                          dbc.Badge(view.split, color="secondary" if view.split == "train" else "warning",
                                    className="me-1")]),
                html.Div(["label ", html.Strong(label_txt, id="sample-label",
                                                className="ll-label-set" if view.label is not None else "")],
                         className="small"),
                html.Div(["true ", html.Strong(str(view.true))], className="small"),
                html.Table([
                    html.Tbody([html.Tr([html.Td(_swatch(c, n)), html.Td(str(c), className="pe-2"),
                                         html.Td(dbc.Progress(value=round(p * 100), className="ll-prob",
                                                              style={"width": "70px"})),
                                         html.Td(f"{p:.2f}", className="ps-1")]) for c, p in view.top])
                ], className="ll-top3 small mt-1"),
            ], className="ll-sample-info"),
        ], className="ll-sample-row"),
    ]
    if view.split == "train":
        rows.append(html.Div([
            html.Button(str(c), className="btn btn-sm ll-label-btn" + (" active" if view.label == c else ""),
                        **{"data-label": str(c), "title": f"label as {c} (key {c})" if c < 10 else f"label as {c}"})
            for c in range(n)
        ], className="ll-label-buttons mt-2"))
    else:
        rows.append(html.P("Held-out test image: used for test accuracy, never labelled.",
                           className="text-muted small mt-2 mb-0"))
    return html.Div(rows)


def queue_list(view: Any, selected: int | None = None) -> Any:
    """The candidate queue (a :class:`app.state.QueueView`)."""
    if not view.items:
        return html.P("Nothing to suggest: every training sample is labelled." if not view.source.startswith("error")
                      else view.source, className="text-muted small mb-0")
    return html.Ol([
        html.Li([html.Span(f"#{c.serial}", className="ll-q-serial"),
                 html.Span(f"{c.score:.3f}", className="ll-q-score", title="acquisition score (higher = more useful)"),
                 html.Span(f"pred {c.predicted}" if c.predicted >= 0 else "", className="ll-q-pred"),
                 html.Span(f"{c.certainty:.2f}" if c.certainty == c.certainty else "", className="ll-q-cert",
                           title="certainty")],
                className="ll-queue-item" + (" selected" if c.serial == selected else ""),
                **{"data-serial": str(c.serial), "data-pos": str(i)})
        for i, c in enumerate(view.items)
    ], className="ll-queue")


def class_bars(per_class: Sequence[int]) -> Any:
    """Labelled count per class as a small HTML bar chart (cheaper to update than a plotly figure,
    which matters because it changes with every label)."""
    n = len(per_class)
    top = max(max(per_class, default=0), 1)
    cols = palette(n)
    return html.Div([
        html.Div([
            html.Div(html.Div(className="ll-bar-fill", style={"height": f"{100 * c / top:.1f}%", "background": cols[i]}),
                     className="ll-bar", title=f"class {i}: {c} labels"),
            html.Div(str(c), className="ll-bar-n"),
            html.Div(str(i), className="ll-bar-label"),
        ], className="ll-bar-col", **{"data-class": str(i), "data-count": str(c)})
        for i, c in enumerate(per_class)
    ], className="ll-bars", id="stats-bars")


def stats_text(view: Any) -> Any:
    """Totals under the per-class bar chart (a :class:`app.state.StatsView`)."""
    acc = "n/a" if view.test_acc is None else f"{view.test_acc:.3f}"
    step = "" if view.test_acc_step is None else f" (step {view.test_acc_step})"
    items = [
        html.Div([html.Span("labelled "), html.Strong(str(view.labelled), id="stat-labelled")]),
        html.Div([html.Span("unlabelled "), html.Strong(str(view.unlabelled), id="stat-unlabelled")]),
        html.Div([html.Span("test accuracy "), html.Strong(acc, id="stat-test-acc"), html.Span(step, className="text-muted")]),
        html.Div([html.Span("added by the CLI since this page opened "), html.Strong(str(view.cli_added), id="stat-cli")]),
    ]
    if view.error:
        items.append(dbc.Alert(view.error, color="danger", className="small p-1 mt-1 mb-0"))
    return html.Div(items, className="small ll-stats")


def field_errors(errors: dict[str, str]) -> Any:
    if not errors:
        return None
    return dbc.Alert([html.Div(msg) for msg in errors.values()], color="danger", className="small p-2 mb-1")


def checkpoint_options(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if "error" in r:
            out.append({"label": f"{r['name']} (unreadable)", "value": r["name"], "disabled": True})
            continue
        acc = (r.get("metrics") or {}).get("test_acc")
        extra = f", acc {acc:.3f}" if isinstance(acc, (int, float)) and acc == acc else ""
        parent = f", from {r['parent']}" if r.get("parent") else ""
        out.append({"label": f"{r['name']} (step {r.get('step')}{extra}{parent})", "value": r["name"]})
    return out
