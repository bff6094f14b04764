"""Dashboard services below the browser: overlay sync, embedding cache, figures, queue, training."""

from __future__ import annotations

import base64
import json
import queue
import struct
import sys
import threading
import time
import zlib

import numpy as np
import pytest

from app import arrays, colours, figures
from app.services.candidates import EXTERNAL, Candidate, CandidateQueue
from app.services.embeddings import COLOUR_MODES, EmbeddingCache
from app.services.images import png_gray
from app.services.overlay import LabelOverlay
from app.services.train_settings import validate_settings
from app.services.training import SessionError, TrainingSession

# -- label overlay ------------------------------------------------------------------------------


def _apply(client: dict[int, tuple[int, int]], slots) -> None:
    for st in slots:
        client[st.slot] = (st.serial, st.label)


def _shown(full_or_client) -> dict[int, int]:
    """serial -> label of the visible overlay points."""
    if isinstance(full_or_client, dict):
        return {s: lab for s, lab in full_or_client.values() if lab >= 0}
    return {int(s): int(lab) for s, lab in zip(full_or_client.serial, full_or_client.label, strict=True) if lab >= 0}


def test_overlay_deltas_are_idempotent_slot_assignments():
    ov = LabelOverlay(10, headroom=4)
    labels = np.full(10, -1)
    labels[[1, 4]] = [3, 5]
    ov.rebuild(labels)
    full = ov.full()
    assert _shown(full) == {1: 3, 4: 5} and ov.capacity == 6
    client = {i: (int(s), int(lab)) for i, (s, lab) in enumerate(zip(full.serial, full.label, strict=True))}
    gen, rev = full.gen, full.rev

    labels = labels.copy()
    labels[7] = 2  # new label: takes a free slot
    labels[1] = -1  # undo: its slot is hidden
    assert ov.sync(labels)
    assert not ov.sync(labels)  # nothing new
    g2, r2, slots = ov.delta(gen, rev)
    assert g2 == gen and r2 > rev and len(slots) == 2
    _apply(client, slots)
    _apply(client, slots)  # applying twice (a duplicated response) changes nothing
    assert _shown(client) == {4: 5, 7: 2} == _shown(ov.full())
    # A client that already has r2 gets nothing; one from another generation gets None (full).
    assert ov.delta(gen, r2)[2] == []
    assert ov.delta(gen + 1, r2) is None
    assert ov.delta(gen, rev - 5) is None


def test_overlay_starts_a_new_generation_when_slots_run_out():
    ov = LabelOverlay(100, headroom=2)
    labels = np.full(100, -1)
    ov.rebuild(labels)
    gen = ov.gen
    labels = labels.copy()
    labels[:5] = 1
    ov.sync(labels)
    assert ov.gen == gen + 1 and _shown(ov.full()) == dict.fromkeys(range(5), 1)


def test_overlay_delta_after_trimmed_log_requires_full():
    ov = LabelOverlay(50, headroom=40, log_limit=3)
    labels = np.full(50, -1)
    ov.rebuild(labels)
    full = ov.full()
    for i in range(6):
        labels = labels.copy()
        labels[i] = 0
        ov.sync(labels)
    assert ov.delta(full.gen, full.rev) is None  # its first missing changes were trimmed
    assert ov.delta(full.gen, ov.rev - 2) is not None


# -- embedding cache and figures --------------------------------------------------------------------


def _cache(n=2000, d=8, c=10, k=12, seed=0):
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, c, n)
    cache = EmbeddingCache(targets, n_train=n, n_points=n)
    mu = rng.normal(size=(n, d)).astype(np.float32) * np.linspace(3, 0.5, d, dtype=np.float32)
    probs = rng.dirichlet(np.ones(c), n).astype(np.float32)
    resp = rng.dirichlet(np.ones(k), n).astype(np.float32)
    return cache, mu, probs, resp


