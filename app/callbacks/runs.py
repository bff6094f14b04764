"""Runs page: the run table (read when the page is shown or on Refresh), sorting, opening a run,
comparing ticked runs and loading a run's checkpoint as a fork (app/services/runs.py)."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, State, html, no_update

from app.callbacks.wiring import connect, on_click
from app.layouts import checkpoints
from app.layouts import runs as layout
from app.services.runs import METRICS
from app.services.training import SessionError
from app.state import AppState
from engine.errors import LatentLoopError

RUNS_PATH = "/runs"
SORT = {"type": "runs-sort", "col": ALL}
PICK = {"type": "runs-pick", "run": ALL}
OPEN = {"type": "runs-open", "run": ALL}

TABLE_OUTPUTS = {"table": Output("runs-table", "children"), "status": Output("runs-status", "children")}
COMPARE_OUTPUTS = {
    "selected": Output("runs-selected", "data"),
    "figure": Output("runs-compare", "figure"),
    "note": Output("runs-compare-note", "children"),
    "probes": Output("runs-probes", "children"),
}
PROBE_OUTPUTS = {
    "status": Output("runs-probe-status", "children"),
    "poll": Output("runs-probe-poll", "disabled"),
    "probes": Output("runs-probes", "children", allow_duplicate=True),
}
OPEN_OUTPUTS = {
    "view": Output("runs-view", "children"),
    "run": Output("runs-open-id", "data"),
    "name": Output("runs-fork-name", "value"),
    "message": Output("runs-fork-message", "children"),
    "fork": Output("runs-fork", "disabled"),
}
FORK_OUTPUTS = {
    "message": Output("runs-fork-message", "children", allow_duplicate=True),
    "version": Output("map-version", "data", allow_duplicate=True),
    "options": Output("ckpt-select", "options", allow_duplicate=True),
    "value": Output("ckpt-select", "value", allow_duplicate=True),
}


def _message(text: str, ok: bool) -> Any:
    return html.Span(text, className="text-success" if ok else "text-danger")


def runs_table_outputs(
    state: AppState, fired: Any, path: str | None, sort: dict[str, Any] | None, selected: list[str] | None
) -> dict[str, Any]:
    """The table when the Runs page is shown, on Refresh (a full re-read) or after a sort change."""
    if fired in (None, "url") and path != RUNS_PATH:
        return dict.fromkeys(TABLE_OUTPUTS, no_update)  # another page: nothing to read
    sort = sort if isinstance(sort, dict) and sort.get("by") in dict(layout.COLUMNS) else layout.DEFAULT_SORT
    try:
        rows = state.runs.rows(sort["by"], bool(sort.get("desc")), force=fired == "runs-refresh")
    except (LatentLoopError, OSError) as err:
        return {"table": no_update, "status": _message(str(err), False)}
    bad = sum(1 for r in rows if r.error)
    kinds = [r.kind for r in rows]
    status = (
        f"{len(rows)} runs: {kinds.count('experiment')} experiments, {kinds.count('simulate')} simulations, "
        f"{kinds.count('branch')} checkpoints" + (f"; {bad} with problems" if bad else "")
    )
    return {"table": layout.runs_table(rows, sort, selected or []), "status": status}


def runs_sort_outputs(fired: Any, clicks: list[Any], ids: list[dict[str, Any]], sort: dict[str, Any] | None) -> Any:
    """A click on a sort header: sort by its column, or flip the order when it already sorts."""
    if not isinstance(fired, dict) or fired not in ids or not clicks[ids.index(fired)]:
        return no_update  # headers drawn again, not clicked
    col = fired["col"]
    sort = sort if isinstance(sort, dict) else layout.DEFAULT_SORT
    desc = not sort.get("desc") if sort.get("by") == col else col in layout.NUMERIC
    return {"by": col, "desc": desc}


def runs_compare_outputs(
    state: AppState, picks: list[Any], ids: list[dict[str, Any]], metric: str | None
) -> dict[str, Any]:
    """The ticked runs and their curves of ``metric`` on one chart (a note for runs without any)."""
    selected = [i["run"] for i, on in zip(ids, picks, strict=False) if on]
    metric = metric if metric in METRICS else "accuracy"
    what, x = METRICS[metric]
    try:
        series, notes = state.runs.curves(selected, metric)
    except (LatentLoopError, OSError) as err:
        series, notes = [], [str(err)]
    if len(selected) < 2:
        notes = [f"{len(selected)} run ticked: tick two or more to compare them", *notes]
    title = f"{what} by {x}"
    return {
        "selected": selected,
        "figure": layout.compare_figure(series, title, x),
        "note": "; ".join(notes),
        "probes": layout.probe_table(*state.runs.probe_table(selected)),
    }


def runs_probe_outputs(state: AppState, fired: Any, selected: list[str] | None) -> dict[str, Any]:
    """The Probe button starts a background job; the poll follows it and shows the table when done."""
    if fired == "runs-probe":
        msg = state.runs.probe(selected or [])
        return {"status": msg, "poll": not state.runs.prober.running, "probes": no_update}
    running = state.runs.prober.running
    return {
        "status": state.runs.prober.status(),
        "poll": not running,
        "probes": no_update if running else layout.probe_table(*state.runs.probe_table(selected or [])),
    }


def runs_open_outputs(state: AppState, fired: Any, clicks: list[Any], ids: list[dict[str, Any]]) -> dict[str, Any]:
    """A click on a run's name: show the run and suggest a name for its fork."""
    if not isinstance(fired, dict) or fired not in ids or not clicks[ids.index(fired)]:
        return dict.fromkeys(OPEN_OUTPUTS, no_update)
    try:
        view = state.runs.open(fired["run"])
    except (LatentLoopError, OSError) as err:
        return {"view": layout.run_view(None, str(err)), "run": None, "name": no_update, "message": "", "fork": True}
    name = f"{view.checkpoint}-fork" if view.checkpoint else ""
    return {
        "view": layout.run_view(view),
        "run": fired["run"],
        "name": name,
        "message": "",
        "fork": view.checkpoint is None,
    }


