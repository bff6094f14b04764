"""The checkpoints card: the menu, Save/Load/Fork and the tree of branches, and their redraws."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from app.layouts.parts import card_header, small_button
from app.viewmodels import PageContext
from engine.stores.holdout import HELD_OUT

# per button id: label, colour, tooltip
CKPT_BUTTONS = {
    "btn-ckpt-save": ("Save", "primary", "save the current model under the name"),
    "btn-ckpt-load": ("Load", "secondary", "load the selected checkpoint (training must be stopped)"),
    "btn-ckpt-fork": (
        "Fork",
        "secondary",
        "branch the selected checkpoint into the name, with the changes below, and load the branch",
    ),
}


def checkpoints_card(ctx: PageContext) -> Any:
    """The checkpoint menu, the name to save as / fork to, the branch's changes, Save/Load/Fork and
    the tree of branches."""
    return dbc.Card(
        [
            card_header("Checkpoints"),
            dbc.CardBody(
                [
                    dbc.Label("checkpoint", html_for="ckpt-select", className="small mb-0"),
                    dcc.Dropdown(
                        id="ckpt-select",
                        options=checkpoint_options(ctx.checkpoints),
                        value=ctx.checkpoint if ctx.has_checkpoint else None,
                        clearable=False,
                        placeholder="no checkpoints yet",
                        className="mb-1 small",
                    ),
                    dbc.Label("name (save as / fork to)", html_for="ckpt-name", className="small mb-0"),
                    dbc.Input(id="ckpt-name", value=ctx.checkpoint, size="sm", className="mb-1"),
                    dbc.Label("branch changes (KEY=VALUE per line)", html_for="ckpt-changes", className="small mb-0"),
                    dbc.Textarea(
                        id="ckpt-changes",
                        placeholder="loss.alpha=2\ncurriculum.anneal_steps=300\n"
                        "tasks=[{name: ink, kind: regression, target: ink, input: 'z[0:2]', weight: 1}]",
                        rows=2,
                        size="sm",
                        className="mb-1 font-monospace",
                    ),
                    html.Div(
                        [
                            small_button(label, b, colour, title=title)
                            for b, (label, colour, title) in CKPT_BUTTONS.items()
                        ]
                    ),
                    html.Div(id="ckpt-message", className="small mt-1"),
                    html.Div(branch_tree(ctx.checkpoints), id="ckpt-tree", className="small mt-1 ll-tree"),
                ],
                className="p-2",
            ),
        ],
        className="h-100",
    )


def acc_short(row: dict[str, Any]) -> str:
    """A checkpoint's accuracy with its split (CheckpointStore.list's row), short: "test acc 0.971",
    "held-out acc 0.92 on 48 labels" (a dataset without test truth: never passed off as a test
    accuracy); "" without one."""
    m = row.get("metrics")
    m = m if isinstance(m, dict) else {}
    acc = m.get("test_acc")
    if not isinstance(acc, (int, float)) or acc != acc:
        return ""
    split = str(row.get("split") or "test")
    if split == HELD_OUT:
        return f"held-out acc {acc:.2f} on {m.get('n_test', '?')} labels"
    return f"{split} acc {acc:.3f}"


def checkpoint_options(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if "error" in r:
            out.append({"label": f"{r['name']} (unreadable)", "value": r["name"], "disabled": True})
            continue
        acc = acc_short(r)
        extra = f", {acc}" if acc else ""
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
            acc = acc_short(r)
            acc_text = f", {acc}" if acc else ""
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
