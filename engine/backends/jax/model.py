"""The SSVAE in Flax (linen); ``loss.py`` holds its loss.

Imported lazily by :class:`engine.backends.jax.backend.JaxBackend` (after the platform is chosen).
Tensors are float32; images are channels last as the dataset holds them ([B, H, W] gray,
[B, H, W, 3] colour: ``ModelConfig.sample_shape``), feature maps NHWC, kernels HWIO / [in, out]
(``layout.py`` converts to and from the neutral layout).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from engine.backends.base import aux_output_size, aux_slice
from engine.config import ModelConfig
from engine.tasks import AUX_HIDDEN

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


def sample_shape(image_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """One image as arrays hold it (``ModelConfig.sample_shape``): (H, W) gray, (H, W, 3) colour."""
    h, w, c = image_shape
    return (h, w) if c == 1 else (h, w, c)


class HeadSpec(NamedTuple):
    """One auxiliary head (base.py): it reads columns ``start:stop`` of concat(mu, q), outputs ``out``."""

    name: str
    kind: str
    start: int
    stop: int
    out: int
    mlp: bool


class _Dims(nn.Module):
    """The sizes the encoder and the whole model are built from (see :func:`build`)."""

    c1: int
    c2: int
    hidden: int
    latent: int
    comps: int
    image_shape: tuple[int, int, int]  # ModelConfig.image_shape (H, W, C)
    dropout: float
    encoder_kind: str = "conv"  # ModelConfig.encoder


class Encoder(_Dims):
    def setup(self) -> None:
        h, w, c = self.image_shape
        if self.encoder_kind == "conv":
            self.conv1 = _conv(self.c1, 16 * c, "conv1")
            self.conv2 = _conv(self.c2, 16 * self.c1, "conv2")
            self.fc = _dense(self.hidden, self.c2 * (h // 4) * (w // 4), "fc")
        else:
            self.dense = _dense(2 * self.hidden, h * w * c, "dense")
            self.fc = _dense(self.hidden, 2 * self.hidden, "fc")
        self.mu = _dense(self.latent, self.hidden, "mu")
        self.logvar = _dense(self.latent, self.hidden, "logvar")
        self.comp = _dense(self.comps, self.hidden, "comp")

    def features(self, x: jax.Array) -> jax.Array:
        """Last convolutional feature map, NHWC [B, Sh, Sw, C2] (Grad-CAM reads it); the dense
        encoder's first layer [B, 2H] (x flattened row-major, (H, W, C) order). ``x``: [B, H, W]
        gray or [B, H, W, 3] colour; NHWC already, gray only lacks its channel axis."""
        if self.encoder_kind == "dense":
            return nn.relu(self.dense(x.reshape(x.shape[0], -1)))
        h = nn.relu(self.conv1(x[..., None] if self.image_shape[2] == 1 else x))
        return nn.relu(self.conv2(h))

    def head(self, fmap: jax.Array, u: jax.Array | None = None) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``u``: uniform noise [B, hidden] for dropout (keep where u >= p), None in eval mode."""
        # dense features are flat already; a conv map flattens in the neutral C,H,W order
        flat = fmap if fmap.ndim == 2 else jnp.transpose(fmap, (0, 3, 1, 2)).reshape(fmap.shape[0], -1)
        h = nn.relu(self.fc(flat))
        if u is not None and self.dropout > 0:
            h = h * (u >= self.dropout).astype(h.dtype) / (1.0 - self.dropout)
        return self.mu(h), self.logvar(h), self.comp(h)

    def __call__(self, x: jax.Array, u: jax.Array | None = None):
        return self.head(self.features(x), u)


class Decoder(nn.Module):
    n_in: int  # D + K
    hidden: int
    image_shape: tuple[int, int, int]
    gaussian: bool = False

    def setup(self) -> None:
        p = math.prod(self.image_shape)
        self.fc1 = _dense(self.hidden, self.n_in, "fc1")
        self.fc2 = _dense(p, self.hidden, "fc2")
        if self.gaussian:  # per-value log-variance (base.py: dec.logvar), (H, W, C) order
            self.logvar = self.param("logvar", nn.initializers.zeros_init(), (p,), jnp.float32)

    def __call__(self, z: jax.Array, q: jax.Array) -> jax.Array:
        """Pixel logits [B, *sample_shape]; the decoder sees the component responsibilities."""
        h = nn.relu(self.fc1(jnp.concatenate([z, q], axis=1)))
        return self.fc2(h).reshape(-1, *sample_shape(self.image_shape))