def runs_fork_outputs(state: AppState, run: str | None, name: str | None) -> dict[str, Any]:
    """Load as fork: copy the open run's checkpoint under ``name`` and load it into the Label page."""
    out: dict[str, Any] = dict.fromkeys(FORK_OUTPUTS, no_update)
    name = (name or "").strip()
    try:
        if not run:
            raise ValueError("open a run first (click its name)")
        if not name:
            raise ValueError("enter a new checkpoint name for the fork")
        msg = state.runs.fork(run, name)
    except (LatentLoopError, SessionError, ValueError) as err:
        out["message"] = _message(str(err), False)
        return out
    out["message"] = _message(msg, True)
    out["version"] = {"version": state.cache.version}
    out["options"] = checkpoints.checkpoint_options(state.ckpt.list())
    out["value"] = name
    return out


def register(app: Any, state: AppState) -> None:
    connect(
        app,
        TABLE_OUTPUTS,
        {
            "path": Input("url", "pathname"),
            "refresh": Input("runs-refresh", "n_clicks"),
            "sort": Input("runs-sort", "data"),
        },
        {"selected": State("runs-selected", "data")},
        lambda fired, path, refresh, sort, selected: runs_table_outputs(state, fired, path, sort, selected),
    )
    # Header buttons, ticks and names are drawn by the table callback: prevent_initial_call keeps
    # their appearance from counting as a click, and the bodies check the click count as well.
    connect(
        app,
        {"sort": Output("runs-sort", "data")},
        {"clicks": Input(SORT, "n_clicks")},
        {"ids": State(SORT, "id"), "sort": State("runs-sort", "data")},
        lambda fired, clicks, ids, sort: {"sort": runs_sort_outputs(fired, clicks, ids, sort)},
        prevent_initial_call=True,
    )
    connect(
        app,
        COMPARE_OUTPUTS,
        {"picks": Input(PICK, "value"), "metric": Input("runs-metric", "value")},
        {"ids": State(PICK, "id")},
        lambda fired, picks, metric, ids: runs_compare_outputs(state, picks, ids, metric),
        prevent_initial_call=True,
    )
    connect(
        app,
        OPEN_OUTPUTS,
        {"clicks": Input(OPEN, "n_clicks")},
        {"ids": State(OPEN, "id")},
        lambda fired, clicks, ids: runs_open_outputs(state, fired, clicks, ids),
        prevent_initial_call=True,
    )
    connect(
        app,
        PROBE_OUTPUTS,
        {"clicks": Input("runs-probe", "n_clicks"), "tick": Input("runs-probe-poll", "n_intervals")},
        {"selected": State("runs-selected", "data")},
        lambda fired, clicks, tick, selected: runs_probe_outputs(state, fired, selected),
        prevent_initial_call=True,
    )
    on_click(
        app,
        FORK_OUTPUTS,
        ["runs-fork"],
        {"run": State("runs-open-id", "data"), "name": State("runs-fork-name", "value")},
        lambda pressed, run, name: runs_fork_outputs(state, run, name),
    )
