"""The navbar's worker line: its skeleton and its redraw (each child process and the forecast's
review window)."""

from __future__ import annotations

from typing import Any

from dash import html

STATE_DOTS = {
    "running": "ll-dot-ok",
    "starting": "ll-dot-wait",
    "restarting": "ll-dot-bad",
    "stopped": "ll-dot-off",
    "failed": "ll-dot-bad",
}


def worker_line() -> Any:
    """The line's place in the navbar (filled by the sync)."""
    return html.Span("", id="worker-status", className="small me-2 ll-workers")


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
                    f"{w.name} {w.state}"
                    + (f" on {w.extra['device']}" if w.extra.get("device") else "")
                    + (f" ({w.restarts}x restarted)" if w.restarts else ""),
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
