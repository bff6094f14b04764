"""The SSVAE in Flax (linen) and its loss as pure JAX functions.

Imported lazily by :class:`engine.backends.jax.backend.JaxBackend` (after the platform is chosen).
Tensors are float32; images are [B, H, W], feature maps NHWC, kernels HWIO / [in, out]
(``layout.py`` converts to and from the neutral layout).
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from engine.backends.base import ROI_EPS, ROI_TINY, loss_metrics
from engine.config import ModelConfig

# PyTorch's default init (kaiming_uniform(a=sqrt(5))): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
# weights and biases. Flax's variance_scaling computes fan_in from HWIO / [in, out] kernels.
_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")


def _bias_init(fan_in: int):
    bound = 1.0 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def _conv(features: int, fan_in: int, name: str) -> nn.Conv:
    return nn.Conv(
        features,
        (4, 4),
        strides=(2, 2),
        padding=((1, 1), (1, 1)),
        kernel_init=_kernel_init,
        bias_init=_bias_init(fan_in),
        name=name,
    )


def _dense(features: int, fan_in: int, name: str) -> nn.Dense:
    return nn.Dense(features, kernel_init=_kernel_init, bias_init=_bias_init(fan_in), name=name)


class _Dims(nn.Module):
    """The sizes the encoder and the whole model are built from (see :func:`build`)."""

    c1: int
    c2: int
    hidden: int
    latent: int
    comps: int
    size: int
    dropout: float


class Encoder(_Dims):
    def setup(self) -> None:
        s = self.size // 4
        self.conv1 = _conv(self.c1, 16, "conv1")
        self.conv2 = _conv(self.c2, 16 * self.c1, "conv2")
        self.fc = _dense(self.hidden, self.c2 * s * s, "fc")
        self.mu = _dense(self.latent, self.hidden, "mu")
        self.logvar = _dense(self.latent, self.hidden, "logvar")
        self.comp = _dense(self.comps, self.hidden, "comp")

    def features(self, x: jax.Array) -> jax.Array:
        """Last convolutional feature map, NHWC [B, S, S, C2] (Grad-CAM reads it)."""
        h = nn.relu(self.conv1(x[..., None]))
        return nn.relu(self.conv2(h))

    def head(self, fmap: jax.Array, u: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``u``: uniform noise [B, hidden] for dropout (keep where u >= p), None in eval mode."""
        flat = jnp.transpose(fmap, (0, 3, 1, 2)).reshape(fmap.shape[0], -1)  # neutral C,H,W order
        h = nn.relu(self.fc(flat))
        if u is not None and self.dropout > 0:
            h = h * (u >= self.dropout).astype(h.dtype) / (1.0 - self.dropout)
        return self.mu(h), self.logvar(h), self.comp(h)

    def __call__(self, x: jax.Array, u: jax.Array | None = None):
        return self.head(self.features(x), u)


class Decoder(nn.Module):
    n_in: int  # D + K
    hidden: int
    size: int

    def setup(self) -> None:
        self.fc1 = _dense(self.hidden, self.n_in, "fc1")
        self.fc2 = _dense(self.size * self.size, self.hidden, "fc2")

    def __call__(self, z: jax.Array, q: jax.Array) -> jax.Array:
        """Pixel logits [B, H, W]; the decoder sees the component responsibilities."""
        h = nn.relu(self.fc1(jnp.concatenate([z, q], axis=1)))
        return self.fc2(h).reshape(-1, self.size, self.size)


class Prior(nn.Module):
    comps: int
    latent: int

    @nn.compact
    def __call__(self) -> tuple[jax.Array, jax.Array]:
        # Distinct means per component (as the torch reference: N(0, 1.5^2)).
        mu = self.param("mu", lambda k, s: 1.5 * jax.random.normal(k, s, jnp.float32), (self.comps, self.latent))
        logvar = self.param("logvar", nn.initializers.zeros_init(), (self.comps, self.latent), jnp.float32)
        return mu, logvar


class SSVAE(_Dims):
    def setup(self) -> None:
        self.enc = Encoder(self.c1, self.c2, self.hidden, self.latent, self.comps, self.size, self.dropout)
        self.dec = Decoder(self.latent + self.comps, self.hidden, self.size)
        self.prior = Prior(self.comps, self.latent)

    def features(self, x):
        return self.enc.features(x)

    def head(self, fmap, u=None):
        return self.enc.head(fmap, u)

    def decode(self, z, q):
        return self.dec(z, q)

    def prior_params(self):
        return self.prior()

    def __call__(self, x, u=None):
        """Touches every parameter (used by ``init``)."""
        mu, _, logits = self.enc(x, u)
        return self.dec(mu, jax.nn.softmax(logits, axis=1)), self.prior()


def build(cfg: ModelConfig) -> SSVAE:
    c1, c2 = cfg.enc_channels
    return SSVAE(c1, c2, cfg.hidden, cfg.latent_dim, cfg.components, cfg.image_size, float(cfg.dropout))


def init_params(model: SSVAE, cfg: ModelConfig, key: jax.Array, x: jax.Array | None = None) -> dict[str, Any]:
    """Flax's own initialisation (same distributions as the backend's numpy init). The backend uses
    it only under ``jax.eval_shape`` to check the tree that ``layout.py`` builds."""
    if x is None:
        x = jnp.zeros((1, cfg.image_size, cfg.image_size), jnp.float32)
    return _unfreeze(model.init(key, x)["params"])  # plain nested dicts


