"""The training panel's values as the engine's config: what a run from the page trains with.

The panel's fields and the Model page's curriculum fields are checked by the engine's own config
validation (:func:`engine.config.from_dict`), so an error names the key path the CLI would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.config import Config, ConfigError, apply_overrides, config_to_dict, from_dict


@dataclass
class TrainSettings:
    """What the training panel sets. ``steps``: steps to add in this run."""

    steps: int = 500
    lr: float = 1e-3
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    consistency: float = 1.0
    refresh_every: int = 250
    save_at_end: bool = True


FIELD_PATHS = {
    "steps": "train.steps",
    "lr": "train.lr",
    "alpha": "loss.alpha",
    "beta": "loss.beta",
    "gamma": "loss.gamma",
    "consistency": "loss.consistency",
    "refresh_every": "train.refresh_every",
}


def validate_settings(
    base: Config, values: dict[str, Any]
) -> tuple[TrainSettings | None, Config | None, dict[str, str]]:
    """Check the panel's values with the engine's config validation.

    Returns ``(settings, config, errors)``; ``errors`` maps a panel field to the message of
    :func:`engine.config.from_dict`, which names the key path (e.g. ``train.lr: Input should be
    greater than 0``). Empty or non-numeric fields are reported without asking the engine.
    """
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    for name, path in FIELD_PATHS.items():
        raw = values.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            errors[name] = f"{path}: required"
            continue
        try:
            num = float(raw)
        except (TypeError, ValueError):
            errors[name] = f"{path}: not a number ({raw!r})"
            continue
        if not math.isfinite(num):
            errors[name] = f"{path}: must be finite"
            continue
        if name in ("steps", "refresh_every"):
            if num != int(num):
                errors[name] = f"{path}: must be a whole number"
                continue
            num = int(num)
        parsed[name] = num
    if errors:
        return None, None, errors
    raw_cfg = config_to_dict(base)
    apply_overrides(raw_cfg, {path: parsed[name] for name, path in FIELD_PATHS.items()})
    curriculum_overrides(raw_cfg, values)
    try:
        cfg = from_dict(raw_cfg)
    except ConfigError as err:
        for part in str(err).split("; "):
            path = part.split(":", 1)[0].strip()
            field_name = next((n for n, p in FIELD_PATHS.items() if p == path), None)
            errors[field_name or "_"] = part
        return None, None, errors
    settings = TrainSettings(
        int(parsed["steps"]),
        parsed["lr"],
        parsed["alpha"],
        parsed["beta"],
        parsed["gamma"],
        parsed["consistency"],
        int(parsed["refresh_every"]),
        bool(values.get("save_at_end", True)),
    )
    return settings, cfg, {}


def curriculum_overrides(raw_cfg: dict[str, Any], values: dict[str, Any]) -> None:
    """The Model page's curriculum fields for the next run, into a raw config: ``warmup_steps`` and
    ``anneal_steps`` (None or empty: keep), ``phase_weights`` ``{phase: {key: value}}`` (None or
    empty values dropped). The engine's config validation checks them (errors name the key)."""
    cur = raw_cfg.setdefault("curriculum", {})
    for key in ("warmup_steps", "anneal_steps"):
        v = values.get(key)
        if v is not None and not (isinstance(v, str) and not v.strip()):
            cur[key] = v
    weights = {
        phase: {k: v for k, v in kv.items() if v is not None and not (isinstance(v, str) and not v.strip())}
        for phase, kv in (values.get("phase_weights") or {}).items()
    }
    weights = {phase: kv for phase, kv in weights.items() if kv}
    if weights:
        cur["phase_weights"] = weights
