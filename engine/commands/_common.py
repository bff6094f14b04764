"""Arguments shared by the commands that build a model."""
from __future__ import annotations

import argparse
from typing import Any


def add_model_args(p: argparse.ArgumentParser, checkpoint: bool = True) -> None:
    p.add_argument("--config", "-c", help="YAML config (default: built-in defaults)")
    p.add_argument("--dataset", help="dataset name under data/ (overrides data.name)")
    p.add_argument("--backend", choices=["torch", "tensorflow", "jax"], help="overrides backend")
    p.add_argument("--device", help="cpu (default) or cuda")
    p.add_argument("--seed", type=int, help="overrides seed")
    if checkpoint:
        p.add_argument("--checkpoint", help="checkpoint name (default: train.checkpoint, i.e. ssvae)")


def overrides(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    o = {"data.name": args.dataset, "backend": args.backend, "device": args.device, "seed": args.seed}
    o.update(extra)
    return {k: v for k, v in o.items() if v is not None}
