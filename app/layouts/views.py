"""Components for the parts of the page that change (pure functions of service views)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from app.figures import palette
from app.services.candidates import EXTERNAL
from app.services.label_issues import SUSPICIOUS
from app.viewmodels import QueueView, SampleView, StatsView
from workers.saliency import overlay_png, png_b64


def _swatch(cls: int, n: int) -> html.Span:
    return html.Span(className="ll-swatch", style={"background": palette(n)[cls % max(n, 1)]})


def sample_panel(view: SampleView | None) -> Any:
    """The selected sample or a hint when none is selected."""
    if view is None:
        return html.Div(
            [
                html.P("No sample selected.", className="mb-1 fw-semibold"),
                html.P(
                    ["Click a point on the map, or press ", html.Kbd("n"), " for the next candidate."],
                    className="text-muted small mb-0",
                ),
            ],
            className="ll-sample-empty",
        )
    n = view.num_classes
    label_txt = "none" if view.label is None else str(view.label)
    rows = [
        html.Div(
            [
                html.Figure(
                    [
                        html.Img(src=view.image, className="ll-digit", alt=f"sample {view.serial}"),
                        html.Figcaption("image"),
                    ],
                    className="ll-fig",
                ),
                html.Figure(
                    [
                        html.Img(src=view.recon, className="ll-digit", alt="reconstruction")
                        if view.recon
                        else html.Div("n/a", className="ll-digit ll-na"),
                        html.Figcaption("reconstruction"),
                    ],
                    className="ll-fig",
                ),
                html.Div(
                    [
                        html.Div(
                            [
                                html.Span(f"#{view.serial}", className="fw-bold me-2", id="sample-serial"),
                                dbc.Badge(
                                    view.split,
                                    color="secondary" if view.split == "train" else "warning",
                                    className="me-1",
                                ),
                            ]
                        ),
                        html.Div(
                            [
                                "label ",
                                html.Strong(
                                    label_txt,
                                    id="sample-label",
                                    className="ll-label-set" if view.label is not None else "",
                                ),
                            ],
                            className="small",
                        ),
                        html.Div(["true ", html.Strong(str(view.true))], className="small"),
                        *issue_line(view),
                        html.Table(
                            [
                                html.Tbody(
                                    [
                                        html.Tr(
                                            [
                                                html.Td(_swatch(c, n)),
                                                html.Td(str(c), className="pe-2"),
                                                html.Td(
                                                    dbc.Progress(
                                                        value=round(p * 100),
                                                        className="ll-prob",
                                                        style={"width": "70px"},
                                                    )
                                                ),
                                                html.Td(f"{p:.2f}", className="ps-1"),
                                            ]
                                        )
                                        for c, p in view.top
                                    ]
                                )
                            ],
                            className="ll-top3 small mt-1",
                        ),
                    ],
                    className="ll-sample-info",
                ),
            ],
            className="ll-sample-row",
        )
    ]
    if view.split == "train":
        rows.append(
            html.Div(
                [
                    html.Button(
                        str(c),
                        className="btn btn-sm ll-label-btn" + (" active" if view.label == c else ""),
                        **{"data-label": str(c), "title": f"label as {c} (key {c})" if c < 10 else f"label as {c}"},
                    )
                    for c in range(n)
                ],
                className="ll-label-buttons mt-2",
            )
        )
    else:
        rows.append(
            html.P(
                "Held-out test image: used for test accuracy, never labelled.", className="text-muted small mt-2 mb-0"
            )
        )
    return html.Div(rows)


def issue_line(view: SampleView) -> list[Any]:
    """A labelled sample's given label next to the one the label-issue ranking suggests, with
    its quality score and the accept button (key a); nothing for an unlabelled sample."""
    issue = view.issue
    if issue is None:
        return []
    agree = issue.suggested == issue.given
    return [
        html.Div(
            [
                "given ",
                html.Strong(str(issue.given), id="sample-given"),
                " · suggested ",
                html.Strong(
                    str(issue.suggested), id="sample-suggested", className="" if agree else "ll-suggest-differs"
                ),
                f" ({issue.suggested_prob:.2f}) · quality {issue.quality:.2f}",
            ],
            className="small",
            title=issue.reason(),
        ),
        html.Div(
            dbc.Badge("accepted as right", color="success", id="sample-accepted")
            if issue.accepted
            else html.Button(
                "accept label",
                className="btn btn-sm btn-outline-success ll-accept-btn py-0",
                title="this label is right: stop suggesting it (key a)",
            ),
            className="small mt-1",
        ),
    ]


def raw_html(markup: str, class_name: str = "", id_: str | None = None) -> Any:
    """Static markup as ONE Dash component. Each Dash component is wired to the page's store and
    does work on every callback round trip (tens of ms per round trip in total for a few hundred of
    them on this CPU), so long lists go to the browser as markup; keyboard.js handles their clicks
    by delegation. Callers escape every text they put in."""
    props = {"id": id_} if id_ else {}
    return dcc.Markdown(markup, dangerously_allow_html=True, dedent=False, className=class_name, **props)


def queue_list(view: QueueView, selected: int | None = None) -> Any:
    """The candidate queue. Forecast candidates carry a reason."""
    if not view.items:
        if view.strategy in (EXTERNAL, SUSPICIOUS) or view.source.startswith("error"):
            text = view.source
        else:
            text = "Nothing to suggest: every training sample is labelled."
        return html.P(text, className="text-muted small mb-0", id="queue-empty")
    rows = []
    for i, c in enumerate(view.items):
        pred = f"pred {c.predicted}" if c.predicted >= 0 else ""
        cert = f"{c.certainty:.2f}" if c.certainty == c.certainty else ""
        why = f'<div class="ll-q-why">{escape(c.why)}</div>' if c.why else ""
        sel = " selected" if c.serial == selected else ""
        rows.append(
            f'<li class="ll-queue-item{sel}" data-serial="{int(c.serial)}" data-pos="{i}">'
            f'<span class="ll-q-serial">#{int(c.serial)}</span>'
            f'<span class="ll-q-score" title="acquisition score (higher = more useful)">{c.score:.3f}</span>'
            f'<span class="ll-q-pred">{pred}</span><span class="ll-q-cert" title="certainty">{cert}</span>'
            f"{why}</li>"
        )
    return raw_html(f'<ol class="ll-queue">{"".join(rows)}</ol>')


def class_bars(per_class: Sequence[int]) -> Any:
    """Labelled count per class as a small HTML bar chart (cheaper to update than a plotly figure,
    which matters because it changes with every label)."""
    n = len(per_class)
    top = max(max(per_class, default=0), 1)
    cols = palette(n)
    bars = "".join(
        f'<div class="ll-bar-col" data-class="{i}" data-count="{int(c)}">'
        f'<div class="ll-bar" title="class {i}: {int(c)} labels"><div class="ll-bar-fill" '
        f'style="height: {100 * c / top:.1f}%; background: {cols[i]}"></div></div>'
        f'<div class="ll-bar-n">{int(c)}</div><div class="ll-bar-label">{i}</div></div>'
        for i, c in enumerate(per_class)
    )
    return raw_html(f'<div class="ll-bars">{bars}</div>', id_="stats-bars")


def stats_text(view: StatsView) -> Any:
    """Totals under the per-class bar chart."""
    acc = "n/a" if view.test_acc is None else f"{view.test_acc:.3f}"
    step = "" if view.test_acc_step is None else f" (step {view.test_acc_step})"
    items = [
        html.Div([html.Span("labelled "), html.Strong(str(view.labelled), id="stat-labelled")]),
        html.Div([html.Span("unlabelled "), html.Strong(str(view.unlabelled), id="stat-unlabelled")]),
        html.Div(
            [html.Span("test accuracy "), html.Strong(acc, id="stat-test-acc"), html.Span(step, className="text-muted")]
        ),
        html.Div(
            [html.Span("added by the CLI since this page opened "), html.Strong(str(view.cli_added), id="stat-cli")]
        ),
    ]
    if view.error:
        items.append(dbc.Alert(view.error, color="danger", className="small p-1 mt-1 mb-0"))
    return html.Div(items, className="small ll-stats")


def field_errors(errors: dict[str, str]) -> Any:
    if not errors:
        return None
    return dbc.Alert([html.Div(msg) for msg in errors.values()], color="danger", className="small p-2 mb-1")


TRAIN_BUTTONS = ("btn-start", "btn-pause", "btn-resume", "btn-stop")


def training_buttons_disabled(state: str) -> dict[str, bool]:
    """Which training buttons are disabled in a session state: Start while a run is alive, Pause
    unless running, Resume unless paused, Stop unless running or paused."""
    alive = state in ("starting", "running", "paused", "stopping")
    enabled = {
        "btn-start": not alive,
        "btn-pause": state in ("starting", "running"),
        "btn-resume": state == "paused",
        "btn-stop": state in ("starting", "running", "paused"),
    }
    return {b: not enabled[b] for b in TRAIN_BUTTONS}


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


def branch_tree(rows: Sequence[dict[str, Any]]) -> Any:
    """The checkpoints as a tree: each branch under its parent, with the step it was forked at and
    what it changed (engine.training.fork.branch_tree; markup, no components per row)."""
    from engine.training.fork import branch_tree as tree_order

    items = []
    for depth, r in tree_order(list(rows)):
        if "error" in r:
            text = f"{r['name']} (unreadable)"
            title = str(r["error"])
        else:
            acc = (r.get("metrics") or {}).get("test_acc")
            acc_text = f", acc {acc:.3f}" if isinstance(acc, (int, float)) and acc == acc else ""
            text = f"{r['name']} · step {r.get('step')}{acc_text}"
            fork = r.get("fork") or {}
            diff = fork.get("diff") or {}
            title = (
                f"forked from {fork.get('parent')} at step {fork.get('step')}: "
                + ("; ".join(f"{k}: {v.get('from')} -> {v.get('to')}" for k, v in diff.items()) or "same config")
                if fork
                else "a root checkpoint"
            )
            if diff:
                text += f" · {len(diff)} change{'s' if len(diff) > 1 else ''}"
        items.append(html.Li(("└ " if depth else "") + text, title=title, style={"paddingLeft": f"{depth}em"}))
    return html.Ul(items, className="list-unstyled mb-0", **{"aria-label": "branches"}) if items else ""


# -- saliency, feedback, workers ------------------------------------------------------------------------

METHOD_NAMES = {"gradcam": "Grad-CAM", "smoothgrad": "SmoothGrad", "consensus": "consensus"}


def _png_uri(b64: str) -> str:
    return "data:image/png;base64," + b64


def xai_panel(answer: Any, image: Any = None) -> Any:
    """The saliency of one sample (an :class:`app.services.workers.XaiAnswer`): Grad-CAM,
    SmoothGrad and their consensus as overlays (the consensus with the focus box), the agreement
    between the two methods, and what the result is about (target, snapshot step, time)."""
    if answer is None:
        return html.Div()
    if answer.state != "ready":
        return html.Div(answer.message, className="small text-muted ll-xai-msg", **{"data-state": answer.state})
    r = answer.result
    figs = []
    for m in ("gradcam", "smoothgrad", "consensus"):
        if m not in r.maps:
            continue
        if m == "consensus":
            src = _png_uri(r.overlay_png_b64)  # drawn by the worker, with the focus box
        else:
            src = _png_uri(png_b64(overlay_png(image, np.asarray(r.maps[m], np.float32), None)))
        figs.append(
            html.Figure(
                [
                    html.Img(src=src, className="ll-digit ll-xai-img", alt=f"{m} of #{r.sample_idx}"),
                    html.Figcaption(METHOD_NAMES[m]),
                ],
                className="ll-fig",
                **{"data-method": m},
            )
        )
    agree = r.agreement or {}
    if agree:
        agree_txt = (
            f"methods agree: r = {agree.get('correlation', float('nan')):.2f}, "
            f"top-10% overlap {agree.get('top_overlap', float('nan')):.2f}"
        )
    else:
        agree_txt = ""
    box = r.focus_bbox
    box_txt = (
        f"focus box x {box[0]:.2f}-{box[2]:.2f}, y {box[1]:.2f}-{box[3]:.2f}" if box else "no single region stands out"
    )
    kind = {"pred": "predicted", "true": "true label", "class": "chosen class"}.get(r.target_kind, r.target_kind)
    top = ", ".join(f"{int(t['class'])}: {float(t['p']):.2f}" for t in r.top_k)
    return html.Div(
        [
            html.Div(figs, className="ll-sample-row"),
            html.Div(
                [
                    html.Span(f"explains class {r.target} ({kind})", className="me-2"),
                    html.Span(f"top: {top}", className="text-muted"),
                ],
                className="small",
            ),
            html.Div([html.Span(agree_txt + (" · " if agree_txt else "")), html.Span(box_txt)], className="small"),
            html.Div(
                f"snapshot step {r.snapshot_step} · {'cached' if r.cached else f'{r.ms:.0f} ms'}",
                className="small text-muted",
                id="xai-meta",
            ),
        ],
        **{"data-serial": str(r.sample_idx), "data-step": str(r.snapshot_step), "data-state": "ready"},
    )


def feedback_list(items: Sequence[Any], error: str = "") -> Any:
    """Every stored feedback box with a button to remove it."""
    if error:
        return dbc.Alert(error, color="danger", className="small p-1 mb-0")
    if not items:
        return html.P("No feedback boxes yet.", className="small text-muted mb-0")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(f"#{i.sample_idx}", className="fw-semibold me-2"),
                    html.Span(
                        f"x {i.x0:.2f}-{i.x1:.2f} y {i.y0:.2f}-{i.y1:.2f} · strength {i.strength:.2f}", className="me-2"
                    ),
                    html.Span(f"“{i.instruction}”" if i.instruction else "", className="text-muted me-2"),
                    html.Button(
                        "remove",
                        id={"type": "fb-rm", "serial": int(i.sample_idx)},
                        className="btn btn-link btn-sm p-0",
                        title=f"remove the box of #{i.sample_idx}",
                    ),
                ],
                className="small",
                **{"data-serial": str(i.sample_idx)},
            )
            for i in items
        ],
        className="ll-fb-list mb-0",
    )


STATE_DOTS = {
    "running": "ll-dot-ok",
    "starting": "ll-dot-wait",
    "restarting": "ll-dot-bad",
    "stopped": "ll-dot-off",
    "failed": "ll-dot-bad",
}


def worker_status(status: dict[str, Any]) -> Any:
    """One line for the navbar: each child process and the forecast's review window."""
    if not status["workers"]:
        return html.Span("workers off", className="text-light")
    parts = []
    for w in status["workers"]:
        title = f"pid {w.pid}, restarts {w.restarts}" + (f", last: {w.last_error}" if w.last_error else "")
        parts.append(
            html.Span(
                [
                    html.Span(className=f"ll-dot {STATE_DOTS.get(w.state, 'll-dot-off')}"),
                    f"{w.name} {w.state}" + (f" ({w.restarts}x restarted)" if w.restarts else ""),
                ],
                className="me-2 text-light",
                title=title,
                **{"data-worker": w.name, "data-state": w.state},
            )
        )
    f = status["forecast"]
    if status.get("forecast_error"):
        parts.append(html.Span(f"forecast error: {status['forecast_error']}", className="text-warning"))
    elif f is not None:
        parts.append(
            html.Span(
                "review window open" if f.window_open else "review window closed",
                className="text-light",
                title=f.reason,
                id="review-window",
                **{"data-open": "1" if f.window_open else "0"},
            )
        )
    return html.Span(parts)