def _unfreeze(tree: Any) -> Any:
    if hasattr(tree, "items"):
        return {k: _unfreeze(v) for k, v in tree.items()}
    return tree


# ---------------------------------------------------------------------------------------------
# Pure functions of (params, tau, arrays). ``model`` is a closed-over static Flax module.


def _v(params):
    return {"params": params}


def encode(model: SSVAE, params, x, u=None) -> dict[str, jax.Array]:
    fmap = model.apply(_v(params), x, method=SSVAE.features)
    mu, logvar, logits = model.apply(_v(params), fmap, u, method=SSVAE.head)
    return {"fmap": fmap, "mu": mu, "logvar": logvar, "logits": logits, "q": jax.nn.softmax(logits, axis=1)}


def decode(model: SSVAE, params, z, q) -> jax.Array:
    return model.apply(_v(params), z, q, method=SSVAE.decode)


def _pick(a: jax.Array, idx: jax.Array) -> jax.Array:
    return jnp.take_along_axis(a, idx[:, None], axis=1)[:, 0]


def _bce_with_logits(logits: jax.Array, target: jax.Array) -> jax.Array:
    """torch's BCEWithLogits (same stable form): max(l, 0) - l*x + log1p(exp(-|l|))."""
    return jnp.maximum(logits, 0.0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def ssvae_loss(
    model: SSVAE, params, tau, b: dict[str, jax.Array], use_roi: bool, use_cons: bool, train: bool = True
) -> dict[str, jax.Array]:
    """The loss of base.py's docstring (scalars). ``train`` applies the batch's dropout noise."""
    w = b["w"]
    x = b["x"]
    K = model.comps
    P = float(x.shape[1] * x.shape[2])
    drop = b["drop"] if train else None

    if use_roi:
        rw = b["roi_weight"]

        def sum_logp(xin):
            e = encode(model, params, xin, drop)
            logp = jnp.sum(jnp.log(e["q"] @ tau + 1e-8), axis=1)
            return jnp.sum(logp * (rw > 0).astype(logp.dtype)), e

        # d(sum_y log p_y)/dx, kept differentiable w.r.t. params (grad of grad in the outer step).
        (_, e), g = jax.value_and_grad(sum_logp, has_aux=True)(x)
        # rescaled per row by a constant (its max |g|): the share is the same, the eps negligible
        g = g / (jax.lax.stop_gradient(jnp.max(jnp.abs(g), axis=(1, 2), keepdims=True)) + ROI_TINY)
        g2 = g**2
        outside = jnp.sum((1.0 - b["roi_mask"]) * g2, axis=(1, 2))
        share = outside / (jnp.sum(g2, axis=(1, 2)) + ROI_EPS)
        n_roi = jnp.sum((rw > 0).astype(jnp.float32))
        roi = jnp.sum(rw * share) / jnp.maximum(n_roi, 1.0)
    else:
        e = encode(model, params, x, drop)
        roi = jnp.zeros((), jnp.float32)

    q, mu, logvar = e["q"], e["mu"], e["logvar"]
    log_q = jax.nn.log_softmax(e["logits"], axis=1)
    z = mu + jnp.exp(0.5 * logvar) * b["eps"]
    logits_x = decode(model, params, z, q)
    rec = jnp.sum(_bce_with_logits(logits_x, x), axis=(1, 2)) / P
    pm, plv = model.apply(_v(params), method=SSVAE.prior_params)  # [K, D]
    kl_each = 0.5 * jnp.sum(
        plv[None]
        - logvar[:, None]
        + (jnp.exp(logvar[:, None]) + (mu[:, None] - pm[None]) ** 2) / jnp.exp(plv[None])
        - 1.0,
        axis=-1,
    )  # [B, K]
    kl_z = jnp.sum(q * kl_each, axis=1) / P
    kl_c = jnp.sum(q * (log_q + jnp.log(jnp.float32(K))), axis=1) / P
    probs = q @ tau
    y = b["y"]
    lab = y >= 0
    labf = lab.astype(jnp.float32)
    n_lab = jnp.sum(labf)
    yl = jnp.maximum(y, 0)
    nll = -jnp.log(_pick(probs, yl) + 1e-8)
    sup = jnp.sum(nll * labf) / jnp.maximum(n_lab, 1.0)
    acc = jnp.sum(((jnp.argmax(probs, axis=1) == y) & lab).astype(jnp.float32)) / jnp.maximum(n_lab, 1.0)
    if use_cons:
        p_sg = jax.lax.stop_gradient(probs)
        conf, pseudo = jnp.max(p_sg, axis=1), jnp.argmax(p_sg, axis=1)
        mask = (conf >= b["threshold"]).astype(jnp.float32)
        q_aug = encode(model, params, b["x_aug"], b["drop_aug"] if train else None)["q"]
        p_aug = q_aug @ tau
        ce = -jnp.log(_pick(p_aug, pseudo) + 1e-8)
        cons = jnp.mean(ce * mask)
    else:
        cons = jnp.zeros((), jnp.float32)
    qbar = jnp.mean(q, axis=0)
    usage = jnp.sum(qbar * jnp.log(qbar * K + 1e-12))
    return loss_metrics(
        w, (jnp.mean(rec), jnp.mean(kl_z), jnp.mean(kl_c), sup, cons, usage, roi), 0.0 * sup, acc, n_lab
    )
