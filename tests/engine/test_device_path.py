"""The device path (docs/backends.md, "The batch's images"): a backend holds the training images
and draws each batch's two views from them with the trainer's draws. Every backend must give the
pixels of the numpy reference (engine/training/augment.py), so a run does not depend on where its
batches are made; on this CPU the same code runs with ``device=cpu``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import events as ev
from engine.backends.base import Backend
from engine.backends.registry import create_backend
from engine.config import from_dict
from engine.datasets import load_dataset, oracle_labels
from engine.stores.labels import LabelStore
from engine.training.augment import Affine, ViewPlan, draw_affine, draw_shift, plan_views
from engine.training.trainer import Trainer
from tests.helpers import tiny_config_dict

BACKENDS = ["torch", "tensorflow", "jax"]
# The backends' own tests (views, weight average) run on this device: cpu here; on a GPU machine
# LATENTLOOP_TEST_DEVICE=cuda checks the same known answers there.
DEVICE = os.environ.get("LATENTLOOP_TEST_DEVICE", "cpu")
SHAPES = [(28, 28, 1), (32, 32, 3), (20, 24, 1)]
AFFINE_ATOL = 1e-5  # the bilinear blend of a grid computed in float32 (JAX) is within ~3e-6 of numpy's


def _backend(name: str, shape: tuple[int, int, int]) -> Backend:
    raw = tiny_config_dict()
    raw["model"] = {**raw["model"], "image_shape": list(shape)}
    return create_backend(name, from_dict(raw).model, DEVICE, 1)


def _host(v: Any) -> np.ndarray:
    """A backend's array as numpy (a torch tensor on a GPU comes back first)."""
    return np.asarray(v.cpu() if hasattr(v, "cpu") else v)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("upload", [False, True], ids=["host-rows", "held"])
def test_views_match_the_numpy_reference(name: str, upload: bool) -> None:
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        be = _backend(name, shape)
        images = rng.integers(0, 256, (40, *be.cfg.sample_shape), dtype=np.uint8)
        be.hold_images(images, upload)
        rows = rng.integers(0, 40, 13)
        weak = draw_shift(rng, 13, 2)
        weak[-3:] = 0  # feedback rows stay put
        for aug in (draw_shift(rng, 13, 3), draw_affine(rng, 13, 2, 15.0, 0.1)):
            plan = ViewPlan(rows, aug, weak)
            x, x_aug = (_host(v) for v in be.views(plan))
            ref_x, ref_aug = plan_views(images[rows].astype(np.float32) / np.float32(255.0), plan)
            assert x.dtype == x_aug.dtype == np.float32 and x.shape == ref_x.shape == x_aug.shape
            np.testing.assert_array_equal(x, ref_x, err_msg=f"{name} {shape} weak shift")
            if isinstance(aug, Affine):
                np.testing.assert_allclose(x_aug, ref_aug, rtol=0, atol=AFFINE_ATOL, err_msg=f"{name} {shape} affine")
            else:
                np.testing.assert_array_equal(x_aug, ref_aug, err_msg=f"{name} {shape} shift")


@pytest.mark.parametrize("name", BACKENDS)
def test_views_known_answers(name: str) -> None:
    """Independently of the reference: a shift moves a dot and drops what leaves the image; a
    quarter turn about the centre is np.rot90; no weak shift leaves the main view as stored."""
    be = _backend(name, (20, 24, 1))
    images = np.zeros((2, 20, 24), np.uint8)
    images[0, 5, 7] = 255
    images[1, 0, 0] = 51
    be.hold_images(images, True)
    x, x_aug = (_host(v) for v in be.views(ViewPlan(np.array([0, 1]), np.array([[2, -3], [-1, 0]]))))
    assert x[1, 0, 0] == np.float32(51) / np.float32(255) and x[0, 5, 7] == 1.0
    assert x_aug[0, 3, 10] == 1.0 and x_aug[0].sum() == 1.0  # pixel (r, c) reads (r + 2, c - 3)
    assert x_aug[1, 1, 0] == x[1, 0, 0] and x_aug[1].sum() == x[1].sum()
    gone = _host(be.views(ViewPlan(np.array([0]), np.array([[10, 0]])))[1])
    assert not gone.any()  # moved out of the image: zeros, never wrapped around

    sq = _backend(name, (12, 12, 1))
    img = np.random.default_rng(1).integers(0, 256, (1, 12, 12), dtype=np.uint8)
    sq.hold_images(img, False)
    quarter = Affine(np.array([0.0]), np.array([1.0]), np.array([1.0]), np.zeros((1, 2), np.int64))
    turned = _host(sq.views(ViewPlan(np.array([0]), quarter))[1])[0]
    ref = img[0].astype(np.float32) / 255
    assert np.allclose(turned, np.rot90(ref, 1), atol=1e-5) or np.allclose(turned, np.rot90(ref, 3), atol=1e-5)


