"""One conformance suite for every backend (docs/architecture.md section 7)."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from engine.backends.base import (
    LOSS_WEIGHT_KEYS,
    METRIC_KEYS,
    Batch,
    BatchKey,
    Out,
    initial_tau,
    loss_weight_vector,
    param_shapes,
)
from engine.backends.registry import create_backend
from engine.config import ModelConfig

BACKENDS = ["torch", "tensorflow", "jax"]
# Every test runs over gray 28x28, RGB 32x32 and a non-square RGB shape (issue: any image).
SHAPES = {"gray28": (28, 28, 1), "rgb32": (32, 32, 3), "rgb48x64": (48, 64, 3)}
CFGS = {
    key: ModelConfig(
        image_shape=shape, latent_dim=8, components=12, num_classes=10, enc_channels=(8, 16), hidden=32, dropout=0.1
    )
    for key, shape in SHAPES.items()
}
CFG = CFGS["gray28"]


def make_batch(cfg: ModelConfig = CFG, b: int = 24, seed: int = 0, roi: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.random((b, *cfg.sample_shape), dtype=np.float32) ** 3
    y = np.full(b, -1, np.int32)
    y[: b // 2] = rng.integers(0, cfg.num_classes, b // 2)
    mask = np.ones((b, cfg.height, cfg.width), np.float32)
    weight = np.zeros(b, np.float32)
    if roi:
        mask[:4, :, cfg.width // 2 :] = 0.0
        weight[:4] = 1.0
    return {
        "x": x,
        "x_aug": np.roll(x, 1, axis=2),
        "y": y,
        "eps": rng.standard_normal((b, cfg.latent_dim), dtype=np.float32),
        "drop": rng.random((b, cfg.hidden), dtype=np.float32),
        "drop_aug": rng.random((b, cfg.hidden), dtype=np.float32),
        "roi_mask": mask,
        "roi_weight": weight,
        "w": loss_weight_vector(rec=1, beta=1, gamma=1, alpha=1, cons=1, usage=1, roi=1 if roi else 0),
        "threshold": np.float32(0.0),
        **task_arrays(cfg, y, rng),
    }


def task_arrays(cfg: ModelConfig, y: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Targets for the auxiliary heads: the labels (known where y >= 0), a random regression target
    known on 3 rows in 4, and the image (every row)."""
    b, t = len(y), len(cfg.aux)
    target = np.zeros((b, t), np.float32)
    mask = np.ones((b, t), np.float32)
    for i, head in enumerate(cfg.aux):
        if head.kind == "classification":
            target[:, i] = np.maximum(y, 0)
            mask[:, i] = y >= 0
        elif head.kind == "regression":
            target[:, i] = rng.standard_normal(b)
            mask[:, i] = np.arange(b) % 4 != 3
    return {"task_target": target, "task_mask": mask, "task_w": np.linspace(0.5, 1.5, t).astype(np.float32)}


def test_batch_key_names_every_batch_field() -> None:
    assert set(get_args(BatchKey)) == set(Batch.__annotations__)
    assert set(make_batch()) == set(Batch.__annotations__)


def reference_weights(cfg: ModelConfig = CFG, seed: int = 1) -> dict[str, np.ndarray]:
    """Neutral weights made in numpy, so every backend starts from the very same numbers."""
    rng = np.random.default_rng(seed)
    w = {
        k: (rng.standard_normal(shape) * (0.3 / np.sqrt(np.prod(shape[1:]) if len(shape) > 1 else 1.0))).astype(
            np.float32
        )
        for k, shape in param_shapes(cfg).items()
    }
    if cfg.prior == "gmm":
        w["prior.logvar"] = np.zeros_like(w["prior.logvar"])
        w["prior.mu"] = rng.standard_normal(w["prior.mu"].shape).astype(np.float32)
    else:
        w["prior.pseudo"] = rng.standard_normal(w["prior.pseudo"].shape).astype(np.float32)
    if cfg.decoder == "gaussian":
        w["dec.logvar"] = (0.5 * rng.standard_normal(w["dec.logvar"].shape) - 2.0).astype(np.float32)
    tau = initial_tau(cfg) + 0.1
    w["tau"] = (tau / tau.sum(1, keepdims=True)).astype(np.float32)
    return w


@pytest.fixture(params=[(name, key) for name in BACKENDS for key in SHAPES], ids=lambda p: f"{p[0]}-{p[1]}")
def backend(request):
    name, key = request.param
    b = create_backend(name, CFGS[key])
    b.init(0)
    return b


