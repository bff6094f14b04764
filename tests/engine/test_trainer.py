"""The framework-neutral trainer on a tiny synthetic dataset (torch backend)."""

from __future__ import annotations

import queue
import threading
from pathlib import Path

import numpy as np
import pytest

from engine import events as ev
from engine.config import from_dict
from engine.datasets import load_dataset
from engine.stores.labels import label_store_for
from engine.training.augment import affine_augment, roi_mask, shift_augment
from engine.training.curriculum import PHASES, Curriculum
from engine.training.trainer import Trainer
from tests.helpers import tiny_config_dict


def _trainer(cfg, per_class=5, **kw):
    from engine.datasets import oracle_labels

    ds = load_dataset(cfg.data.name)
    store = label_store_for(cfg.data.name, ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, per_class, 0), source="test")
    return Trainer(cfg, ds, store, **kw)


def test_loss_falls_and_accuracy_beats_chance(tiny_cfg):
    tr = _trainer(tiny_cfg)
    first = tr.backend.loss(tr.make_batch())["loss"]
    summary = tr.run(steps=150)
    last = np.mean([h["loss"] for h in tr.history[-3:]])
    assert last < first * 0.8, (first, last)
    assert summary["test_acc"] > 0.5  # chance is 0.1 on 10 balanced classes
    assert tr.history[-1]["acc_labeled"] > 0.5


def test_phases_follow_curriculum_and_are_emitted(tiny_cfg):
    got: list[str] = []
    tr = _trainer(tiny_cfg)
    tr.listeners.append(lambda e: got.append(e.name) if isinstance(e, ev.Phase) else None)
    tr.run(steps=80)
    assert got == list(PHASES)
    cur = Curriculum(tiny_cfg)
    assert cur.weights(0)[1] == 0.0  # no KL in warm-up
    assert 0 < cur.weights(20)[1] < 1  # annealing
    assert cur.weights(75)[1] == 1.0


def test_pause_and_resume_from_another_thread(tiny_cfg):
    cmds: queue.Queue = queue.Queue()
    events: queue.Queue = queue.Queue(maxsize=1000)
    tr = _trainer(tiny_cfg, commands=cmds, events=events)
    th = threading.Thread(target=tr.run, kwargs={"steps": 100000})
    th.start()
    try:
        while tr.step < 5:
            th.join(0.01)
        sent = tr.step
        cmds.put(ev.Pause())
        while not tr._paused:
            th.join(0.01)
        at = tr.step
        assert at <= sent + 1  # takes effect within one training step (commands are read before each)
        th.join(0.5)
        assert tr.step == at  # no step while paused
        cmds.put(ev.Resume())
        while tr.step < at + 3:
            th.join(0.01)
    finally:
        cmds.put(ev.Stop(save=False))
        th.join(30)
    assert not th.is_alive()
    states = []
    while not events.empty():
        e = events.get()
        if isinstance(e, ev.State):
            states.append(e.state)
    assert states[0] == "running" and "paused" in states and states[-1] == "stopped"
    assert states.index("paused") < len(states) - 1 - states[::-1].index("running")


def test_crash_in_a_step_surfaces_as_error_event(tiny_cfg, monkeypatch):
    events: queue.Queue = queue.Queue()
    tr = _trainer(tiny_cfg, events=events)

    def boom(batch):
        raise FloatingPointError("loss is NaN")

    monkeypatch.setattr(tr.backend, "train_step", boom)
    with pytest.raises(FloatingPointError):
        tr.run(steps=5)
    errors = [e for e in list(events.queue) if isinstance(e, ev.State) and e.state == "error"]
    assert errors and "loss is NaN" in errors[0].message


def test_full_event_queue_drops_oldest_and_never_blocks(tiny_cfg):
    events: queue.Queue = queue.Queue(maxsize=3)
    tr = _trainer(tiny_cfg, events=events)
    tr.run(steps=60)  # emits far more than 3 events; must not block
    last = [events.get_nowait() for _ in range(events.qsize())]
    assert isinstance(last[-1], ev.State) and last[-1].state == "finished"