def _run(home: Path, backend: str, numpy_views: bool, free: int | None = None, **train: Any) -> list[dict[str, float]]:
    """The Metrics losses of a 30-step run with feedback; ``numpy_views``: batches made in numpy (today's path)."""
    raw = tiny_config_dict(steps=30, eval_every=1000, log_every=5, **train)
    raw.update(backend=backend, seed=2, threads=1)
    raw["loss"] = {"pseudo_threshold": 0.01}  # every row in the consistency term: x_aug counts from step 1
    raw["curriculum"] = {"warmup_steps": 0, "anneal_steps": 10}
    cfg = from_dict(raw)
    ds = load_dataset("synth")
    labels = LabelStore(home / f"labels-{backend}-{numpy_views}-{free}.csv", ds.n_train, ds.num_classes)
    labels.set_many(oracle_labels(ds, 3, 2), source="oracle")
    tr = Trainer(cfg, ds, labels)
    if numpy_views:
        tr.backend.views = Backend.views.__get__(tr.backend)  # type: ignore[method-assign]
    if free is not None:
        tr.backend.device_free_bytes = lambda: free  # type: ignore[method-assign]
    tr.set_feedback([{"sample_idx": 3, "x0": 0.0, "y0": 0.0, "x1": 0.5, "y1": 0.5}])
    losses: list[dict[str, float]] = []
    tr.listeners.append(lambda e: losses.append(dict(e.losses)) if isinstance(e, ev.Metrics) else None)
    tr.run(evaluate_at_end=False)
    return losses


def _same(a: list[dict[str, float]], b: list[dict[str, float]], atol: float) -> None:
    assert len(a) == len(b) == 6 and all(m["cons"] > 0 for m in a)
    for la, lb in zip(a, b, strict=True):
        np.testing.assert_allclose([la[k] for k in la], [lb[k] for k in la], rtol=0, atol=atol)


@pytest.mark.parametrize("name", BACKENDS)
def test_training_on_the_device_path_is_todays_run(home: Path, name: str) -> None:
    """Shift and weak shift are exact: the same seed gives the same losses as batches made in numpy."""
    shifts = {"augment_shift": 2, "weak_shift": 1}
    _same(_run(home, name, False, **shifts), _run(home, name, True, **shifts), 1e-6)


@pytest.mark.parametrize("name", BACKENDS)
def test_training_with_affine_views_stays_within_float_noise(home: Path, name: str) -> None:
    """torch and TensorFlow compute numpy's affine grid in float64 and match it to the bit; JAX's
    float32 grid moves a pixel by ~1e-6, which 30 steps turn into differences far below 1e-3."""
    lever = {"augment_shift": 2, "augment_rotate": 15.0, "augment_scale": 0.1, "weak_shift": 2}
    _same(_run(home, name, False, **lever), _run(home, name, True, **lever), 1e-3 if name == "jax" else 1e-6)


