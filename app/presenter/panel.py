"""A panel of the Label page as the sync sees it, and what one sync knows when it asks a panel.

A :class:`Panel` says, once: which Dash outputs it fills, the key that changes whenever its content
may change (the tab echoes the key it holds, ``ClientView.keys``), its plain data and how that
data becomes component props. The sync callback's outputs, the per-tab diff and the live
endpoint's key are all built from the registered panels (:data:`app.presenter.panels.PANELS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from dash import Output

from app.presenter.sources import LabelSources
from app.services.embeddings import MapVersion


@dataclass
class Frame:
    """One sync's question: the services, the map version and labels it reads, and what the tab
    shows (its selection, queue strategy, start position and colour mode)."""

    src: LabelSources
    v: MapVersion
    labels: np.ndarray
    selected: int | None = None
    strategy: str = "entropy"
    start_id: int = 0
    colour_mode: str = ""
    probe_choice: str = ""
    _memo: dict[str, Any] = field(default_factory=dict)

    def once(self, name: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, at most once per frame (a panel whose key needs its own data)."""
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]


@dataclass(frozen=True)
class Render:
    """What a render may need besides the panel's data: the tab's selection (as the server knows
    it: the page sends a selection with its next label, app/assets/input.js)."""

    selected: int | None = None


@dataclass(frozen=True)
class Panel:
    """A part of the Label page the sync keeps up to date.

    ``name``: the tab's key is ``ClientView.keys[name]``; ``outputs``: output name -> Dash output;
    ``key(frame)``: changes whenever the content may;
    ``data(frame)``: the plain content (``SyncResult.panels[name]``); ``render(data, r)``: output
    name -> prop value; ``mode``: the map colour mode the panel belongs to ("" for every mode)."""

    name: str
    outputs: Mapping[str, Output]
    key: Callable[[Frame], str]
    data: Callable[[Frame], Any]
    render: Callable[[Any, Render], dict[str, Any]]
    mode: str = ""
