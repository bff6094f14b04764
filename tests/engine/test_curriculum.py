"""The curriculum: merged phases, per-phase loss weights, advancing a phase during a run."""

from __future__ import annotations

import queue

import numpy as np
import pytest

from engine import events as ev
from engine.backends.base import LOSS_WEIGHT_KEYS, loss_weight_vector
from engine.config import ConfigError, from_dict, load_config
from engine.training.curriculum import PHASES, Curriculum
from engine.training.trainer import Trainer
from tests.helpers import tiny_config_dict


def _old_weights(cfg, step: int, has_feedback: bool, refine_steps: int) -> np.ndarray:
    """The schedule before the merge (four phases, the last two with the same weights), verbatim."""
    phases = ("warmup", "kl_anneal", "label_refinement", "active_learning")
    c, L = cfg.curriculum, cfg.loss
    bounds = (c.warmup_steps, c.warmup_steps + c.anneal_steps, c.warmup_steps + c.anneal_steps + refine_steps)
    phase = next((n for n, end in zip(phases[:-1], bounds, strict=True) if step < end), phases[-1])
    if phase == "warmup":
        beta, gamma = 0.0, 0.0
    elif phase == "kl_anneal":
        frac = (step - bounds[0] + 1) / max(1, c.anneal_steps)
        beta, gamma = L.beta * frac, L.gamma * frac
    else:
        beta, gamma = L.beta, L.gamma
    old_from = {"refinement": "label_refinement"}.get(c.consistency_from, c.consistency_from)
    cons_on = phases.index(phase) >= phases.index(old_from)
    return loss_weight_vector(
        rec=1.0,
        beta=beta,
        gamma=gamma,
        alpha=L.alpha,
        cons=L.consistency if cons_on else 0.0,
        usage=L.usage,
        roi=L.roi if has_feedback else 0.0,
    )


def test_three_phases_and_refinement_runs_to_the_end():
    assert PHASES == ("warmup", "kl_anneal", "refinement")
    cur = Curriculum(from_dict({"curriculum": {"warmup_steps": 5, "anneal_steps": 10}}))
    assert [cur.phase(s) for s in (0, 4, 5, 14, 15, 10**7)] == [
        "warmup",
        "warmup",
        "kl_anneal",
        "kl_anneal",
        "refinement",
        "refinement",
    ]
    assert cur.starts() == [("warmup", 0), ("kl_anneal", 5), ("refinement", 15)]


@pytest.mark.parametrize("consistency_from", ["warmup", "kl_anneal", "refinement"])
@pytest.mark.parametrize("curriculum", [{}, {"warmup_steps": 10, "anneal_steps": 30}, {"anneal_steps": 0}])
def test_default_weights_are_the_old_schedules(curriculum, consistency_from):
    cfg = from_dict({"curriculum": {**curriculum, "consistency_from": consistency_from}})
    cur = Curriculum(cfg)
    for step in (0, 1, 9, 10, 11, 25, 39, 40, 41, 199, 200, 201, 500, 799, 800, 1399, 1400, 1401, 2999, 10**6):
        for fb in (False, True):
            np.testing.assert_array_equal(cur.weights(step, fb), _old_weights(cfg, step, fb, 600), err_msg=str(step))