def test_predict_shapes_and_keys(backend):
    c = backend.cfg
    x = make_batch(c)["x"][:5]
    out = backend.predict(x, batch_size=2)
    assert set(out) == set(Out)
    assert out[Out.MU].shape == (5, c.latent_dim) and out[Out.LOGVAR].shape == (5, c.latent_dim)
    assert out[Out.RESP].shape == (5, c.components) and out[Out.PROBS].shape == (5, c.num_classes)
    assert out[Out.RECON].shape == (5, *c.sample_shape)
    np.testing.assert_allclose(out[Out.RESP].sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(out[Out.PROBS].sum(1), 1, atol=1e-5)
    assert out[Out.RECON].min() >= 0 and out[Out.RECON].max() <= 1
    assert all(v.dtype == np.float32 for v in out.values())


def test_weights_follow_the_neutral_contract_and_round_trip(backend):
    cfg = backend.cfg
    w = backend.get_weights()
    expected = dict(param_shapes(cfg), tau=(cfg.components, cfg.num_classes))
    assert {k: tuple(v.shape) for k, v in w.items()} == expected
    ref = reference_weights(cfg)
    backend.set_weights(ref)
    got = backend.get_weights()
    for k in ref:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)
    with pytest.raises(ValueError, match=r"enc\.fc\.weight"):
        bad = dict(ref)
        bad["enc.fc.weight"] = bad["enc.fc.weight"][:, :-1]
        backend.set_weights(bad)


def test_train_step_lowers_loss_on_a_fixed_batch(backend):
    batch = make_batch(backend.cfg)
    backend.set_lr(3e-3)
    before = backend.loss(batch)["loss"]
    handles = [backend.train_step(batch) for _ in range(30)]
    m = backend.read_metrics(handles[-1])
    assert set(METRIC_KEYS) <= set(m)
    assert backend.loss(batch)["loss"] < before * 0.9


def test_predict_is_deterministic_in_eval_mode(backend):
    x = make_batch(backend.cfg)["x"]
    a, b = backend.predict(x), backend.predict(x[::-1].copy())
    for k in Out:
        np.testing.assert_allclose(a[k], b[k][::-1], atol=1e-6)
    mc = backend.predict_mc(x, 5, seed=3)
    assert mc.shape == (5, len(x), backend.cfg.num_classes)
    assert np.ptp(mc, axis=0).max() > 0  # MC dropout varies
    np.testing.assert_allclose(mc, backend.predict_mc(x, 5, seed=3), atol=1e-6)


@pytest.mark.parametrize("method", ["gradient", "gradcam", "smoothgrad"])
def test_saliency_shape_and_response(backend, method):
    cfg = backend.cfg
    backend.set_weights(reference_weights(cfg))
    x = make_batch(cfg)["x"]
    # a target whose Grad-CAM is not ReLU'd away everywhere for these random weights, in every shape
    s1 = backend.saliency(x[0], 5, method)
    assert s1.shape == (cfg.height, cfg.width) and s1.dtype == np.float32 and (s1 >= 0).all()
    assert np.isfinite(s1).all() and s1.max() > 0
    s2 = backend.saliency(x[1], 5, method)
    assert not np.allclose(s1, s2)  # responds to the input
    with pytest.raises(ValueError):
        backend.saliency(x[0], 99, method)


@pytest.mark.parametrize("key", SHAPES)
@pytest.mark.parametrize("name", BACKENDS[1:])
def test_saliency_primitives_agree_across_backends(name, key):
    """The two gradients the neutral saliency code (engine/analysis/saliency.py) is built on, and the maps it
    makes from them, agree with the reference backend from the same neutral weights."""
    cfg = CFGS[key]
    ref, other = create_backend(BACKENDS[0], cfg), create_backend(name, cfg)
    for b in (ref, other):
        b.set_weights(reference_weights(cfg))
    xs = make_batch(cfg)["x"][:3]
    for target in (3, 7):
        want = ref.input_gradient(xs, target)
        got = other.input_gradient(xs, target)
        assert got.shape == xs.shape and got.dtype == np.float32 and np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())
        # every row is its own image's gradient, not the batch's
        np.testing.assert_allclose(
            other.input_gradient(xs[1:2], target)[0], got[1], rtol=1e-3, atol=1e-5 * np.abs(want).max()
        )
        pairs = zip(ref.feature_maps_and_grads(xs[0], target), other.feature_maps_and_grads(xs[0], target), strict=True)
        for a, b in pairs:
            assert (
                b.shape == (cfg.enc_channels[1], cfg.height // 4, cfg.width // 4)
                and b.dtype == np.float32
                and np.abs(a).max() > 0
            )
            np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * np.abs(a).max())
        for method in ("gradcam", "smoothgrad"):
            want_map = ref.saliency(xs[0], target, method, samples=4, seed=5)
            np.testing.assert_allclose(
                other.saliency(xs[0], target, method, samples=4, seed=5),
                want_map,
                rtol=1e-3,
                atol=1e-4 * want_map.max(),
            )