def test_labels_added_during_training_are_picked_up(tiny_cfg):
    tr = _trainer(tiny_cfg, per_class=1)
    assert tr.n_labels == 10
    ds = tr.ds
    unl = np.flatnonzero(tr.labels.read() < 0)[:5]
    tr.labels.set_many({int(i): int(ds.targets[i]) for i in unl}, source="cli")
    tr.run(steps=tiny_cfg.train.tau_every)
    assert tr.n_labels == 15


def test_labels_file_broken_during_training_is_reported_and_picked_up_when_fixed(tiny_cfg):
    from engine.stores.labels_csv import format_labels, labels_hash

    tr = _trainer(tiny_cfg, per_class=1)
    good = tr.labels.labels_dict()
    fixed = {**good, **{int(i): int(tr.ds.targets[i]) for i in np.flatnonzero(tr.labels.read() < 0)[:7]}}
    seen: list[ev.LabelsError] = []
    n_at_step: dict[int, int] = {}

    def hook(e):
        if isinstance(e, ev.LabelsError):
            seen.append(e)
        if isinstance(e, ev.Metrics):
            n_at_step[e.step] = tr.n_labels
            if e.step == 20:  # broken by hand mid-run
                tr.labels.path.write_bytes(b"Serial,label\n3,seven\n")
            elif e.step == 60:
                tr.labels.path.write_bytes(format_labels(fixed).encode())

    tr.listeners.append(hook)
    summary = tr.run(steps=100)
    assert summary["step"] == 100 and tr.history[-1]["step"] == 100  # the run finished
    assert [bool(e.message) for e in seen] == [True, False]
    broken, ok = seen
    assert str(tr.labels.path) in broken.message and "seven" in broken.message
    assert broken.n_labels == 10 and 20 < broken.step <= 30  # found at the next label poll
    assert n_at_step[50] == 10  # still training on the last good labels
    assert ok.n_labels == 17 and 60 < ok.step <= 70 and tr.n_labels == 17 and tr.labels_error == ""
    d = ev.to_dict(broken)
    assert d["type"] == "labels_error" and ev.from_dict(d) == broken

    tr.labels.path.write_bytes(b"junk")
    tr.run(steps=120)
    assert tr.labels_error and tr.n_labels == 17
    meta = tr._meta("x")  # a checkpoint saved meanwhile records the labels it trained with
    assert meta["labels_hash"] == labels_hash(fixed) and meta["labels_count"] == 17


def test_labels_file_broken_before_training_is_an_error(tiny_cfg):
    from engine.errors import LabelError

    ds = load_dataset(tiny_cfg.data.name)
    store = label_store_for(tiny_cfg.data.name, ds.n_train, ds.num_classes)
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(b"Serial,label\n1_0,3\n")
    with pytest.raises(LabelError, match="line 2: Serial '1_0' is not a number"):
        Trainer(tiny_cfg, ds, store)


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_is_exact(home, ema_decay):
    cfg = from_dict(tiny_config_dict(steps=40, eval_every=1000, ema_decay=ema_decay))
    a = _trainer(cfg)
    a.run(steps=40)
    ref = a.backend.get_weights()

    b = _trainer(cfg)
    b.run(steps=20)
    b.save_checkpoint("half")
    c = _trainer(cfg)
    meta = c.load_checkpoint("half")
    assert meta["step"] == 20 and c.step == 20 and c.phase == b.phase
    np.testing.assert_array_equal(c.tau.counts, b.tau.counts)
    c.run(steps=40)
    got = c.backend.get_weights()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=0, atol=1e-6, err_msg=k)
    avg_a, avg_c = a.backend.averaged_weights(), c.backend.averaged_weights()
    assert (avg_a is None) == (avg_c is None) == (ema_decay == 0)
    for k in avg_a or {}:
        np.testing.assert_allclose(avg_c[k], avg_a[k], rtol=0, atol=1e-6, err_msg=f"ema {k}")


