"""Model variants (VampPrior, dense encoder, Gaussian decoder) and auxiliary task heads: the same
contract in every backend, with known answers computed in numpy (engine/backends/base.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backends.base import GAUSS_VAR_FLOOR, METRIC_KEYS, Out, aux_slice, param_shapes
from engine.backends.registry import create_backend
from engine.config import ModelConfig
from engine.errors import SaliencyUnavailable
from engine.tasks import AuxHead
from tests.engine.test_backend_conformance import BACKENDS, CFG, CFGS, make_batch, reference_weights

AUX = (
    AuxHead(name="reg", kind="regression", input="z[0:3]", head="linear"),
    AuxHead(name="cls", kind="classification", input="q", head="mlp"),
    AuxHead(name="img", kind="reconstruction", input="all", head="linear"),
)
VARIANTS = {
    "vamp": CFG.model_copy(update={"prior": "vamp"}),
    "dense": CFG.model_copy(update={"encoder": "dense"}),
    "gaussian": CFG.model_copy(update={"decoder": "gaussian"}),
    "aux": ModelConfig(**{**CFG.model_dump(), "aux": AUX}),
    "all": ModelConfig(**{**CFG.model_dump(), "aux": AUX, "prior": "vamp", "encoder": "dense", "decoder": "gaussian"}),
}
# Every variant at once on a non-square colour image, with either encoder (issue: any image).
RGB = CFGS["rgb48x64"]
COLOUR_VARIANTS = {
    enc: ModelConfig(**{**RGB.model_dump(), "aux": AUX, "prior": "vamp", "encoder": enc, "decoder": "gaussian"})
    for enc in ("conv", "dense")
}
LOSS_KEYS = ("loss", "rec", "kl_z", "kl_c", "sup", "cons", "usage", "roi", "aux")


def _backend(name: str, cfg: ModelConfig, weights: dict[str, np.ndarray]):
    b = create_backend(name, cfg)
    b.set_weights(weights)
    return b


def test_variant_parameter_names() -> None:
    names = {k: set(param_shapes(c)) for k, c in VARIANTS.items()}
    base = set(param_shapes(CFG))
    assert names["vamp"] == base - {"prior.mu", "prior.logvar"} | {"prior.pseudo"}
    assert "enc.dense.weight" in names["dense"] and "enc.conv1.weight" not in names["dense"]
    assert names["gaussian"] == base | {"dec.logvar"}
    assert names["aux"] - base == {
        "task.reg.out.weight",
        "task.reg.out.bias",
        "task.cls.hid.weight",
        "task.cls.hid.bias",
        "task.cls.out.weight",
        "task.cls.out.bias",
        "task.img.out.weight",
        "task.img.out.bias",
    }
    shapes = param_shapes(VARIANTS["aux"])
    assert shapes["task.reg.out.weight"] == (1, 3)
    assert shapes["task.cls.out.weight"] == (CFG.num_classes, 64)
    assert shapes["task.img.out.weight"] == (CFG.pixels, CFG.latent_dim + CFG.components)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_parity_across_backends(variant: str) -> None:
    """Same neutral weights -> same outputs and every loss term (aux included) in every backend; for
    the variants that combine every feature, also after three optimizer steps (the gradients agree,
    and every parameter, heads included, moves)."""
    cfg = VARIANTS[variant]
    ref = reference_weights(cfg)
    batch = make_batch(cfg)
    train = variant in ("aux", "all")  # together they run every code path of the other variants
    batches = [make_batch(cfg, seed=s) for s in range(3)]
    results = {}
    for name in BACKENDS:
        b = _backend(name, cfg, ref)
        assert set(b.get_weights()) == set(ref), name
        results[name] = (b.predict(batch["x"]), b.loss(batch), b.prior_params())
        if train:
            for tb in batches:
                b.read_metrics(b.train_step(tb))
            w = b.get_weights()
            moved = [k for k in ref if k != "tau" and np.abs(w[k] - ref[k]).max() > 0]
            assert set(moved) == set(ref) - {"tau"}, (variant, name, set(ref) - set(moved) - {"tau"})
            results[name] += (b.loss(batches[0]),)
    base = results[BACKENDS[0]]
    for name, got in results.items():
        for k in Out:
            assert np.abs(got[0][k] - base[0][k]).max() <= 1e-4, (variant, name, k)
        for k in LOSS_KEYS:
            assert abs(got[1][k] - base[1][k]) <= 1e-4 * max(1.0, abs(base[1][k])), (variant, name, k)
        for a, want in zip(got[2], base[2], strict=True):
            assert np.abs(a - want).max() <= 1e-4, (variant, name)
        if train:
            for k in LOSS_KEYS:
                want = base[3][k]
                assert abs(got[3][k] - want) <= 1e-3 * max(1.0, abs(want)), (variant, name, k, got[3][k], want)


@pytest.mark.parametrize("name", BACKENDS)
def test_aux_loss_known_answer(name: str) -> None:
    """The aux term equals the numpy formula of base.py, from predict's mu and q (eval mode)."""
    cfg = VARIANTS["aux"]
    ref = reference_weights(cfg)
    b = _backend(name, cfg, ref)
    batch = make_batch(cfg)
    out = b.predict(batch["x"])
    feats = np.concatenate([out[Out.MU], out[Out.RESP]], 1).astype(np.float64)
    want = 0.0
    for t, head in enumerate(cfg.aux):
        sl = aux_slice(head, cfg)
        u = feats[:, sl.start : sl.stop]
        if head.head == "mlp":
            u = np.maximum(u @ ref[f"task.{head.name}.hid.weight"].T + ref[f"task.{head.name}.hid.bias"], 0)
        u = u @ ref[f"task.{head.name}.out.weight"].T + ref[f"task.{head.name}.out.bias"]
        m, target = batch["task_mask"][:, t], batch["task_target"][:, t]
        if head.kind == "classification":
            logp = u - np.log(np.exp(u - u.max(1, keepdims=True)).sum(1, keepdims=True)) - u.max(1, keepdims=True)
            per_row = -logp[np.arange(len(u)), target.astype(int)]
        elif head.kind == "regression":
            per_row = (u[:, 0] - target) ** 2
        else:
            x = batch["x"].reshape(len(u), -1)
            per_row = (np.maximum(u, 0) - u * x + np.log1p(np.exp(-np.abs(u)))).sum(1) / x.shape[1]
        want += batch["task_w"][t] * (per_row * m).sum() / max(1.0, m.sum())
    got = b.loss(batch)
    assert abs(got["aux"] - want) <= 1e-4 * max(1.0, abs(want))
    off = {**batch, "task_w": np.zeros_like(batch["task_w"])}
    assert b.loss(off)["aux"] == 0.0
    assert abs(got["loss"] - b.loss(off)["loss"] - got["aux"]) <= 1e-4 * max(1.0, abs(got["loss"]))
    assert set(METRIC_KEYS) <= set(got)