def test_optimizer_state_round_trip_and_exact_resume(backend):
    name, cfg = backend.name, backend.cfg
    b1, b2 = make_batch(cfg, seed=1), make_batch(cfg, seed=2)
    backend.set_weights(reference_weights(cfg))
    backend.train_step(b1)
    w, opt = backend.get_weights(), backend.get_optimizer_state()
    assert int(opt["adam.step"]) == 1
    assert {k for k in opt if k.startswith("adam.m.")} == {f"adam.m.{k}" for k in param_shapes(cfg)}
    backend.train_step(b2)
    expected = backend.get_weights()

    other = create_backend(name, cfg)
    other.set_weights(w)
    other.set_optimizer_state(opt)
    for k, v in other.get_optimizer_state().items():
        np.testing.assert_array_equal(v, opt[k], err_msg=k)
    other.train_step(b2)
    got = other.get_weights()
    for k in expected:
        np.testing.assert_allclose(got[k], expected[k], atol=1e-6, err_msg=k)


def test_roi_penalty_is_computed_only_with_feedback(backend):
    cfg = backend.cfg
    backend.set_weights(reference_weights(cfg))
    assert backend.loss(make_batch(cfg))["roi"] == 0.0
    assert backend.loss(make_batch(cfg, roi=True))["roi"] > 0.0


@pytest.mark.parametrize("key", SHAPES)
def test_cross_backend_parity(key):
    """Same neutral weights -> same outputs and loss in every backend."""
    cfg = CFGS[key]
    ref = reference_weights(cfg)
    batch = make_batch(cfg, roi=True)
    results = {}
    for name in BACKENDS:
        b = create_backend(name, cfg)
        b.set_weights(ref)
        results[name] = (b.predict(batch["x"]), b.loss(batch))
    base_out, base_loss = results[BACKENDS[0]]
    for name, (out, loss) in results.items():
        for k in (Out.PROBS, Out.MU, Out.LOGVAR, Out.RESP, Out.RECON):
            assert np.abs(out[k] - base_out[k]).max() <= 1e-4, (name, k)
        for k in ("loss", "rec", "kl_z", "kl_c", "sup", "cons", "usage", "roi"):
            assert abs(loss[k] - base_loss[k]) <= 1e-4 * max(1.0, abs(base_loss[k])), (name, k, loss[k], base_loss[k])


def test_decode_of_the_latent_mean_is_the_reconstruction(backend):
    cfg = backend.cfg
    backend.set_weights(reference_weights(cfg))
    out = backend.predict(make_batch(cfg)["x"][:7])
    got = backend.decode(out[Out.MU], out[Out.RESP], batch_size=3)
    assert got.shape == out[Out.RECON].shape and got.dtype == np.float32
    assert np.abs(got - out[Out.RECON]).max() <= 1e-4
    d, k = cfg.latent_dim, cfg.components
    assert backend.decode(np.zeros((0, d)), np.zeros((0, k))).shape == (0, *cfg.sample_shape)
    for z, q in ((np.zeros((2, d + 1)), np.zeros((2, k))), (np.zeros((2, d)), np.zeros((2, k - 1)))):
        with pytest.raises(ValueError, match="decode"):
            backend.decode(z, q)
    with pytest.raises(ValueError, match="rows"):
        backend.decode(np.zeros((2, d)), np.zeros((3, k)))


def test_decode_of_a_prior_mean_is_an_image(backend):
    """The Model page's picture of component c: decode(prior.mu[c], one-hot c)."""
    cfg = backend.cfg
    w = reference_weights(cfg)
    backend.set_weights(w)
    k = cfg.components
    imgs = backend.decode(w["prior.mu"], np.eye(k, dtype=np.float32))
    assert imgs.shape == (k, *cfg.sample_shape) and imgs.dtype == np.float32
    assert imgs.min() >= 0 and imgs.max() <= 1
    assert np.ptp(imgs, axis=0).max() > 0  # the components decode to different images
    np.testing.assert_allclose(
        backend.decode(w["prior.mu"][2:3], np.eye(k, dtype=np.float32)[2:3])[0], imgs[2], atol=1e-6
    )


