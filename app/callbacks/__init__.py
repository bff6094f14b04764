"""Callbacks: thin adapters from Dash events to AppState services."""

from __future__ import annotations

from typing import Any

from app.state import AppState


def register_callbacks(app: Any, state: AppState) -> None:
    from app.callbacks import checkpoints, clientside, density, explain, holdout, model, probes, runs, sync, training

    sync.register(app, state)
    density.register(app, state)
    training.register(app, state)
    checkpoints.register(app, state)
    explain.register(app, state)
    model.register(app, state)
    runs.register(app, state)
    probes.register(app, state)
    holdout.register(app, state)
    clientside.register(app)