@pytest.mark.parametrize("name", BACKENDS)
def test_vamp_kl_and_gaussian_rec_known_answers(name: str) -> None:
    """kl_z against the pseudo-inputs' Gaussians, and the Gaussian decoder's rec, in numpy."""
    cfg = VARIANTS["all"]
    ref = reference_weights(cfg)
    b = _backend(name, cfg, ref)
    batch = make_batch(cfg)
    out = b.predict(batch["x"])
    pseudo = 1.0 / (1.0 + np.exp(-ref["prior.pseudo"].astype(np.float64)))
    prior = b.predict(pseudo.astype(np.float32))
    pm, plv = prior[Out.MU].astype(np.float64), prior[Out.LOGVAR].astype(np.float64)
    mu, lv, q = (out[k].astype(np.float64) for k in (Out.MU, Out.LOGVAR, Out.RESP))
    P = cfg.pixels
    kl = 0.5 * (plv[None] - lv[:, None] + (np.exp(lv[:, None]) + (mu[:, None] - pm[None]) ** 2) / np.exp(plv[None]) - 1)
    kl_z = ((q * kl.sum(-1)).sum(1) / P).mean()
    z = mu + np.exp(0.5 * lv) * batch["eps"]
    m = b.decode(z.astype(np.float32), q.astype(np.float32)).astype(np.float64)
    v = np.exp(ref["dec.logvar"].astype(np.float64)).reshape(m.shape[1:]) + GAUSS_VAR_FLOOR
    rec = (0.5 * (np.log(2 * np.pi) + np.log(v) + (batch["x"] - m) ** 2 / v)).sum((1, 2)).mean() / P
    got = b.loss(batch)
    assert abs(got["kl_z"] - kl_z) <= 1e-4 * max(1.0, abs(kl_z)), (got["kl_z"], kl_z)
    assert abs(got["rec"] - rec) <= 1e-4 * max(1.0, abs(rec)), (got["rec"], rec)
    assert np.abs(b.prior_params()[0] - prior[Out.MU]).max() <= 1e-6