def test_held_images_and_streamed_rows_train_alike(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Images that fit (here: a pretend device with plenty free) are uploaded and drawn from on
    the device; a dataset over half the free memory streams from the host, said once with both
    sizes. The run is the same either way."""
    with caplog.at_level(logging.WARNING, logger="engine.training.trainer"):
        held = _run(home, "torch", False, free=10**12, augment_shift=2)
        assert not caplog.records
        streamed = _run(home, "torch", False, free=1000, augment_shift=2)
    (rec,) = caplog.records
    assert "0.4 MiB of training images do not fit the device cpu (0.0 MiB free" in rec.getMessage()
    assert "'synth'" in rec.getMessage() and "stream from host memory" in rec.getMessage()
    _same(held, streamed, 0.0)


def test_held_images_are_uploaded_only_when_they_fit(home: Path) -> None:
    ds = load_dataset("synth")
    tr = Trainer(from_dict(tiny_config_dict()), ds, LabelStore(home / "l.csv", ds.n_train, ds.num_classes))
    calls: list[bool] = []
    tr.backend.hold_images = lambda images, upload=False: calls.append(upload)  # type: ignore[method-assign]
    nbytes = ds.images[: ds.n_train].nbytes
    for free, want in ((None, False), (2 * nbytes, True), (2 * nbytes - 1, False)):
        tr.backend.device_free_bytes = lambda f=free: f  # type: ignore[method-assign]
        tr.hold_images()
        assert calls[-1] is want, free


def test_cuda_index_past_the_last_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from engine.errors import DeviceUnavailable

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    cfg = from_dict(tiny_config_dict()).model
    with pytest.raises(DeviceUnavailable, match=r"--device cuda:7: torch sees 1 CUDA device\(s\) \(cuda:0 to cuda:0\)"):
        create_backend("torch", cfg, "cuda:7")


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_the_weight_average_on_the_device_is_the_references(home: Path, name: str) -> None:
    """torch and JAX keep the weight average on the device; it matches base.py's numpy reference
    (torch to the bit: the same float32 multiply and add), survives a save and load, and a swap
    there and back restores the live weights exactly."""
    be, ref = _backend(name, (28, 28, 1)), _backend(name, (28, 28, 1))
    rng = np.random.default_rng(0)
    for _ in range(4):
        w = {k: v + rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in be.get_weights().items()}
        be.set_weights(w)
        ref.set_weights(w)
        be.average_weights(0.9)
        Backend.average_weights(ref, 0.9)  # the numpy reference, on the host
    got, want = be.averaged_weights(), Backend.averaged_weights(ref)
    assert got is not None and want is not None and got.keys() == want.keys() and "tau" not in got
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=0 if name == "torch" else 1e-6, err_msg=k)
    live = be.get_weights()
    be.swap_average()
    swapped = be.get_weights()
    assert all(np.array_equal(swapped[k], got[k]) for k in got) and np.array_equal(swapped["tau"], live["tau"])
    be.swap_average()
    assert all(np.array_equal(be.get_weights()[k], live[k]) for k in live)
    other = _backend(name, (28, 28, 1))
    assert not other.has_average()
    other.set_averaged_weights({**got, "tau": live["tau"]})  # a checkpoint's ema.* (older ones hold a tau)
    assert all(np.array_equal(other.averaged_weights()[k], got[k]) for k in got)
    with pytest.raises(ValueError, match="weights do not match the model"):
        other.set_averaged_weights({"enc.fc.weight": got["enc.fc.weight"]})


def test_train_flops_known_answer() -> None:
    """The default model: conv 14x14x32x16 + 7x7x64x32x16, fc 3136x256, heads 256x42, decoder
    256x26 + 256x784 multiply-adds; 2 FLOPs each, x3 for the backward, plus the consistency encoder."""
    from benchmarks.bench_gpu import train_flops_per_sample
    from engine.config import load_config

    m = load_config("configs/default.yaml").model
    enc, dec = 100_352 + 1_605_632 + 802_816 + 10_752, 6_656 + 200_704
    assert train_flops_per_sample(m, consistency=True) == 6 * (2 * enc + dec) == 31_478_784
    assert train_flops_per_sample(m, consistency=False) == 6 * (enc + dec)
    assert train_flops_per_sample(m, consistency=True, teacher=True) == 6 * (2 * enc + dec) + 2 * enc


@pytest.mark.slow
def test_bench_gpu_runs_on_the_cpu(home: Path) -> None:
    """benchmarks/bench_gpu.py's smoke test: the same code as on a GPU, with --device cpu (one config
    and one accuracy seed per backend, to keep the suite short; the summary is tested below)."""
    import json
    import os
    import subprocess
    import sys

    from tests.helpers import ROOT

    out = home / "gpu.json"
    cmd = [sys.executable, "benchmarks/bench_gpu.py", "--device", "cpu", "--dataset", "synth", "--steps", "2",
           "--rounds", "2", "--warmup", "1", "--configs", "default", "--accuracy-seeds", "0",
           "--accuracy-steps", "3", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "LATENTLOOP_HOME": str(home)}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["gpu"]["device"] == "cpu" and {"torch", "jax", "numpy"} <= set(res["versions"])
    assert [(r["backend"], r["config"]) for r in res["runs"]] == [
        ("torch", "configs/default.yaml"),
        ("jax", "configs/default.yaml"),
    ]
    for r in res["runs"]:
        assert len(r["engine_samples_per_s"]) == len(r["hand_samples_per_s"]) == len(r["ratio_engine_over_hand"]) == 2
        assert r["engine_median"] > 0 and r["hand_median"] > 0 and r["engine_tflops"] > 0
    assert res["summary"] == {}  # one config: no ratio between configs
    assert [(r["backend"], r["seed"], r["steps"]) for r in res["accuracy_runs"]] == [("torch", 0, 3), ("jax", 0, 3)]
    assert set(res["accuracy_summary"]) == {"torch", "jax"}
    assert all(0 <= r["test_acc"] <= 1 and r["seconds"] > 0 for r in res["accuracy_runs"])


def test_bench_gpu_summary_compares_the_default_with_the_old_default() -> None:
    """The levers' cost is the default over the baseline (not over itself), and JAX's engine is held
    against torch's hand loop on the baseline."""
    from benchmarks.bench_gpu import CONFIGS, summary

    assert CONFIGS == {"baseline": "configs/baseline.yaml", "default": "configs/default.yaml"}
    runs = [
        {"backend": be, "config": CONFIGS[c], "engine_median": e, "hand_median": h}
        for be, c, e, h in [("torch", "baseline", 100.0, 110.0), ("torch", "default", 80.0, 90.0),
                            ("jax", "baseline", 99.0, 120.0), ("jax", "default", 60.0, 70.0)]
    ]  # fmt: skip
    assert summary(runs) == {
        "torch_default_over_baseline": 0.8,
        "jax_default_over_baseline": round(60 / 99, 3),
        "jax_engine_over_torch_hand": 0.9,
    }
    assert summary(runs[1:2]) == {}