def test_reloaded_model_predicts_like_the_trained_one(tiny_cfg):
    """tau counts travel with the checkpoint: no collapse to one class after reload."""
    tr = _trainer(tiny_cfg)
    tr.run(steps=100)
    tr.save_checkpoint("x")
    fresh = _trainer(tiny_cfg)
    fresh.load_checkpoint("x", weights_only=True)
    x = tr.ds.float_images(tr.ds.test_idx)
    from engine.backends.base import Out

    a, b = tr.backend.predict(x)[Out.PROBS], fresh.backend.predict(x)[Out.PROBS]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert len(np.unique(b.argmax(1))) == 10


def test_checkpoint_with_other_model_config_is_refused(tiny_cfg):
    from engine.errors import CheckpointError

    tr = _trainer(tiny_cfg)
    tr.save_checkpoint("small")
    d = tiny_config_dict()
    d["model"]["latent_dim"] = 4
    other = _trainer(from_dict(d))
    with pytest.raises(CheckpointError, match="different model config"):
        other.load_checkpoint("small")


def test_checkpoint_written_before_the_model_variants_still_loads(tiny_cfg, home):
    """Its meta's model lacks prior/encoder/decoder/aux: they take their defaults, as it was trained."""
    import json

    tr = _trainer(tiny_cfg)
    tr.save_checkpoint("old")
    meta_path = home / "artifacts" / "checkpoints" / "old.ckpt" / "meta.json"
    meta = json.loads(meta_path.read_text())
    for key in ("prior", "encoder", "decoder", "aux"):
        del meta["model"][key]
    meta_path.write_text(json.dumps(meta))
    assert _trainer(tiny_cfg).load_checkpoint("old")["step"] == 0
    meta["model"]["prior"] = "vamp"  # but a different variant is refused
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(Exception, match="different model config"):
        _trainer(tiny_cfg).load_checkpoint("old")


def test_snapshots_keep_the_newest(home):
    cfg = from_dict(tiny_config_dict(snapshots_keep=2))
    tr = _trainer(cfg, snapshot_dir=home / "artifacts" / "snapshots" / "run")
    tr.run(steps=5)  # snapshot_every_s = 0: one due at every step, the last one written at the end
    for step in (6, 7, 8):
        tr.step = step
        tr.write_snapshot()
    snaps = sorted((home / "artifacts" / "snapshots" / "run").glob("step_*"))
    assert [p.name for p in snaps] == ["step_00000007", "step_00000008"]
    from engine.stores.checkpoints import read_checkpoint_dir

    assert read_checkpoint_dir(snaps[-1]).meta["step"] == 8


def test_roi_mask_and_shift_augment():
    m = roi_mask((0.25, 0.5, 0.75, 1.0), 8)
    assert m.sum() == 4 * 4 and m[4:, 2:6].all() and not m[:4].any()
    x = np.zeros((1, 5, 5), np.float32)
    x[0, 2, 2] = 1
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = shift_augment(x, 1, rng)
        r, c = np.argwhere(y[0])[0]
        assert abs(r - 2) <= 1 and abs(c - 2) <= 1 and y.sum() == 1


