"""Typed configuration: YAML files validated into pydantic models.

An unknown key or a bad value raises :class:`ConfigError` naming the key path
(e.g. ``train.lr: Input should be greater than 0``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.backends.registry import available_backends
from engine.errors import LatentLoopError
from engine.paths import check_checkpoint_name, check_dataset_name
from engine.tasks import AuxHead, TaskConfig, aux_heads, check_unique, resolve


class ConfigError(LatentLoopError, ValueError):
    """A configuration file or override is invalid; the message names the key path."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _valid_name(check: Any, value: str) -> str:
    """Run an engine.paths name check inside pydantic (which wants ValueError)."""
    try:
        return check(value)
    except LatentLoopError as err:
        raise ValueError(str(err)) from None


class DataConfig(_Strict):
    name: str = "mnist"
    root: str = "data"
    validation: int = Field(
        0,
        ge=0,
        description="hold out this many training samples (a fixed subset) for tuning: never trained on, "
        "and evaluations report accuracy on them instead of the test split (0 = evaluate on test)",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _valid_name(check_dataset_name, value)


MIN_SIDE, MAX_SIDE = 8, 256  # image sides: two stride-2 convolutions need a multiple of 4, at least 8
CHANNELS = (1, 3)  # gray or RGB


def image_shape_problem(h: int, w: int, c: int) -> str | None:
    """Why an image shape (H, W, C) cannot be modelled, or None when it can (the one rule for
    datasets, configs and imports)."""
    if c not in CHANNELS:
        return f"images must have 1 (gray) or 3 (RGB) channels, not {c}"
    for name, side in (("height", h), ("width", w)):
        if not MIN_SIDE <= side <= MAX_SIDE or side % 4:
            return (
                f"image {name} {side} is not supported: sides must be multiples of 4 from {MIN_SIDE} to "
                f"{MAX_SIDE} (two stride-2 convolutions)"
            )
    return None


class ModelConfig(_Strict):
    """Architecture of the SSVAE; identical for every backend."""

    image_shape: tuple[int, int, int] = Field(
        (28, 28, 1),
        description="height, width, channels (1 gray, 3 RGB) of the dataset's images; the legacy key "
        "image_size: S means (S, S, 1)",
    )
    latent_dim: int = Field(16, ge=2)
    components: int = Field(10, ge=2)
    num_classes: int = Field(10, ge=2)
    enc_channels: tuple[int, int] = (32, 64)
    hidden: int = Field(256, ge=8)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    prior: Literal["gmm", "vamp"] = Field(
        "gmm", description="gmm: K learned Gaussians; vamp: K learned pseudo-inputs through the encoder"
    )
    encoder: Literal["conv", "dense"] = Field("conv", description="conv: two stride-2 convolutions; dense: MLP")
    decoder: Literal["bernoulli", "gaussian"] = Field(
        "bernoulli", description="pixel likelihood; gaussian learns a per-pixel variance"
    )
    aux: tuple[AuxHead, ...] = Field(
        (), description="derived from the config's tasks with weight > 0 (not set by hand): the auxiliary heads"
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy_size(cls, data: Any) -> Any:
        """Configs and checkpoint metas written before colour images name ``image_size: S``."""
        if isinstance(data, dict) and "image_size" in data:
            data = dict(data)
            size = data.pop("image_size")
            if "image_shape" in data:
                raise ValueError("give image_shape or the legacy image_size, not both")
            data["image_shape"] = (size, size, 1) if isinstance(size, int) and not isinstance(size, bool) else size
        return data

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.components < self.num_classes:
            raise ValueError("components must be >= num_classes")
        problem = image_shape_problem(*self.image_shape)
        if problem:
            raise ValueError(problem)
        check_unique(self.aux)
        for head in self.aux:
            try:
                resolve(head.input, self.latent_dim, self.components)
            except ValueError as err:
                raise ValueError(f"task {head.name!r}: {err}") from None
        return self

    @property
    def height(self) -> int:
        return self.image_shape[0]

    @property
    def width(self) -> int:
        return self.image_shape[1]

    @property
    def channels(self) -> int:
        return self.image_shape[2]

    @property
    def pixels(self) -> int:
        """Values per image, H * W * C (the decoder's outputs, P in the loss)."""
        return self.image_shape[0] * self.image_shape[1] * self.image_shape[2]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """One image as arrays hold it: (H, W) gray, (H, W, 3) colour (channels last)."""
        h, w, c = self.image_shape
        return (h, w) if c == 1 else (h, w, c)


class LossConfig(_Strict):
    """Loss weights. Reconstruction and KL terms are per pixel (divided by H*W)."""

    alpha: float = Field(1.0, ge=0.0, description="supervised cross-entropy on labelled samples")
    beta: float = Field(1.0, ge=0.0, description="KL(q(z|x) || p(z|c)) weight after annealing")
    gamma: float = Field(1.0, ge=0.0, description="KL(q(c|x) || p(c)) weight")
    consistency: float = Field(1.0, ge=0.0, description="pseudo-label consistency on augmented views")
    pseudo_threshold: float = Field(0.95, gt=0.0, le=1.0)
    usage: float = Field(1.0, ge=0.0, description="KL(batch-mean q(c) || uniform): keeps components in use")
    # 10 with the gradient cap, chosen on 3 validation seeds (docs/benchmarks/feedback-tuning-guard.json)
    roi: float = Field(10.0, ge=0.0, description="feedback: share of the input gradient outside the boxes")


PhaseName = Literal["warmup", "kl_anneal", "refinement"]  # engine.training.curriculum.PHASES, in order
# The two phases that ``refinement`` replaced (they had the same loss weights): older configs and
# checkpoint metas name them in ``consistency_from``.
LEGACY_PHASES = {"label_refinement": "refinement", "active_learning": "refinement"}


class PhaseWeights(_Strict):
    """Loss weights of one curriculum phase; a set one replaces the schedule's value in that phase."""

    alpha: float | None = Field(None, ge=0.0)
    beta: float | None = Field(None, ge=0.0)
    gamma: float | None = Field(None, ge=0.0)
    consistency: float | None = Field(None, ge=0.0)
    usage: float | None = Field(None, ge=0.0)


class CurriculumConfig(_Strict):
    """Phase lengths in steps; the refinement phase runs for the rest of training (docs/formats.md,
    "Curriculum"). ``refine_steps`` of older configs is accepted and ignored (deprecated)."""

    warmup_steps: int = Field(200, ge=0)
    anneal_steps: int = Field(600, ge=0)
    consistency_from: PhaseName = "kl_anneal"
    phase_weights: dict[PhaseName, PhaseWeights] = Field(
        default_factory=dict, description="per phase: loss weights that replace the schedule's (unset = schedule)"
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, raw: Any) -> Any:
        if not isinstance(raw, dict) or "refine_steps" not in raw:
            return raw
        refine = raw["refine_steps"]  # deprecated: the phase it timed no longer ends
        if refine is not None and (isinstance(refine, bool) or not isinstance(refine, int) or refine < 0):
            raise ValueError(f"refine_steps (deprecated, ignored) must be a non-negative integer, got {refine!r}")
        return {k: v for k, v in raw.items() if k != "refine_steps"}

    @field_validator("consistency_from", mode="before")
    @classmethod
    def _legacy_phase(cls, value: Any) -> Any:
        return LEGACY_PHASES.get(value, value) if isinstance(value, str) else value

    @field_validator("phase_weights", mode="before")
    @classmethod
    def _phase_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            names = get_args(PhaseName)
            unknown = [str(k) for k in value if k not in names]
            if unknown:
                raise ValueError(f"unknown phase {', '.join(unknown)}: phases are {', '.join(names)}")
        return value


class TrainConfig(_Strict):
    steps: int = Field(3000, ge=1)
    batch_unlabeled: int = Field(128, ge=0)
    batch_labeled: int = Field(64, ge=0)
    lr: float = Field(1e-3, gt=0.0, le=1.0)
    augment_shift: int = Field(2, ge=0, le=8, description="pixels of random shift of the consistency view")
    # The default is the levers (affine view, weak shift, weight average), chosen on the validation
    # split with 3 seeds (docs/accuracy.md, "The default"); configs/baseline.yaml sets all four to 0.
    # Since then the mean teacher with a faster average (0.99), chosen the same way ("A mean teacher").
    augment_rotate: float = Field(15.0, ge=0.0, le=90.0, description="degrees of random rotation of that view")
    augment_scale: float = Field(0.1, ge=0.0, lt=1.0, description="random zoom of that view by 1 +- this")
    ema_decay: float = Field(
        0.99,
        ge=0.0,
        lt=1.0,
        description="evaluate with an exponential moving average of the weights (per-step decay, e.g. 0.99; "
        "0 = the live weights)",
    )
    weak_shift: int = Field(
        2, ge=0, le=8, description="pixels of random shift of the main view too (labelled and pseudo-label source)"
    )
    mean_teacher: bool = Field(
        True,
        description="take the consistency term's pseudo-labels from the weight average (ema_decay) instead of "
        "the live weights, once the average is ready (Tarvainen & Valpola 2017); no effect with ema_decay 0",
    )
    log_every: int = Field(50, ge=1)
    eval_every: int = Field(500, ge=1)
    refresh_every: int = Field(1000, ge=1, description="steps between embedding refreshes (map, forecast)")
    tau_every: int = Field(50, ge=1)
    tau_prior: float = Field(1.0, gt=0.0, description="pseudo-count of the initial component->class assignment")
    tau_temperature: float = Field(
        1.0, gt=0.0, le=10.0, description="tau = normalised counts ** (1/T); below 1 sharpens each component's row"
    )
    snapshot_every_s: float = Field(5.0, ge=0.0)
    snapshots_keep: int = Field(3, ge=1)
    checkpoint: str = "ssvae"
    eval_limit: int = Field(0, ge=0, description="evaluate on at most this many test images (0 = all)")

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint(cls, value: str) -> str:
        return _valid_name(check_checkpoint_name, value)


class Config(_Strict):
    seed: int = 0
    backend: str = "torch"
    device: str = "cpu"
    threads: int = Field(0, ge=0, description="CPU threads for the framework; 0 = all cores but one")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    loss: LossConfig = LossConfig()
    curriculum: CurriculumConfig = CurriculumConfig()
    train: TrainConfig = TrainConfig()
    tasks: list[TaskConfig] = Field(default_factory=list, description="probes and auxiliary tasks (docs/tasks.md)")

    @model_validator(mode="before")
    @classmethod
    def _derive_aux(cls, raw: Any) -> Any:
        # model.aux is a function of tasks: derived here so a config file cannot contradict itself,
        # and carried in model so a checkpoint's model config names every parameter it holds.
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        model = raw.get("model", {})
        if isinstance(model, BaseModel):
            model = model.model_dump()
        if not isinstance(model, dict):
            return raw
        tasks = raw.get("tasks") or []
        if not isinstance(tasks, list):
            return raw
        try:
            parsed = [t if isinstance(t, TaskConfig) else TaskConfig.model_validate(t) for t in tasks]
            check_unique(parsed)
        except (ValidationError, ValueError, TypeError):
            return raw  # the field validation below reports it with the key path
        raw["model"] = {**model, "aux": [h.model_dump() for h in aux_heads(parsed)]}
        return raw

    @field_validator("tasks")
    @classmethod
    def _unique_tasks(cls, value: list[TaskConfig]) -> list[TaskConfig]:
        check_unique(value)
        return value

    @field_validator("backend")
    @classmethod
    def _backend(cls, value: str) -> str:
        names = available_backends()
        if value not in names:
            raise ValueError(f"unknown backend {value!r}: use one of {', '.join(names)}")
        return value

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", value):
            raise ValueError(f"unknown device {value!r}: use cpu, cuda or cuda:N")
        return value


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "<root>"
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "value_error":  # our own validators: drop pydantic's "Value error, "
            msg = str(e.get("ctx", {}).get("error", e["msg"]))
        else:
            msg = e["msg"]
        lines.append(f"{path}: {msg}")
    return "; ".join(lines)


def from_dict(raw: dict[str, Any]) -> Config:
    """Validate a plain dict into a :class:`Config`."""
    if not isinstance(raw, dict):
        raise ConfigError("<root>: expected a mapping")
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load a YAML config (defaults when ``path`` is None) and apply dotted overrides."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"config file not found: {p}")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError as err:
            raise ConfigError(f"{p}: not UTF-8 text (byte {err.start}); is it a YAML file?") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{p}: not valid YAML: {err}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{p}: <root>: expected a mapping")
    apply_overrides(raw, overrides)
    return from_dict(raw)


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Set dotted keys (``train.lr``) in a raw config dict, in place; returns it."""
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for depth, key in enumerate(parents, 1):
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                section = ".".join(parents[:depth])
                raise ConfigError(f"{section}: expected a mapping, got {node!r} (setting {dotted})")
        node[leaf] = value
    return raw


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """JSON-friendly dump (used in checkpoint meta.json)."""
    return cfg.model_dump(mode="json")


def fit_to_dataset(cfg: Config, image_shape: tuple[int, int, int], num_classes: int) -> tuple[Config, list[str]]:
    """``cfg`` with the dataset's image shape and class count where the config leaves them at their
    defaults (28x28 gray, 10 classes; ``components`` follows ``num_classes`` when it is at its
    default too), so that ``latentloop train --dataset pets`` or ``app --dataset pets`` takes an
    imported or colour dataset without a config of its own; and what it changed, said in words.
    A value the config sets to anything else is kept: a mismatch is then the trainer's error."""
    m = cfg.model
    defaults = ModelConfig.model_fields
    model: dict[str, Any] = {}
    if m.image_shape == defaults["image_shape"].default and tuple(image_shape) != m.image_shape:
        model["image_shape"] = list(image_shape)
    if m.num_classes == defaults["num_classes"].default and num_classes != m.num_classes:
        model["num_classes"] = num_classes
        if m.components == defaults["components"].default and m.components < num_classes:
            model["components"] = num_classes
    if not model:
        return cfg, []
    raw = config_to_dict(cfg)
    raw["model"] = {**raw["model"], **model}
    raw["model"].pop("aux", None)  # derived from the tasks again
    said = ", ".join(f"model.{k} {v}" for k, v in model.items())
    return from_dict(raw), [f"{said} from dataset {cfg.data.name!r}"]