def test_a_batch_travels_packed_by_dtype() -> None:
    """torch on a GPU sends a step's host arrays in one copy per dtype; every array comes back whole."""
    import torch

    from engine.backends.torch.views import put_many

    rng = np.random.default_rng(0)
    arrays = {
        "y": np.array([3, -1, 2], np.int32),
        "eps": rng.random((3, 4), dtype=np.float32),
        "threshold": np.asarray(0.95, np.float32),
        "task_w": np.zeros(0, np.float32),
        "roi_mask": rng.random((3, 5, 6), dtype=np.float32),
    }
    got = put_many(arrays, torch.device("cpu"))
    assert got.keys() == arrays.keys()
    for k, a in arrays.items():
        assert got[k].shape == a.shape and np.array_equal(got[k].numpy(), a), k


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_bench_gpu_hand_loops_run_the_mean_teacher_once_the_average_is_ready(home: Path, backend, monkeypatch) -> None:
    """The hand loops do what the engine does with the default's mean teacher: an encoder pass with
    the weight average, from the step the average is ready (here decay 0.9: step 32)."""
    from benchmarks import bench_gpu
    from engine.backends.jax import loss as jax_loss
    from engine.backends.torch import model as torch_model
    from engine.datasets import load_dataset, oracle_labels
    from engine.training.checkpoints import average_is_ready

    module = torch_model if backend == "torch" else jax_loss
    seen: list[bool] = []
    real = module.ssvae_loss

    def spy(*args, **kw):
        seen.append(any(isinstance(a, dict) and "teacher_p" in a for a in args))
        return real(*args, **kw)

    monkeypatch.setattr(module, "ssvae_loss", spy)
    cfg = bench_gpu.config("default", backend, "cpu", "synth")
    small = {"ema_decay": 0.9, "batch_unlabeled": 16, "batch_labeled": 8}
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=small)})
    ds = load_dataset("synth")
    lab_y = oracle_labels(ds, 2, 0)
    lab_idx = np.array(sorted(lab_y), np.int64)
    hand = bench_gpu.HANDS[backend](cfg, ds, lab_idx, np.array([lab_y[i] for i in lab_idx], np.int64))
    first = next(s for s in range(100) if average_is_ready(0.9, s))
    if backend == "torch":  # one call per step
        hand.run(first + 3)
        assert seen == [False] * first + [True] * 3
    else:  # one trace per variant of the jitted step: without, then with the teacher
        hand.run(first + 3)
        assert seen == [False, True]
