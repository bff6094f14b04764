"""How the dashboard is started: command-line settings and the run config they resolve to."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.backends.registry import available_backends
from engine.config import Config, ConfigError, apply_overrides, config_to_dict, from_dict, load_config

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass
class AppSettings:
    """Settings of one dashboard process. ``cfg`` (tests) takes precedence over ``config``."""

    dataset: str | None = None
    checkpoint: str | None = None
    backend: str | None = None
    device: str | None = None  # the training thread's (and the viewer's); the child workers stay on the CPU
    config: str | None = None
    cfg: Config | None = None
    host: str = "127.0.0.1"
    port: int = 8050
    map_points: Literal["train", "all"] = "train"  # "all": also draw the held-out test images
    label_poll_ms: int = 2000
    train_poll_ms: int = 2000  # progress while training (a JSON fetch of app/assets/poll.js)
    curve_ms: int = 5000  # new curve points are drawn at most this often (each redraw costs the page CPU)
    queue_size: int = 20
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)  # extra Host names to accept
    debug: bool = False
    workers: bool = True  # start the XAI and forecast child processes
    force: bool = False  # load the checkpoint even if it was trained on another dataset
    # How long the sync of a new selection waits for its saliency, to draw both in one answer (a
    # slower one shows "computing" and arrives by a poll), and how long a target change waits.
    xai_sync_wait_ms: int = 300
    xai_wait_ms: int = 1000
    sync_delay_ms: int = 0  # tests only: every sync answers this much later (a slow server on purpose)
    xai_budget_ms_per_min: float = 20000.0  # XAI worker CPU budget
    # Above this many map points the big map is a density raster of the view (app/services/density.py);
    # a view holding at most map_points_max points shows them as WebGL points.
    map_raster_above: int = 200_000
    map_points_max: int = 50_000

    def __post_init__(self) -> None:
        if self.backend is not None and self.backend not in available_backends():
            raise ConfigError(f"unknown backend {self.backend!r}; choose one of {available_backends()}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``latentloop app`` and ``python -m app``."""
    p.add_argument("--config", "-c", help="YAML config (default: the checkpoint's config, else built-in defaults)")
    p.add_argument("--dataset", help="dataset name under data/ (default: mnist)")
    p.add_argument("--checkpoint", help="checkpoint to load at startup and save to (default: ssvae)")
    p.add_argument("--backend", choices=available_backends(), help="training backend (default: torch)")
    p.add_argument("--device", help="cpu (default), cuda or cuda:N: where training runs (the workers stay on the CPU)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8050, help="port (default 8050)")
    p.add_argument(
        "--map-points",
        choices=["train", "all"],
        default="train",
        help="draw the training images only (default) or the held-out test images too",
    )
    p.add_argument(
        "--map-raster-above",
        type=int,
        default=200_000,
        metavar="N",
        help="above N map points, draw a density raster far out and the points only when zoomed in (default 200000)",
    )
    p.add_argument(
        "--map-points-max",
        type=int,
        default=50_000,
        metavar="N",
        help="on the density map, draw the view's points once it holds at most N (default 50000)",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept requests for this Host name (only loopback names are accepted by default)",
    )
    p.add_argument(
        "--no-workers",
        action="store_true",
        help="do not start the XAI and forecast child processes (no saliency, no forecast queue)",
    )
    p.add_argument("--debug", action="store_true", help="Dash debug mode (dev tools)")
    p.add_argument(
        "--force",
        action="store_true",
        help="load the checkpoint even if it was trained on another dataset (or another version of it)",
    )


def settings_from_args(args: argparse.Namespace) -> AppSettings:
    """The settings the ``app`` command's options (:func:`add_arguments`) describe."""
    return AppSettings(
        dataset=args.dataset,
        checkpoint=args.checkpoint,
        backend=args.backend,
        device=getattr(args, "device", None),
        config=args.config,
        host=args.host,
        port=args.port,
        map_points=args.map_points,
        map_raster_above=args.map_raster_above,
        map_points_max=args.map_points_max,
        allowed_hosts=tuple(args.allow_host or ()),
        debug=bool(args.debug),
        workers=not getattr(args, "no_workers", False),
        force=bool(getattr(args, "force", False)),
    )


def _overrides(s: AppSettings) -> dict[str, Any]:
    o = {"data.name": s.dataset, "backend": s.backend, "device": s.device, "train.checkpoint": s.checkpoint}
    return {k: v for k, v in o.items() if v is not None}


def resolve_config(s: AppSettings, checkpoint_meta: Any = None) -> Config:
    """The run config: ``s.cfg`` or ``s.config`` or, when neither is given and a checkpoint is
    loaded, the checkpoint's own config; command-line overrides on top. The model architecture
    always comes from the checkpoint when there is one (otherwise it could not load)."""
    overrides = _overrides(s)
    if s.cfg is not None:
        raw = apply_overrides(config_to_dict(s.cfg), overrides)
    elif (
        s.config is None
        and checkpoint_meta
        and isinstance(checkpoint_meta.get("config"), dict)
        and checkpoint_meta["config"]
    ):
        raw = apply_overrides(dict(checkpoint_meta["config"]), overrides)
    else:
        raw = config_to_dict(load_config(s.config, overrides))
    model = (checkpoint_meta or {}).get("model") or (checkpoint_meta or {}).get("model_config")
    if model:
        raw["model"] = model
    return from_dict(raw)


def checkpoint_name(s: AppSettings) -> str:
    if s.checkpoint:
        return s.checkpoint
    if s.cfg is not None:
        return s.cfg.train.checkpoint
    return load_config(s.config).train.checkpoint if s.config else "ssvae"