def test_affine_augment_known_answers():
    rng = np.random.default_rng(0)
    x = rng.random((3, 8, 8), dtype=np.float32)
    assert np.allclose(affine_augment(x, 0, 0.0, 0.0, rng), x, atol=1e-6)  # identity

    class Highest:  # an rng whose draws are the top of each range: exactly +90 degrees, zoom 1.5
        def uniform(self, lo, hi, n):
            return np.full(n, float(hi))

        def integers(self, lo, hi, shape):
            return np.zeros(shape, np.int64)

    y = affine_augment(x, 0, 90.0, 0.0, Highest())  # type: ignore[arg-type]
    assert all(np.allclose(y[i], np.rot90(x[i], 1), atol=1e-5) for i in range(3)) or all(
        np.allclose(y[i], np.rot90(x[i], 3), atol=1e-5) for i in range(3)
    )
    dot = np.zeros((1, 9, 9), np.float32)
    dot[0, 4, 6] = 1  # 2 pixels right of the centre; zoomed by 1.5 it lands 3 pixels right
    zoomed = affine_augment(dot, 0, 0.0, 0.5, Highest())  # type: ignore[arg-type]
    assert zoomed[0, 4, 7] == pytest.approx(1.0) and zoomed[0, 4, 6] == pytest.approx(1 / 3, abs=1e-5)
    # a shift moves a single dot by up to max_shift pixels and keeps its mass
    dot = np.zeros((1, 9, 9), np.float32)
    dot[0, 4, 4] = 1
    for _ in range(10):
        z = affine_augment(dot, 2, 0.0, 0.0, rng)
        r, c = np.argwhere(z[0] > 0.5)[0]
        assert abs(r - 4) <= 2 and abs(c - 4) <= 2 and z.sum() == pytest.approx(1.0)
    # a point mapped far outside reads zeros, never wraps around
    big = affine_augment(np.ones((4, 8, 8), np.float32), 8, 45.0, 0.5, rng)
    assert big.min() >= 0 and big.max() <= 1 + 1e-6 and (big == 0).any()


def _record_rows(tr) -> list:
    """Make the trainer's backend record every dataset row a batch's views are drawn from."""
    seen: list = []
    real = tr.backend.views

    def spy(plan):
        seen.append(np.asarray(plan.rows))
        return real(plan)

    tr.backend.views = spy
    return seen


def test_validation_split_is_held_out_of_training_and_scored(home):
    from engine.datasets import oracle_labels, validation_idx

    cfg = from_dict({**tiny_config_dict(), "data": {"name": "synth", "validation": 100}})
    ds = load_dataset("synth")
    val = validation_idx(ds, 100)
    assert len(val) == 100 and val.max() < ds.n_train and np.array_equal(val, validation_idx(ds, 100))
    chosen = oracle_labels(ds, 5, 0, exclude=val)
    assert len(chosen) == 50 and not set(chosen) & set(val.tolist())
    store = label_store_for("synth", ds.n_train, ds.num_classes)
    store.set_many({**chosen, int(val[0]): int(ds.targets[val[0]])}, source="test")  # one label on a held-out sample
    tr = Trainer(cfg, ds, store)
    assert tr.n_labels == 50  # the held-out sample's label is not trained with
    seen = _record_rows(tr)
    for _ in range(30):
        tr.make_batch()
    drawn = set(np.concatenate(seen).tolist())
    assert len(drawn) > 300 and not drawn & set(val.tolist())
    e = tr.evaluate()
    assert e.split == "validation" and e.n_test == 100 and tr.last_eval["split"] == "validation"
    plain = Trainer(from_dict(tiny_config_dict()), ds, store)
    seen = _record_rows(plain)
    for _ in range(30):
        plain.make_batch()
    assert set(np.concatenate(seen).tolist()) & set(val.tolist())  # the control: without it they are drawn
    e = plain.evaluate()
    assert e.split == "test" and e.n_test == ds.n_test


def test_weak_shift_moves_the_main_view_but_not_boxed_feedback_rows(home):
    for shift in (0, 3):
        tr = _trainer(from_dict(tiny_config_dict(weak_shift=shift)))
        tr.set_feedback([{"sample_idx": 1, "x0": 0.1, "y0": 0.1, "x1": 0.9, "y1": 0.9}])
        seen = _record_rows(tr)
        b = tr.make_batch()
        stored = tr.ds.images[seen[-1]].astype(np.float32) / 255
        same = [np.array_equal(b["x"][i], stored[i]) for i in range(len(stored))]
        assert same[-1]  # the boxed row is the stored image
        assert all(same) if shift == 0 else sum(same) < len(same) / 2


