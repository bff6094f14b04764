"""The SSVAE's loss (engine/backends/base.py's docstring) as a pure JAX function of the Flax
parameters, ``tau`` and a batch. Imported lazily, like ``model.py``."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from engine.backends.base import GAUSS_VAR_FLOOR, ROI_EPS, ROI_GRAD_CAP, ROI_TINY, loss_metrics, roi_split
from engine.backends.jax.model import SSVAE, decode, encode, prior_params, sample_shape, tasks


def _pick(a: jax.Array, idx: jax.Array) -> jax.Array:
    return jnp.take_along_axis(a, idx[:, None], axis=1)[:, 0]


def _bce_with_logits(logits: jax.Array, target: jax.Array) -> jax.Array:
    """torch's BCEWithLogits (same stable form): max(l, 0) - l*x + log1p(exp(-|l|))."""
    return jnp.maximum(logits, 0.0) - logits * target + jnp.log1p(jnp.exp(-jnp.abs(logits)))


def _rec(model: SSVAE, params, logits_x: jax.Array, x: jax.Array, P: float) -> jax.Array:
    """Per-row reconstruction term: Bernoulli, or Gaussian with the learned per-pixel variance."""
    n = x.shape[0]
    if model.decoder_kind == "bernoulli":
        return jnp.sum(_bce_with_logits(logits_x, x).reshape(n, -1), axis=1) / P
    var = (jnp.exp(params["dec"]["logvar"]) + GAUSS_VAR_FLOOR).reshape(1, *sample_shape(model.image_shape))
    nll = 0.5 * (math.log(2 * math.pi) + jnp.log(var) + (x - jax.nn.sigmoid(logits_x)) ** 2 / var)
    return jnp.sum(nll.reshape(n, -1), axis=1) / P


def _aux(model: SSVAE, params, b: dict[str, jax.Array], mu: jax.Array, q: jax.Array, P: float) -> jax.Array:
    """sum_t task_w[t] * L_t over the auxiliary heads (0, and no task arrays read, without heads)."""
    total = jnp.zeros((), jnp.float32)
    if not model.heads:
        return total
    outs = tasks(model, params, jnp.concatenate([mu, q], axis=1))
    for t, (spec, u) in enumerate(zip(model.heads, outs, strict=True)):
        m, target = b["task_mask"][:, t], b["task_target"][:, t]
        if spec.kind == "classification":
            per_row = -_pick(jax.nn.log_softmax(u, axis=1), jnp.maximum(target, 0.0).astype(jnp.int32))
        elif spec.kind == "regression":
            per_row = (u[:, 0] - target) ** 2
        else:
            x = b["x"].reshape(u.shape[0], -1)
            per_row = jnp.sum(_bce_with_logits(u, x), axis=1) / P
        total = total + b["task_w"][t] * jnp.sum(per_row * m) / jnp.maximum(jnp.sum(m), 1.0)
    return total


def ssvae_loss(
    model: SSVAE, params, tau, b: dict[str, jax.Array], use_roi: bool, use_cons: bool, train: bool = True
) -> dict[str, jax.Array]:
    """The loss of base.py's docstring (scalars). ``train`` applies the batch's dropout noise."""
    w = b["w"]
    x = b["x"]
    K = model.comps
    hw, c = model.image_shape[0] * model.image_shape[1], model.image_shape[2]
    P = float(hw * c)
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
        g = g.reshape(g.shape[0], -1)
        g = g / (jax.lax.stop_gradient(jnp.max(jnp.abs(g), axis=1, keepdims=True)) + ROI_TINY)
        g2 = jnp.sum((g**2).reshape(-1, hw, c), axis=2)  # [B, H*W]: the box covers every channel
        outside = jnp.sum((1.0 - b["roi_mask"].reshape(-1, hw)) * g2, axis=1)
        share = outside / (jnp.sum(g2, axis=1) + ROI_EPS)
        n_roi = jnp.sum((rw > 0).astype(jnp.float32))
        roi = jnp.sum(rw * share) / jnp.maximum(n_roi, 1.0)
    else:
        e = encode(model, params, x, drop)
        roi = jnp.zeros((), jnp.float32)

    q, mu, logvar = e["q"], e["mu"], e["logvar"]
    log_q = jax.nn.log_softmax(e["logits"], axis=1)
    z = mu + jnp.exp(0.5 * logvar) * b["eps"]
    logits_x = decode(model, params, z, q)
    rec = _rec(model, params, logits_x, x, P)
    pm, plv = prior_params(model, params)  # [K, D]
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
        p_sg = b["teacher_p"] if "teacher_p" in b else jax.lax.stop_gradient(probs)
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
    aux = _aux(model, params, b, mu, q, P)
    return loss_metrics(w, (jnp.mean(rec), jnp.mean(kl_z), jnp.mean(kl_c), sup, cons, usage, roi), aux, acc, n_lab)


def _norm(tree) -> jax.Array:
    return jnp.sqrt(sum(jnp.sum(jnp.square(a)) for a in jax.tree.leaves(tree)))


def roi_capped_grad(loss_fn, params, w: jax.Array) -> tuple[dict, dict[str, jax.Array]]:
    """(gradient, terms) of ``loss_fn(params)`` (an ``ssvae_loss`` with the roi term and loss
    weights ``w``), the roi
    term's gradient capped at ROI_GRAD_CAP times the norm of the other terms' (base.py). One
    forward pass, two pullbacks."""

    def parts(p):
        terms = loss_fn(p)
        return roi_split(w, terms), terms

    (rest, _), pullback, terms = jax.vjp(parts, params, has_aux=True)
    one, zero = jnp.ones_like(rest), jnp.zeros_like(rest)
    (g_rest,) = pullback((one, zero))
    (g_roi,) = pullback((zero, one))
    scale = jnp.minimum(1.0, ROI_GRAD_CAP * _norm(g_rest) / (_norm(g_roi) + ROI_TINY))
    grads = jax.tree.map(lambda a, r: a + scale * r, g_rest, g_roi)
    return grads, terms
