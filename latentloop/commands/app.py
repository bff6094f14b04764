"""`latentloop app`: serve the dashboard on http://127.0.0.1:8050.

Serve the LatentLoop dashboard: latent map, keyboard labelling, training, checkpoints, saliency,
feedback boxes and the forecast queue. Loads the checkpoint if it exists; shares labels.csv and
checkpoints with the other commands.

Registered by :mod:`latentloop.cli` (``python -m app`` takes the same options); Dash and the model
are imported only when the command runs (app/launch.py).
"""

from __future__ import annotations

import argparse

from app.settings import add_arguments, settings_from_args
from latentloop.commands._common import add_command


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``app`` sub-command to the ``latentloop`` parser."""
    p = add_command(sub, __doc__)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The ``app`` sub-command's entry point."""
    from app.launch import run_app

    return run_app(settings_from_args(args))