@pytest.mark.parametrize("key", SHAPES)
def test_decode_agrees_across_backends(key):
    cfg = CFGS[key]
    ref = reference_weights(cfg)
    rng = np.random.default_rng(4)
    z = rng.standard_normal((9, cfg.latent_dim)).astype(np.float32)
    q = rng.dirichlet(np.ones(cfg.components), 9).astype(np.float32)
    results = {}
    for name in BACKENDS:
        b = create_backend(name, cfg)
        b.set_weights(ref)
        results[name] = b.decode(z, q, batch_size=4)
    for name, got in results.items():
        assert np.abs(got - results[BACKENDS[0]]).max() <= 1e-4, name


def test_loss_weight_keys_are_stable():
    assert LOSS_WEIGHT_KEYS == ("rec", "beta", "gamma", "alpha", "cons", "usage", "roi")


def test_checkpoints_move_between_backends(home):
    """A checkpoint trained with one backend loads in every other one with the same predictions."""
    from engine.config import from_dict
    from engine.datasets import load_dataset
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer
    from tests.helpers import tiny_config_dict

    ds = load_dataset("synth")
    store = label_store_for("synth", ds.n_train, ds.num_classes)
    x = ds.float_images(ds.test_idx[:64])
    for src in BACKENDS:
        cfg = from_dict({**tiny_config_dict(steps=8, eval_every=1000), "backend": src})
        tr = Trainer(cfg, ds, store)
        tr.run(steps=8)
        tr.save_checkpoint(f"from-{src}")
        ref = tr.backend.predict(x)[Out.PROBS]
        for dst in BACKENDS:
            other = Trainer(from_dict({**tiny_config_dict(), "backend": dst}), ds, store)
            meta = other.load_checkpoint(f"from-{src}")
            assert meta["backend"] == src and other.step == 8
            got = other.backend.predict(x)[Out.PROBS]
            assert np.abs(got - ref).max() <= 1e-4, (src, dst)


def test_torch_path_imports_no_other_framework(home):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from engine.config import from_dict\nfrom engine.datasets import load_dataset\n"
        "from engine.stores.labels import label_store_for\nfrom engine.training.trainer import Trainer\n"
        "from tests.helpers import tiny_config_dict\n"
        "ds = load_dataset('synth')\n"
        "Trainer(from_dict(tiny_config_dict()), ds, label_store_for('synth', ds.n_train, 10)).run(steps=2)\n"
        "bad = [m for m in ('tensorflow', 'jax', 'flax', 'keras') if m in sys.modules]\n"
        "assert 'torch' in sys.modules and not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]


def _teacher_step(b, cfg: ModelConfig, avg: dict[str, np.ndarray] | None, on: bool) -> dict[str, float]:
    """One train_step's metrics from the reference weights, with ``avg`` as the weight average (the
    metrics are those before the step's update, so one backend serves every call)."""
    b.set_weights(reference_weights(cfg))
    b.set_averaged_weights(avg)
    b.mean_teacher = on
    return b.read_metrics(b.train_step(make_batch(cfg)))


def test_mean_teacher_takes_the_pseudo_labels_from_the_weight_average():
    """train.mean_teacher: the consistency term's targets come from the average's encoder (no
    dropout), the same in every backend; an average equal to the live weights changes nothing when
    dropout is off, and without an average the flag is ignored."""
    cfg = CFG.model_copy(update={"dropout": 0.0})
    other = {k: v for k, v in reference_weights(cfg, seed=7).items() if k != "tau"}
    live = {k: v for k, v in reference_weights(cfg).items() if k != "tau"}
    runs = {}
    for name in BACKENDS:
        b = create_backend(name, cfg)
        runs[name] = _teacher_step(b, cfg, other, True)
        plain = _teacher_step(b, cfg, None, False)
        assert _teacher_step(b, cfg, None, True) == plain, name  # no average: no teacher
        same = _teacher_step(b, cfg, live, True)
        assert abs(same["cons"] - plain["cons"]) <= 1e-5 * max(1.0, plain["cons"]), name
        assert abs(runs[name]["cons"] - plain["cons"]) > 1e-3, name  # another teacher, other targets
    for name in BACKENDS:
        for k in ("loss", "cons", "sup", "rec"):
            ref = runs[BACKENDS[0]][k]
            assert abs(runs[name][k] - ref) <= 1e-4 * max(1.0, abs(ref)), (name, k, runs[name][k], ref)