def test_cache_versions_keep_orientation_and_precompute_colours():
    cache, mu, probs, resp = _cache()
    v1 = cache.update(mu, probs, resp, step=0, trained=False)
    assert v1.version == 1 and v1.xy.dtype == np.float32 and v1.xy.shape == (2000, 2)
    assert np.percentile(np.abs(v1.xy), 99) < 1.5  # normalised for plotting
    # The latent space rotates and shrinks a little (as after a few training steps): the map must not.
    theta = 0.7
    rot = np.eye(mu.shape[1], dtype=np.float32)
    rot[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    v2 = cache.update(mu @ rot * 0.9 + 0.01, probs, resp, step=10, trained=True)
    assert v2.version == 2 and v2.trained
    assert np.abs(v2.xy - v1.xy).max() < 1e-3
    assert v2.pred.dtype == np.uint8 and v2.certainty.max() <= 100
    assert np.array_equal(v2.pred, probs.argmax(1)) and np.array_equal(v2.component, resp.argmax(1))
    store = figures.colour_store(v2)
    assert set(store["modes"]) == set(COLOUR_MODES)
    spec = store["modes"]["pred"]["color"]
    assert spec["dtype"] == "u1" and np.array_equal(np.frombuffer(base64.b64decode(spec["bdata"]), np.uint8), v2.pred)


def test_typed_array_specs_round_trip():
    a = np.arange(6, dtype=np.float32).reshape(3, 2) / 7
    spec = arrays.typed(a)
    assert spec["dtype"] == "f4" and spec["shape"] == "3, 2"  # plotly.js wants the shape as a string
    assert np.array_equal(np.frombuffer(base64.b64decode(spec["bdata"]), np.float32).reshape(3, 2), a)
    with pytest.raises(TypeError):
        arrays.typed(np.zeros(2, np.complex64))


def test_scatter_payload_under_one_megabyte_at_70000_points():
    cache, mu, probs, resp = _cache(n=70_000, d=16)
    v = cache.update(mu, probs, resp, step=0, trained=False)
    ov = LabelOverlay(v.n_points)
    labels = np.full(v.n_points, -1)
    labels[:500] = 1
    ov.rebuild(labels)
    size = len(json.dumps(figures.map_figure(v)))
    assert size <= 1_000_000, size
    overlay = len(json.dumps(figures.overlay_figure(v, ov.full())))
    assert overlay < 60 * (500 + 256), overlay  # labelled points only, a few dozen bytes each
    colours = len(json.dumps(figures.colour_store(v)))
    assert colours <= 400_000, colours  # kept in the browser, sent with each version


def test_stepped_colorscale_maps_integers_to_palette():
    scale = colours.stepped_colorscale(["#000", "#111", "#222"])
    assert scale[0] == [0.0, "#000"] and scale[-1] == [1.0, "#222"]
    assert len(colours.palette(25)) == 25 and len(set(colours.palette(25))) == 25


def test_png_encoder_writes_valid_grayscale_png():
    img = (np.arange(28 * 28) % 256).astype(np.uint8).reshape(28, 28)
    data = png_gray(img)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (w, h, depth, colour) == (28, 28, 8, 0)
    idat = data[data.index(b"IDAT") + 4 : data.index(b"IEND") - 8]
    raw = zlib.decompress(idat)
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(28, 29)[:, 1:], img)
    assert png_gray(np.full((4, 4), 0.5, np.float32))[:8] == b"\x89PNG\r\n\x1a\n"


# -- candidate queue ------------------------------------------------------------------------------------


def test_queue_ranks_by_strategy_and_drops_labelled():
    n = 300
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(10) * 0.3, n).astype(np.float32)
    feats = rng.normal(size=(n, 4)).astype(np.float32)
    labels = np.full(n, -1)
    q = CandidateQueue(n, size=5, pool=20)
    items = q.items("least_confidence", 1, probs, feats, labels)
    assert len(items) == 5
    conf = probs.max(1)
    assert [c.serial for c in items] == list(np.argsort(conf, kind="stable")[:5])
    assert all(c.score == pytest.approx(1 - conf[c.serial]) for c in items)
    labels = labels.copy()
    labels[items[0].serial] = 3
    again = q.items("least_confidence", 1, probs, feats, labels)
    assert items[0].serial not in [c.serial for c in again] and again[0].serial == items[1].serial
    # k-center needs features, bald needs MC passes (scored on a shortlist)
    assert len(q.items("kcenter", 1, probs, feats, labels)) == 5
    mc_calls = []

    def mc(serials):
        mc_calls.append(len(serials))
        return np.stack([probs[serials]] * 4)

    assert len(q.items("bald", 1, probs, feats, labels, mc=mc)) == 5 and mc_calls
    assert len(CandidateQueue.strategies()) >= 8