def test_phase_weights_replace_the_schedule_in_their_phase_only():
    raw = {"warmup_steps": 10, "anneal_steps": 20, "consistency_from": "refinement"}
    raw["phase_weights"] = {"warmup": {"beta": 0.3, "consistency": 0.5}, "refinement": {"alpha": 2.0, "usage": 0.0}}
    cfg = from_dict({"curriculum": raw, "loss": {"beta": 0.8}})
    base = Curriculum(from_dict({"curriculum": {k: v for k, v in raw.items() if k != "phase_weights"}}))
    cur = Curriculum(cfg)
    i = {k: n for n, k in enumerate(LOSS_WEIGHT_KEYS)}
    w0 = cur.weights(3)
    assert w0[i["beta"]] == np.float32(0.3) and w0[i["cons"]] == 0.5 and w0[i["gamma"]] == 0.0
    assert w0[i["alpha"]] == 1.0 and w0[i["usage"]] == 1.0
    for step in (10, 15, 29):  # kl_anneal has no override: its ramp to loss.beta
        np.testing.assert_allclose(cur.weights(step)[i["beta"]], 0.8 * (step - 9) / 20, rtol=1e-6)
    w2 = cur.weights(30, has_feedback=True)
    assert w2[i["alpha"]] == 2.0 and w2[i["usage"]] == 0.0 and w2[i["cons"]] == 1.0
    assert w2[i["roi"]] == cfg.loss.roi == 10.0
    assert w2[i["beta"]] == np.float32(0.8)
    sched = cur.schedule(3)
    assert sched["weights"]["beta"] == pytest.approx(0.3) and sched["weights"]["cons"] == 0.5
    assert list(sched["weights"]) == list(LOSS_WEIGHT_KEYS) and sched["weights"]["roi"] == 10.0
    assert not np.array_equal(base.weights(3), w0)


@pytest.mark.parametrize(
    ("phase_weights", "message"),
    [
        ({"active_learning": {"beta": 1.0}}, "unknown phase active_learning: phases are warmup, kl_anneal, refinement"),
        ({"warmup": {"rec": 1.0}}, r"curriculum\.phase_weights\.warmup\.rec: unknown key"),
        ({"kl_anneal": {"gamma": -0.1}}, r"curriculum\.phase_weights\.kl_anneal\.gamma: .*greater than or equal to 0"),
        ({"warmup": 3}, r"curriculum\.phase_weights\.warmup"),
    ],
)
def test_phase_weights_are_validated(phase_weights, message):
    with pytest.raises(ConfigError, match=message):
        from_dict({"curriculum": {"phase_weights": phase_weights}})


def test_old_configs_with_refine_steps_and_old_phase_names_load(tmp_path):
    p = tmp_path / "old.yaml"
    p.write_text("curriculum:\n  warmup_steps: 10\n  refine_steps: 600\n  consistency_from: label_refinement\n")
    cfg = load_config(p)
    assert cfg.curriculum.consistency_from == "refinement" and cfg.curriculum.warmup_steps == 10
    assert "refine_steps" not in cfg.curriculum.model_dump()
    old = from_dict({"curriculum": {"refine_steps": 5, "consistency_from": "active_learning"}})
    assert old.curriculum.consistency_from == "refinement"
    with pytest.raises(ConfigError, match="refine_steps"):
        from_dict({"curriculum": {"refine_steps": -1}})
    with pytest.raises(ConfigError, match="consistency_from"):
        from_dict({"curriculum": {"consistency_from": "nope"}})


def test_advances_shift_the_schedule_and_keep_the_past():
    cur = Curriculum(from_dict({"curriculum": {"warmup_steps": 200, "anneal_steps": 600}}))
    assert cur.advance(50) == "kl_anneal" and cur.offset == 150
    assert [cur.phase(s) for s in (49, 50, 649, 650)] == ["warmup", "kl_anneal", "kl_anneal", "refinement"]
    assert cur.weights(50)[1] == np.float32(1 / 600)  # the ramp from its start
    assert cur.starts() == [("warmup", 0), ("kl_anneal", 50), ("refinement", 650)]
    assert cur.advance(100) == "refinement"
    assert cur.starts() == [("warmup", 0), ("kl_anneal", 50), ("refinement", 100)]
    assert [cur.phase(s) for s in (49, 99, 100)] == ["warmup", "kl_anneal", "refinement"]
    assert cur.advance(120) is None and cur.advances == [(50, 150), (100, 700)]
    s = cur.schedule(120)
    assert s["phase"] == "refinement" and s["start"] == 100 and not s["can_advance"] and s["offset"] == 700
    restored = Curriculum(from_dict({"curriculum": {"warmup_steps": 200, "anneal_steps": 600}}))
    restored.set_state(cur.state())
    assert restored.advances == cur.advances
    restored.set_state(None)
    assert restored.advances == [] and restored.offset == 0