class Prior(nn.Module):
    comps: int
    latent: int
    image_shape: tuple[int, int, int]
    vamp: bool = False

    def setup(self) -> None:
        k = self.comps
        if self.vamp:  # pseudo-input logits, one per component, shaped like the images
            shape = (k, *sample_shape(self.image_shape))
            self.pseudo = self.param("pseudo", nn.initializers.normal(1.0), shape, jnp.float32)
        else:  # distinct means per component (as the torch reference: N(0, 1.5^2))
            self.mu = self.param("mu", nn.initializers.normal(1.5), (k, self.latent), jnp.float32)
            self.logvar = self.param("logvar", nn.initializers.zeros_init(), (k, self.latent), jnp.float32)

    def __call__(self) -> tuple[jax.Array, ...]:
        return (self.pseudo,) if self.vamp else (self.mu, self.logvar)


class TaskHead(nn.Module):
    """One auxiliary head: linear, or a ReLU MLP with AUX_HIDDEN units."""

    spec: HeadSpec

    @nn.compact
    def __call__(self, feats: jax.Array) -> jax.Array:
        s = self.spec
        u, width = feats[:, s.start : s.stop], s.stop - s.start
        if s.mlp:
            u, width = nn.relu(_dense(AUX_HIDDEN, width, "hid")(u)), AUX_HIDDEN
        return _dense(s.out, width, "out")(u)


class Tasks(nn.Module):
    heads: tuple[HeadSpec, ...]

    @nn.compact
    def __call__(self, feats: jax.Array) -> list[jax.Array]:
        return [TaskHead(h, name=h.name)(feats) for h in self.heads]


class SSVAE(_Dims):
    prior_kind: str = "gmm"  # ModelConfig.prior
    decoder_kind: str = "bernoulli"  # ModelConfig.decoder
    heads: tuple[HeadSpec, ...] = ()  # ModelConfig.aux

    def setup(self) -> None:
        self.enc = Encoder(
            self.c1, self.c2, self.hidden, self.latent, self.comps, self.image_shape, self.dropout, self.encoder_kind
        )
        self.dec = Decoder(self.latent + self.comps, self.hidden, self.image_shape, self.decoder_kind == "gaussian")
        self.prior = Prior(self.comps, self.latent, self.image_shape, self.prior_kind == "vamp")
        if self.heads:
            self.task = Tasks(self.heads)

    def features(self, x):
        return self.enc.features(x)

    def head(self, fmap, u=None):
        return self.enc.head(fmap, u)

    def decode(self, z, q):
        return self.dec(z, q)

    def prior_params(self) -> tuple[jax.Array, jax.Array]:
        """Component means and log-variances [K, D] (VampPrior: encoded pseudo-inputs, no dropout)."""
        if self.prior_kind == "gmm":
            mu, logvar = self.prior()
            return mu, logvar
        (pseudo,) = self.prior()
        mu, logvar, _ = self.enc(jax.nn.sigmoid(pseudo))
        return mu, logvar

    def tasks(self, feats):
        """Every auxiliary head's output for concat(mu, q) (config order)."""
        return self.task(feats)

    def __call__(self, x, u=None):
        """Touches every parameter (used by ``init``)."""
        mu, _, logits = self.enc(x, u)
        q = jax.nn.softmax(logits, axis=1)
        heads = self.tasks(jnp.concatenate([mu, q], axis=1)) if self.heads else []
        return self.dec(mu, q), self.prior_params(), heads  # dec.logvar: made by the decoder's setup


def head_specs(cfg: ModelConfig) -> tuple[HeadSpec, ...]:
    """The auxiliary heads of ``cfg`` as plain tuples (hashable module fields)."""
    out = []
    for h in cfg.aux:
        sl = aux_slice(h, cfg)
        out.append(HeadSpec(h.name, h.kind, sl.start, sl.stop, aux_output_size(h, cfg), h.head == "mlp"))
    return tuple(out)


def build(cfg: ModelConfig) -> SSVAE:
    c1, c2 = cfg.enc_channels
    # every module field is part of the jitted functions' cache key (the module is closed over,
    # hashed by its fields): the whole image shape goes in, so no two shapes share a compile
    shape = (cfg.height, cfg.width, cfg.channels)
    dims = (c1, c2, cfg.hidden, cfg.latent_dim, cfg.components, shape, float(cfg.dropout), cfg.encoder)
    return SSVAE(*dims, cfg.prior, cfg.decoder, head_specs(cfg))


def init_params(model: SSVAE, cfg: ModelConfig, key: jax.Array, x: jax.Array | None = None) -> dict[str, Any]:
    """Flax's own initialisation (same distributions as the backend's numpy init). The backend uses
    it only under ``jax.eval_shape`` to check the tree that ``layout.py`` builds."""
    if x is None:
        x = jnp.zeros((1, *cfg.sample_shape), jnp.float32)
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


def prior_params(model: SSVAE, params) -> tuple[jax.Array, jax.Array]:
    return model.apply(_v(params), method=SSVAE.prior_params)


def tasks(model: SSVAE, params, feats) -> list[jax.Array]:
    return model.apply(_v(params), feats, method=SSVAE.tasks)
