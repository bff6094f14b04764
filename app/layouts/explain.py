"""The sample's explanation section: the saliency panel and the feedback box editor, and their redraws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
import numpy as np
from dash import Output, dcc, html

from app import feedback_figures
from app.classnames import name_of
from app.layouts.parts import menu, small_button
from app.viewmodels import PageContext
from engine.images import overlay_png, png_b64


def xai_targets(names: Sequence[str], has_truth: bool = True) -> list[dict[str, Any]]:
    """The saliency target menu: the predicted class, the true label (only where the dataset knows
    every true class), or any class (by name)."""
    true = [{"label": "true label", "value": "true"}] if has_truth else []
    return [{"label": "predicted class", "value": "pred"}, *true] + [
        {"label": f"class {name}", "value": str(c), "title": name} for c, name in enumerate(names)
    ]


def explain_section(ctx: PageContext) -> Any:
    """Saliency of the selected sample (XAI worker) and the feedback box editor."""
    return html.Div(
        [
            html.Div(
                [
                    html.Span("Why", className="fw-semibold me-2"),
                    menu("xai-target", xai_targets(ctx.class_names, ctx.has_truth), "pred", "ll-xai-target"),
                    html.Span("", id="xai-status", className="small text-muted ms-2"),
                ],
                className="d-flex align-items-center mt-2 mb-1",
            ),
            html.Div(id="xai-panel", className="ll-xai"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span("Where should it look?", className="fw-semibold me-2"),
                            html.Span("drag a box on the image, or type where", className="small text-muted"),
                        ],
                        className="mt-2",
                    ),
                    html.Div(
                        [
                            dcc.Graph(
                                id="fb-graph",
                                figure=feedback_figures.feedback_figure(None),
                                config=feedback_figures.FEEDBACK_CONFIG,
                                className="ll-fb-graph",
                            ),
                            html.Div(
                                [
                                    dbc.Input(
                                        id="fb-text",
                                        size="sm",
                                        placeholder="e.g. focus center · ignore the borders · top-left · strength 0.3",
                                        debounce=False,
                                        className="mb-1",
                                    ),
                                    html.Div(id="fb-parsed", className="small mb-1 ll-fb-parsed"),
                                    small_button("Apply", "fb-apply", "primary", disabled=True),
                                    small_button("Remove box", "fb-remove", "secondary", outline=True),
                                    html.Div(id="fb-message", className="small mt-1", role="status"),
                                ],
                                className="ll-fb-controls",
                            ),
                        ],
                        className="ll-fb-row",
                    ),
                ],
                id="fb-section",
                style={"display": "none"},
            ),
            html.Details(
                [html.Summary("all feedback boxes", className="small"), html.Div(id="fb-list")],
                className="mt-1",
                id="fb-details",
            ),
        ]
    )


METHOD_NAMES = {"gradcam": "Grad-CAM", "smoothgrad": "SmoothGrad", "consensus": "consensus"}


def _png_uri(b64: str) -> str:
    return "data:image/png;base64," + b64


def xai_panel(answer: Any, image: Any = None, names: Sequence[str] = ()) -> Any:
    """The saliency of one sample (an :class:`app.services.workers.XaiAnswer`): Grad-CAM,
    SmoothGrad and their consensus as overlays (the consensus with the focus box), the agreement
    between the two methods, and what the result is about (target, snapshot step, time);
    ``names``: the class names (the numbers where empty)."""
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
    top = ", ".join(f"{name_of(names, int(t['class']))}: {float(t['p']):.2f}" for t in r.top_k)
    return html.Div(
        [
            html.Div(figs, className="ll-sample-row"),
            html.Div(
                [
                    html.Span(f"explains class {name_of(names, int(r.target))} ({kind})", className="me-2"),
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


def view_outputs(duplicate: bool) -> dict[str, Output]:
    """The feedback editor's outputs (``duplicate``: written by a callback other than the sync)."""
    return {
        "figure": Output("fb-graph", "figure", allow_duplicate=duplicate),
        "style": Output("fb-section", "style", allow_duplicate=duplicate),
        "serial": Output("fb-serial", "data", allow_duplicate=duplicate),
        "box": Output("fb-box", "data", allow_duplicate=duplicate),
        "parsed": Output("fb-parsed", "children", allow_duplicate=duplicate),
        "apply_disabled": Output("fb-apply", "disabled", allow_duplicate=duplicate),
    }


# The sync owns these outputs (a new selection); the feedback view's and the saliency's own
# callbacks (a drawn box, the text, the target menu, the poll) write them as duplicates.
SELECTION_OUTPUTS = {
    "xai_panel": Output("xai-panel", "children"),
    "xai_status": Output("xai-status", "children"),
    "xai_poll_off": Output("xai-interval", "disabled"),
    **{f"fb_{k}": o for k, o in view_outputs(False).items()},
}