@pytest.mark.parametrize("name", BACKENDS)
def test_dense_encoder_saliency(name: str) -> None:
    cfg = VARIANTS["dense"]
    b = _backend(name, cfg, reference_weights(cfg))
    x = make_batch(cfg)["x"][0]
    with pytest.raises(SaliencyUnavailable, match="dense"):
        b.saliency(x, 1, "gradcam")
    for method in ("gradient", "smoothgrad"):
        m = b.saliency(x, 1, method, samples=4)
        assert m.shape == x.shape and m.max() > 0


@pytest.mark.parametrize("name", BACKENDS)
def test_variant_optimizer_state_round_trip(name: str) -> None:
    cfg = VARIANTS["all"]
    b = _backend(name, cfg, reference_weights(cfg))
    b.read_metrics(b.train_step(make_batch(cfg)))
    state = b.get_optimizer_state()
    assert {f"adam.m.{k}" for k in param_shapes(cfg)} <= set(state)
    other = _backend(name, cfg, b.get_weights())
    other.set_optimizer_state(state)
    batch = make_batch(cfg, seed=5)
    b.read_metrics(b.train_step(batch))
    other.read_metrics(other.train_step(batch))
    for k, v in b.get_weights().items():
        np.testing.assert_allclose(other.get_weights()[k], v, atol=1e-6, err_msg=k)


@pytest.mark.parametrize("encoder", sorted(COLOUR_VARIANTS))
def test_colour_variants_agree_across_backends(encoder: str) -> None:
    """On a 48x64 RGB image, VampPrior pseudo-inputs [K, 48, 64, 3], the Gaussian decoder's per-value
    variance, the image head and the roi penalty (its second-order gradient, mask over every
    channel) give the same outputs, loss terms and raw gradients in every backend."""
    cfg = COLOUR_VARIANTS[encoder]
    ref = reference_weights(cfg)
    assert ref["prior.pseudo"].shape == (cfg.components, 48, 64, 3) and ref["dec.logvar"].shape == (48 * 64 * 3,)
    batch = make_batch(cfg, roi=True)
    results = {}
    for name in BACKENDS:
        b = _backend(name, cfg, ref)  # fresh: Adam's first moment after one step is (1 - beta1) g
        out, loss = b.predict(batch["x"]), b.loss(batch)
        assert out[Out.RECON].shape == (len(batch["x"]), 48, 64, 3), name
        b.read_metrics(b.train_step(batch))
        state = b.get_optimizer_state()
        grads = {k[len("adam.m.") :]: v / (1.0 - 0.9) for k, v in state.items() if k.startswith("adam.m.")}
        results[name] = (out, loss, grads)
    base = results[BACKENDS[0]]
    assert base[1]["roi"] > 0.0
    for name, (out, loss, grads) in results.items():
        for k in Out:
            assert np.abs(out[k] - base[0][k]).max() <= 1e-4, (encoder, name, k)
        for k in LOSS_KEYS:
            assert abs(loss[k] - base[1][k]) <= 1e-4 * max(1.0, abs(base[1][k])), (encoder, name, k)
        for k, g in grads.items():
            scale = max(1e-3, float(np.abs(base[2][k]).max()))
            assert np.abs(g - base[2][k]).max() <= 1e-3 * scale, (encoder, name, k)