def test_queue_external_source_for_the_forecast_worker():
    n = 50
    q = CandidateQueue(n, size=3)
    feats = np.zeros((n, 2), np.float32)
    labels = np.full(n, -1)
    labels[3] = 0
    probs = np.full((n, 10), 0.1, np.float32)
    assert q.items(EXTERNAL, 1, probs, feats, labels) == [] and "no forecast yet" in q.describe_source(EXTERNAL)
    q.set_external(
        [
            {"sample_idx": 7, "risk": 0.9, "predicted": 1, "why": "unstable"},
            {"serial": 3, "score": 0.5},
            Candidate(9, 0.1, 2, 0.5),
        ],
        note="review window open",
    )
    got = q.items(EXTERNAL, 1, probs, feats, labels)
    assert [c.serial for c in got] == [7, 9] and got[0].why == "unstable"  # 3 is labelled
    assert q.key(EXTERNAL, 1)[0] == "external" and q.describe_source(EXTERNAL) == "review window open"
    rev = q.key(EXTERNAL, 1)
    with pytest.raises(ValueError):
        q.set_external([{"serial": 99}])
    assert q.key(EXTERNAL, 1) == rev  # a refused list changes nothing
    # the engine strategies are unaffected by the pushed list
    assert len(q.items("entropy", 1, probs, feats, labels)) == 3 and q.key("entropy", 1)[0] == "strategy"
    assert EXTERNAL in [o["value"] for o in CandidateQueue.strategies()]


# -- training settings and session -----------------------------------------------------------------------


def test_validate_settings_names_key_paths(tiny_cfg):
    ok = {"steps": 10, "lr": 0.01, "alpha": 1, "beta": 1, "gamma": 1, "consistency": 0.5, "refresh_every": 5}
    settings, cfg, errors = validate_settings(tiny_cfg, ok)
    assert not errors and settings.steps == 10 and cfg.train.lr == 0.01 and cfg.loss.consistency == 0.5
    _, _, errors = validate_settings(tiny_cfg, {**ok, "lr": 0})
    assert "lr" in errors and errors["lr"].startswith("train.lr:")
    _, _, errors = validate_settings(tiny_cfg, {**ok, "alpha": -1, "steps": ""})
    assert errors["steps"] == "train.steps: required"
    _, _, errors = validate_settings(tiny_cfg, {**ok, "steps": 2.5, "beta": "x"})
    assert "whole number" in errors["steps"] and "not a number" in errors["beta"]
    _, _, errors = validate_settings(tiny_cfg, {**ok, "alpha": -1})
    assert errors["alpha"].startswith("loss.alpha:")


def _session(cfg, **kw):
    from engine.stores.checkpoints import CheckpointStore
    from engine.workspace import make_trainer, open_workspace

    ws = open_workspace(cfg=cfg)
    ws.labels.set_many({i: int(ws.dataset.targets[i]) for i in range(30)}, source="test")
    trainer = make_trainer(ws, embed_every=20)
    refreshed = []
    return TrainingSession(
        trainer,
        "sess",
        CheckpointStore(),
        on_refresh=lambda e, w, t, tau: refreshed.append(
            (e.version, e.step, w is not None and len(tau) == len(e.probs))
        ),
        **kw,
    ), refreshed


def _wait(cond, timeout=60.0):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_session_runs_pauses_resumes_and_stops(tiny_cfg):
    from app.services.train_settings import TrainSettings
    from app.services.training import RUN_SWITCH_INTERVAL_S

    sess, refreshed = _session(tiny_cfg)
    before = sys.getswitchinterval()
    sess.start(TrainSettings(steps=100000, lr=1e-3, refresh_every=20, save_at_end=False))
    with pytest.raises(SessionError, match="already"):
        sess.start(TrainSettings(steps=5))
    _wait(lambda: (sess.drain(), sess.step >= 20)[1])
    # while a run goes on, the page's threads hold the interpreter lock for short turns only
    assert sys.getswitchinterval() == pytest.approx(RUN_SWITCH_INTERVAL_S) and before > RUN_SWITCH_INTERVAL_S
    sess.pause()
    _wait(lambda: (sess.drain(), sess.state == "paused")[1])
    step = sess.trainer.step
    time.sleep(0.5)
    sess.drain()
    assert sess.trainer.step == step and sess.state == "paused"
    sess.resume()
    _wait(lambda: (sess.drain(), sess.state == "running" and sess.step > step)[1])
    sess.stop()
    assert sess.wait(60)
    sess.drain()
    assert sess.state == "stopped" and not sess.busy
    assert sys.getswitchinterval() == pytest.approx(before)
    assert sess.history.metrics and sess.history.metrics[-1]["step"] <= sess.trainer.step
    assert refreshed and refreshed[-1][2]  # new embeddings, with weights for the viewer


