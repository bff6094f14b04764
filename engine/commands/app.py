"""`latentloop app`: serve the dashboard (the Dash app in app/, imported only when run)."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``latentloop app`` and ``python -m app``."""
    p.add_argument("--config", "-c", help="YAML config (default: the checkpoint's config, else built-in defaults)")
    p.add_argument("--dataset", help="dataset name under data/ (default: mnist)")
    p.add_argument("--checkpoint", help="checkpoint to load at startup and save to (default: ssvae)")
    p.add_argument("--backend", choices=["torch", "tensorflow", "jax"], help="training backend (default: torch)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument("--map-points", choices=["train", "all"], default="train",
                   help="draw the training images only (default) or the held-out test images too")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also accept requests for this Host name (only loopback names are accepted by default)")
    p.add_argument("--no-workers", action="store_true",
                   help="do not start the XAI and forecast child processes (no saliency, no forecast queue)")
    p.add_argument("--debug", action="store_true", help="Dash debug mode (dev tools)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="serve the dashboard on http://127.0.0.1:8050",
                       description="Serve the LatentLoop dashboard: latent map, keyboard labelling, training, "
                       "checkpoints, saliency, feedback boxes and the forecast queue. Loads the checkpoint if it exists; shares labels.csv and checkpoints with "
                       "the other commands.")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from app.__main__ import run_app  # Dash and the model are imported only now
    from app.settings import settings_from_args

    return run_app(settings_from_args(args))
