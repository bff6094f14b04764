"""The JAX backend on colour and non-square images, against the torch reference: the model variants
(VampPrior pseudo-inputs [K, H, W, 3], the Gaussian decoder's per-value variance, the dense encoder,
an image-reconstruction head) and the roi term's second-order gradient, which the shared suites
check only on gray images; and one compiled model per image shape."""

from __future__ import annotations

import numpy as np
import pytest

from engine.backends.base import Out
from engine.backends.registry import create_backend
from engine.config import ModelConfig
from engine.tasks import AuxHead
from tests.engine.test_backend_conformance import CFGS, make_batch, reference_weights

RGB = CFGS["rgb48x64"]
AUX = (
    AuxHead(name="cls", kind="classification", input="q", head="mlp"),
    AuxHead(name="img", kind="reconstruction", input="all", head="linear"),
)
VARIANTS = {
    "vamp-gaussian": RGB.model_copy(update={"prior": "vamp", "decoder": "gaussian"}),
    "all-dense": ModelConfig(
        **{**RGB.model_dump(), "aux": AUX, "prior": "vamp", "encoder": "dense", "decoder": "gaussian"}
    ),
}
LOSS_KEYS = ("loss", "rec", "kl_z", "kl_c", "sup", "cons", "usage", "roi", "aux")


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_colour_variants_match_torch(variant: str) -> None:
    """Same neutral weights -> the same outputs, prior and loss terms as torch, before and after
    two optimizer steps (the gradients agree through every colour-shaped parameter)."""
    cfg = VARIANTS[variant]
    ref = reference_weights(cfg)
    assert ref["prior.pseudo"].shape == (cfg.components, 48, 64, 3)
    assert ref["dec.logvar"].shape == (48 * 64 * 3,)
    batches = [make_batch(cfg, roi=True), make_batch(cfg, seed=1), make_batch(cfg, seed=2)]
    results = {}
    for name in ("torch", "jax"):
        b = create_backend(name, cfg)
        b.set_weights(ref)
        out, loss, prior = b.predict(batches[0]["x"]), b.loss(batches[0]), b.prior_params()
        for tb in batches[1:]:
            b.read_metrics(b.train_step(tb))
        results[name] = (out, loss, prior, b.loss(batches[0]))
    want, got = results["torch"], results["jax"]
    assert got[0][Out.RECON].shape == (24, 48, 64, 3)
    for k in Out:
        assert np.abs(got[0][k] - want[0][k]).max() <= 1e-4, (variant, k)
    for k in LOSS_KEYS:
        assert abs(got[1][k] - want[1][k]) <= 1e-4 * max(1.0, abs(want[1][k])), (variant, k)
        assert abs(got[3][k] - want[3][k]) <= 1e-3 * max(1.0, abs(want[3][k])), (variant, k, got[3][k], want[3][k])
    for a, w in zip(got[2], want[2], strict=True):
        assert np.abs(a - w).max() <= 1e-4, variant


def test_colour_roi_gradient_matches_torch() -> None:
    """The training gradient with the roi term (the share of the channel-summed squared input
    gradient outside the box, capped at ROI_GRAD_CAP times the other terms' norm; alone it would be
    capped to 0), with respect to every parameter, read from Adam's first moment after one step,
    is torch's; a box over everything scores 0 and no box 1, whatever the channels."""
    batch = make_batch(RGB, roi=True)
    grads = {}
    for name in ("torch", "jax"):
        be = create_backend(name, RGB)
        be.set_weights(reference_weights(RGB))
        be.train_step(batch)
        state = be.get_optimizer_state()
        grads[name] = {k[len("adam.m.") :]: v / (1.0 - 0.9) for k, v in state.items() if k.startswith("adam.m.")}
    ref = grads["torch"]
    scale = max(float(np.abs(g).max()) for g in ref.values())
    assert scale > 1e-4
    for k, g in ref.items():
        np.testing.assert_allclose(grads["jax"][k], g, rtol=1e-3, atol=1e-4 * scale, err_msg=k)
    be.set_weights(reference_weights(RGB))
    for value, share in ((0.0, 1.0), (1.0, 0.0)):
        b = make_batch(RGB, roi=True)
        b["roi_mask"][:4] = value
        assert be.loss(b)["roi"] == pytest.approx(share, abs=1e-5)


def test_every_image_shape_gets_its_own_model() -> None:
    """The Flax module (closed over by the compiled functions) carries the whole image shape: a
    transposed or gray twin of a shape is a different model, with its own input and output shapes."""
    shapes = [(48, 64, 3), (64, 48, 3), (48, 64, 1)]
    backends = [create_backend("jax", RGB.model_copy(update={"image_shape": s})) for s in shapes]
    models = [b.model for b in backends]  # type: ignore[attr-defined]
    assert len({hash(m) for m in models}) == 3 and models[0] != models[1] != models[2]
    for s, b in zip(shapes, backends, strict=True):
        x = np.random.default_rng(0).random((3, *b.cfg.sample_shape), dtype=np.float32)
        assert b.predict(x)[Out.RECON].shape == (3, *b.cfg.sample_shape)
        assert b.decode(np.zeros((0, 8), np.float32), np.zeros((0, 12), np.float32)).shape == (0, *b.cfg.sample_shape)
        assert b.saliency(x[0], 0, "gradcam").shape == s[:2]