def test_session_error_is_reported_and_session_recovers(tiny_cfg):
    from app.services.train_settings import TrainSettings

    sess, _ = _session(tiny_cfg)
    real = sess.trainer.backend.train_step
    calls = {"n": 0}

    def boom(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise FloatingPointError("loss is NaN")
        return real(batch)

    sess.trainer.backend.train_step = boom
    sess.start(TrainSettings(steps=10, save_at_end=False))
    assert sess.wait(60)
    sess.drain()
    assert sess.state == "error" and "loss is NaN" in sess.error
    sess.trainer.backend.train_step = real
    sess.start(TrainSettings(steps=3, save_at_end=True))
    assert sess.wait(120)
    sess.drain()
    assert sess.state == "finished" and sess.error == "" and "saved checkpoint 'sess'" in sess.message


def test_session_queues_are_bounded_and_never_block(tiny_cfg):
    sess, _ = _session(tiny_cfg, event_queue_size=5)
    for _ in range(50):  # a page that never drains must not stall the trainer
        sess.trainer.emit(object())
    assert sess.events.qsize() == 5
    assert isinstance(sess.commands, queue.Queue) and threading.current_thread() is threading.main_thread()


# -- the label change log as the page reads it ------------------------------------------------------------


def test_label_store_counts_other_sources_labels_incrementally(tmp_path):
    from engine.stores.labels import LabelStore

    store = LabelStore(tmp_path / "labels.csv", 100, 10)
    store.set(1, 1, source="cli")
    start = store.history()[-1]["id"]
    assert store.added_since(start) == 0
    store.set(2, 2, source="cli")
    store.set(3, 3, source="app")  # the app's own labels do not count
    store.set_many({4: 4, 5: 5}, source="cli")
    store.clear(2, source="cli")  # a cleared label is not an added one
    assert store.added_since(start) == 3 and store.added_since(0) == 4
    with open(store.log_path, "ab") as f:
        f.write(b'{"id": 99, "op": "set", "source": "cli", "changes": [{"serial": 9, "new"')  # still being written
    assert store.added_since(start) == 3
    with open(store.log_path, "ab") as f:
        f.write(b": 1}]}\n")
    assert store.added_since(start) == 4  # the finished line is counted once
    store.log_path.write_text("")  # the log was replaced
    assert store.added_since(start) == 0


def test_a_clustering_queue_ranks_a_new_map_version_off_the_request_thread():
    """After a map refresh, typical/auto show the last ranking at once, and key() changes when the
    new ranking (computed in a thread) lands; then items() returns it."""
    import time

    from app.services.candidates import CandidateQueue
    from engine.analysis.ranking import rank_unlabelled

    rng = np.random.default_rng(0)
    n = 400
    labels = np.full(n, -1)
    q = CandidateQueue(n, size=5, pool=20)
    f1, f2 = rng.normal(size=(n, 4)), rng.normal(size=(n, 4)) * 3
    probs = rng.dirichlet(np.ones(3), size=n)
    first = [c.serial for c in q.items("typical", 1, probs, f1, labels)]  # nothing to show yet: ranked now
    k1 = q.key("typical", 2)
    again = [c.serial for c in q.items("typical", 2, probs, f2, labels)]
    assert again == first  # the last ranking, at once
    deadline = time.monotonic() + 20
    while q.key("typical", 2) == k1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert q.key("typical", 2) != k1
    want = rank_unlabelled("typical", 20, probs=probs, features=f2, labelled=labels >= 0).indices[:5].tolist()
    assert [c.serial for c in q.items("typical", 2, probs, f2, labels)] == want != first
    # a fast strategy is ranked at once, as before
    assert [c.serial for c in q.items("entropy", 3, probs, f2, labels)] == [
        c.serial for c in q.items("entropy", 3, probs, f2, labels)
    ]
