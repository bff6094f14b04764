"""Typed configs (errors name the key path) and typed messages (JSON round trip)."""

from __future__ import annotations

import json

import pytest

from engine import events as ev
from engine.config import Config, ConfigError, from_dict, load_config


def test_defaults_and_yaml_files_validate():
    for path in ("configs/default.yaml", "configs/quick.yaml"):
        cfg = load_config(path)
        assert isinstance(cfg, Config) and cfg.data.name == "mnist"
    assert load_config("configs/quick.yaml").train.steps < load_config("configs/default.yaml").train.steps


def test_the_built_in_defaults_are_configs_default_yaml():
    """Every command without ``-c`` trains what configs/default.yaml says (the levers and the mean
    teacher, chosen on validation), and configs/baseline.yaml differs from it only by those being
    off and the feedback weight (roi 5, the old default; 10 was chosen with the gradient cap)."""
    default, built_in = load_config("configs/default.yaml"), Config()
    assert default.model_dump(exclude={"seed"}) == built_in.model_dump(exclude={"seed"})
    t = built_in.train
    levers_on = (t.augment_rotate, t.augment_scale, t.weak_shift, t.ema_decay, t.mean_teacher)
    assert levers_on == (15.0, 0.1, 2, 0.99, True)
    base = load_config("configs/baseline.yaml").model_dump()
    levers = {"augment_rotate": 0.0, "augment_scale": 0.0, "weak_shift": 0, "ema_decay": 0.0, "mean_teacher": False}
    assert built_in.loss.roi == 10.0 and base["loss"]["roi"] == 5.0
    d = default.model_dump()
    assert base == {**d, "train": {**d["train"], **levers}, "loss": {**d["loss"], "roi": 5.0}}


@pytest.mark.parametrize(
    "raw, path",
    [
        ({"train": {"lrr": 0.1}}, "train.lrr: unknown key"),
        ({"train": {"lr": -1}}, "train.lr"),
        ({"model": {"components": 5}}, "components must be >= num_classes"),
        ({"backend": "mxnet"}, "backend"),
        ({"curriculum": {"warmup_steps": "many"}}, "curriculum.warmup_steps"),
        ({"train": {"checkpoint": "../x"}}, "train.checkpoint"),
    ],
)
def test_bad_values_name_the_key_path(raw, path):
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        from_dict(raw)


def test_yaml_errors(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_overrides_use_dotted_paths():
    cfg = load_config(None, {"train.lr": 0.01, "model.latent_dim": 4})
    assert cfg.train.lr == 0.01 and cfg.model.latent_dim == 4
    with pytest.raises(ConfigError, match=r"train\.nope"):
        load_config(None, {"train.nope": 1})


@pytest.mark.parametrize(
    "msg",
    [
        ev.Pause(),
        ev.Resume(),
        ev.Stop(save=False),
        ev.SaveCheckpoint("a"),
        ev.AdvancePhase(),
        ev.ApplyFeedback(({"sample_idx": 1, "x0": 0.1, "y0": 0.1, "x1": 0.5, "y1": 0.5, "strength": 1.0},)),
        ev.Metrics(5, 0.1, "warmup", {"loss": 1.0}, 0.5, 100.0),
        ev.Evaluation(5, 0.9, 0.8, 100, 10),
        ev.Phase("kl_anneal", 3),
        ev.Refresh(2, 10),
        ev.CheckpointSaved("ssvae", 3),
        ev.Snapshot("/x", 4),
        ev.State("error", "boom", 7),
    ],
)
def test_messages_round_trip_through_json(msg):
    d = json.loads(json.dumps(ev.to_dict(msg)))
    assert d["type"] == msg.type and d["v"] == ev.SCHEMA_VERSION
    assert ev.from_dict(d) == msg


def test_unknown_message_is_rejected():
    with pytest.raises(ValueError, match="unknown message type"):
        ev.from_dict({"type": "explode"})
    with pytest.raises(ValueError, match="unknown fields"):
        ev.from_dict({"type": "pause", "when": 1})


def test_fit_to_dataset_takes_only_what_the_config_leaves_at_its_defaults() -> None:
    from engine.config import fit_to_dataset, from_dict, load_config

    cfg = load_config(None)
    fitted, notes = fit_to_dataset(cfg, (32, 48, 3), 12)
    m = fitted.model
    assert (m.image_shape, m.num_classes, m.components) == ((32, 48, 3), 12, 12)
    assert notes == ["model.image_shape [32, 48, 3], model.num_classes 12, model.components 12 from dataset 'mnist'"]
    assert fit_to_dataset(cfg, (28, 28, 1), 10) == (cfg, [])  # MNIST: nothing changes
    # values a config sets to something else are kept (the trainer then names the mismatch)
    own = from_dict({"model": {"image_shape": [24, 24, 1], "num_classes": 4, "components": 6}})
    assert fit_to_dataset(own, (32, 32, 3), 12) == (own, [])
    # more components than the default: kept, and enough for 12 classes
    wide = from_dict({"model": {"components": 20}})
    assert fit_to_dataset(wide, (28, 28, 1), 12)[0].model.components == 20


def test_configs_and_checkpoint_metas_from_before_colour_name_image_size() -> None:
    """Every config file and checkpoint meta written before colour images says image_size: S."""
    from engine.config import ConfigError, ModelConfig, from_dict

    assert from_dict({"model": {"image_size": 32}}).model.image_shape == (32, 32, 1)
    assert ModelConfig.model_validate({"image_size": 28}) == ModelConfig()
    with pytest.raises(ConfigError, match="not both"):
        from_dict({"model": {"image_size": 28, "image_shape": [28, 28, 1]}})
    with pytest.raises(ConfigError, match="multiples of 4"):
        from_dict({"model": {"image_size": 30}})