def _advancing_trainer(cfg, at_steps):
    """A trainer that records each step's loss weights and asks for an advance after the steps in
    ``at_steps`` through its command queue (as the dashboard does)."""
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import label_store_for

    ds = load_dataset(cfg.data.name)
    store = label_store_for(cfg.data.name, ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 3, 0), source="test")
    cmds: queue.Queue = queue.Queue()
    tr = Trainer(cfg, ds, store, commands=cmds)
    used: dict[int, np.ndarray] = {}
    phases: list[tuple[str, int]] = []
    step_fn = tr.backend.train_step

    def spy(batch):
        used[tr.step] = np.array(batch["w"])
        return step_fn(batch)

    tr.backend.train_step = spy  # type: ignore[method-assign]

    def listen(e):
        if isinstance(e, ev.Phase):
            phases.append((e.name, e.step))
        if isinstance(e, ev.Metrics) and e.step in at_steps:
            cmds.put(ev.AdvancePhase())

    tr.listeners.append(listen)
    return tr, used, phases


def test_advance_phase_through_the_command_queue_starts_the_next_phase_at_the_next_step(home):
    cfg = from_dict(tiny_config_dict(steps=60, log_every=5, eval_every=1000))  # warmup 10, kl_anneal 30
    tr, used, phases = _advancing_trainer(cfg, at_steps={5, 50})
    tr.run(steps=60)
    # the advance at 50 (refinement, the last phase) changes nothing and sends no event
    assert phases == [("warmup", 0), ("kl_anneal", 5), ("refinement", 35)]
    ref = Curriculum(cfg)
    for step in range(5):
        np.testing.assert_array_equal(used[step], ref.weights(step))
    for step in range(5, 35):  # the kl_anneal ramp from its start (not from step 10's)
        np.testing.assert_array_equal(used[step], ref.weights(step + 5), err_msg=str(step))
    for step in range(35, 60):
        np.testing.assert_array_equal(used[step], ref.weights(10**6), err_msg=str(step))
    assert tr.curriculum.schedule(tr.step)["starts"] == [("warmup", 0), ("kl_anneal", 5), ("refinement", 35)]


def test_resume_after_an_advance_is_exact(home):
    cfg = from_dict(tiny_config_dict(steps=40, log_every=5, eval_every=1000))
    a, _, _ = _advancing_trainer(cfg, at_steps={5})
    a.run(steps=40)
    ref = a.backend.get_weights()

    b, _, _ = _advancing_trainer(cfg, at_steps={5})
    b.run(steps=20)
    b.save_checkpoint("half")
    c, used, _ = _advancing_trainer(cfg, at_steps=set())
    c.load_checkpoint("half")
    assert c.curriculum.advances == [(5, 5)] and c.phase == b.phase == "kl_anneal"
    c.run(steps=40)
    np.testing.assert_array_equal(used[20], Curriculum(cfg).weights(25))
    for k in ref:
        np.testing.assert_allclose(c.backend.get_weights()[k], ref[k], rtol=0, atol=1e-6, err_msg=k)


def test_checkpoint_without_advances_loads_with_no_offset(home):
    from engine.stores.checkpoints import CheckpointStore

    cfg = from_dict(tiny_config_dict(steps=12, eval_every=1000))
    a, _, _ = _advancing_trainer(cfg, at_steps=set())
    a.run(steps=12)
    a.save_checkpoint("plain")
    assert "curriculum.advances" not in CheckpointStore().load("plain").state  # the format of before
    b, _, _ = _advancing_trainer(cfg, at_steps=set())
    b.curriculum.advance(0)
    b.load_checkpoint("plain")
    assert b.curriculum.offset == 0 and b.phase == "kl_anneal"