def test_ema_evaluation_uses_averaged_weights_and_restores_the_live_ones(home):
    from engine.backends.base import Out

    tr = _trainer(from_dict(tiny_config_dict(ema_decay=0.95, eval_every=10**6)))
    tr.run(steps=60, evaluate_at_end=False)
    live = tr.backend.get_weights()
    tau_live = tr.tau.matrix.copy()
    avg = tr.backend.averaged_weights()
    assert avg is not None and any(not np.allclose(avg[k], live[k]) for k in avg)
    test = tr.ds.test_idx
    probs_live = tr.backend.predict(tr.ds.float_images(test))[Out.PROBS]
    e = tr.evaluate()
    after = tr.backend.get_weights()
    assert all(np.array_equal(after[k], live[k]) for k in live) and np.array_equal(tr.tau.matrix, tau_live)
    with tr.averaged_weights():
        probs_ema = tr.backend.predict(tr.ds.float_images(test))[Out.PROBS]
    assert not np.allclose(probs_ema, probs_live)  # the evaluation saw other weights
    assert e.test_acc == pytest.approx(float((probs_ema.argmax(1) == tr.ds.targets[test]).mean()))


def test_the_map_and_every_prediction_use_the_averaged_weights_too(home, tmp_path):
    """The model a run reports is its weight average: the map's embeddings, ``predict_all`` (infer,
    suggest, label issues) and a checkpoint loaded only to predict all use it, as the evaluation."""
    from engine.backends.base import Out
    from engine.stores.checkpoints import CheckpointStore
    from engine.training.checkpoints import served_weights
    from engine.workspace import predict_all

    cfg = from_dict(tiny_config_dict(ema_decay=0.95, eval_every=10**6))
    tr = _trainer(cfg)
    tr.run(steps=60, evaluate_at_end=False)
    with tr.averaged_weights():
        want = tr.backend.predict(tr.ds.float_images(np.arange(len(tr.ds.images))))[Out.PROBS]
    live = tr.backend.predict(tr.ds.float_images(np.arange(len(tr.ds.images))))[Out.PROBS]
    assert not np.allclose(want, live, atol=1e-4)
    np.testing.assert_allclose(tr.embed().probs, want, atol=1e-5)
    np.testing.assert_allclose(predict_all(tr)[Out.PROBS], want, atol=1e-5)
    store = CheckpointStore(tmp_path / "ck")
    tr.save_checkpoint("avg", store=store)
    fresh = _trainer(cfg)
    fresh.load_checkpoint("avg", store=store, weights_only=True)
    np.testing.assert_allclose(predict_all(fresh)[Out.PROBS], want, atol=1e-5)
    ck = store.load("avg")  # the XAI worker's snapshots: the same choice of weights
    served = served_weights(ck.weights, ck.state, ck.meta)
    avg = tr.backend.averaged_weights()
    assert avg and all(np.array_equal(served[k], avg[k]) for k in avg)
    assert np.array_equal(served["tau"], ck.weights["tau"])  # a buffer: the live tau
    plain = served_weights(ck.weights, {}, ck.meta)
    assert all(np.array_equal(plain[k], ck.weights[k]) for k in ck.weights)


def test_a_young_average_is_not_the_model_yet(home):
    """With decay 0.999 the average of a 60-step run is mostly its random start: the map and the
    evaluation use the live weights until the start weighs under 10% of the average."""
    from engine.backends.base import Out
    from engine.training.checkpoints import average_is_ready, served_weights

    assert not average_is_ready(0.999, 800) and not average_is_ready(0.999, 2300)
    assert average_is_ready(0.999, 2320) and average_is_ready(0.999, 3000)
    assert not average_is_ready(0.0, 10**6) and average_is_ready(0.95, 60)
    tr = _trainer(from_dict(tiny_config_dict(ema_decay=0.999, eval_every=10**6)))
    tr.run(steps=60, evaluate_at_end=False)
    assert tr.backend.has_average()
    live = tr.backend.predict(tr.ds.float_images(np.arange(len(tr.ds.images))))[Out.PROBS]
    np.testing.assert_allclose(tr.embed().probs, live, atol=1e-5)
    meta = {"step": 60, "config": {"train": {"ema_decay": 0.999}}}
    w = tr.backend.get_weights()
    assert served_weights(w, {"ema.enc.w": np.zeros(1)}, meta) is w


def test_mean_teacher_starts_when_the_average_is_ready(home, monkeypatch):
    """The trainer asks for the average's pseudo-labels only once the average is the model
    (average_is_ready), and never without an average (ema_decay 0)."""
    from engine.training.checkpoints import average_is_ready

    def teacher_per_step(**train) -> list[bool]:
        tr = _trainer(from_dict(tiny_config_dict(mean_teacher=True, eval_every=10**6, **train)))
        seen: list[bool] = []
        step = tr.backend.train_step

        def spy(batch):
            seen.append(tr.backend.mean_teacher and tr.backend.has_average())
            return step(batch)

        monkeypatch.setattr(tr.backend, "train_step", spy)
        tr.run(steps=60, evaluate_at_end=False)
        return seen

    seen = teacher_per_step(ema_decay=0.9)
    first = seen.index(True)
    assert not any(seen[:first]) and all(seen[first:])
    assert average_is_ready(0.9, first) and not average_is_ready(0.9, first - 1)
    assert not any(teacher_per_step(ema_decay=0.0))


def test_snapshots_are_written_off_the_training_thread(home, monkeypatch):
    """The loop's snapshots are written by a niced writer thread: a slow disk skips snapshots
    rather than slowing the steps; each Snapshot event names files already on disk, and the run's
    last weights are snapshotted at its end."""
    import time

    import engine.stores.checkpoints as store

    write = store.write_checkpoint_dir
    writers: list[str] = []

    def slow_write(path, ckpt, **kw):
        writers.append(threading.current_thread().name)
        time.sleep(0.3)
        return write(path, ckpt, **kw)

    monkeypatch.setattr(store, "write_checkpoint_dir", slow_write)
    snap_dir = home / "artifacts" / "snapshots" / "run"
    tr = _trainer(from_dict(tiny_config_dict(snapshots_keep=50)), snapshot_dir=snap_dir)
    seen: list[tuple[str, bool]] = []
    tr.listeners.append(lambda e: seen.append((e.path, Path(e.path).is_dir())) if isinstance(e, ev.Snapshot) else None)
    tr.run(steps=20, evaluate_at_end=False)  # snapshot_every_s = 0: one is due at every step
    assert 2 <= len(writers) < 20  # the steps went on while a write took 0.3 s: the due ones skipped
    assert set(writers[:-1]) == {"snapshot-writer"}  # the last: written at the end, on the run's thread
    assert seen and all(ok for _, ok in seen)
    assert Path(seen[-1][0]).name == "step_00000020"
    assert sorted(p.name for p in snap_dir.glob("step_*")) == [Path(p).name for p, _ in seen]


def test_a_failed_snapshot_write_stops_the_run_with_its_error(home, monkeypatch):
    import engine.stores.checkpoints as store

    def broken(path, ckpt, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_checkpoint_dir", broken)
    tr = _trainer(from_dict(tiny_config_dict()), snapshot_dir=home / "snaps")
    states: list = []
    tr.listeners.append(lambda e: states.append(e) if isinstance(e, ev.State) else None)
    with pytest.raises(OSError, match="No space left"):
        tr.run(steps=20, evaluate_at_end=False)
    assert states[-1].state == "error" and "No space left" in states[-1].message
