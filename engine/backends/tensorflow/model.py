"""The SSVAE in TensorFlow as pure functions of a dict of tensors ``p`` (TensorFlow layouts, neutral
names; ``layout.py`` converts), and its loss. Imports TensorFlow (quietly: see ``_import_tensorflow``)."""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Lines TensorFlow writes straight to fd 2 on import whatever TF_CPP_MIN_LOG_LEVEL says (absl
# pre-init notice, the oneDNN notice, the CPU feature notice): dropped unless the level is 0.
_IMPORT_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations are on|cpu_feature_guard"
    r"|To enable the following instructions|rebuild TensorFlow with the appropriate"
)


def _import_tensorflow() -> ModuleType:
    """``import tensorflow`` with its unconditional start-up notices filtered out of stderr;
    anything else written to stderr meanwhile is passed on afterwards."""
    if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") in ("", "0") or "tensorflow" in sys.modules:
        import tensorflow

        return tensorflow
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        import tensorflow

        return tensorflow
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines = tmp.read().decode("utf-8", "replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not _IMPORT_NOISE.search(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()
    return tensorflow


if TYPE_CHECKING:  # a module to the checker, so ``tf.Tensor`` is a type in annotations
    import tensorflow as tf
else:
    tf = _import_tensorflow()

from engine.backends.base import GAUSS_VAR_FLOOR, ROI_EPS, ROI_GRAD_CAP, ROI_TINY, aux_slice, loss_metrics, roi_split  # noqa: E402
from engine.config import ModelConfig  # noqa: E402

_PAD = [[0, 0], [1, 1], [1, 1], [0, 0]]


def _conv(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """torch Conv2d(kernel 4, stride 2, padding 1) in NHWC: explicit zero padding, then VALID."""
    return tf.nn.conv2d(tf.pad(x, _PAD), w, strides=2, padding="VALID") + b


def dense(p: dict, name: str, h: tf.Tensor) -> tf.Tensor:
    """``h @ W + b`` of the dense layer ``name`` (kernel stored ``[in, out]``)."""
    return tf.matmul(h, p[f"{name}.weight"]) + p[f"{name}.bias"]


def features(p: dict, x: tf.Tensor) -> tf.Tensor:
    """Last convolutional feature map, NHWC [B, Sh, Sw, C2] after ReLU (Grad-CAM reads it); the dense
    encoder's first layer [B, 2H] (its variant is read off the parameter names). ``x`` is
    [B, H, W] gray or [B, H, W, 3] colour (channels last, as stored: already NHWC)."""
    if "enc.dense.weight" in p:
        return tf.nn.relu(dense(p, "enc.dense", tf.reshape(x, [tf.shape(x)[0], -1])))
    nhwc = x[..., None] if x.shape.rank == 3 else x  # gray gets its channel axis of 1
    h = tf.nn.relu(_conv(nhwc, p["enc.conv1.weight"], p["enc.conv1.bias"]))
    return tf.nn.relu(_conv(h, p["enc.conv2.weight"], p["enc.conv2.bias"]))


def hidden(p: dict, fmap: tf.Tensor) -> tf.Tensor:
    """ReLU(enc.fc) of the feature map, flattened in the neutral C,H,W order (no dropout)."""
    flat = fmap if fmap.shape.rank == 2 else tf.reshape(tf.transpose(fmap, [0, 3, 1, 2]), [tf.shape(fmap)[0], -1])
    return tf.nn.relu(dense(p, "enc.fc", flat))


def apply_dropout(h: tf.Tensor, u: tf.Tensor, rate: float) -> tf.Tensor:
    """Keep where u >= rate, scale by 1/(1-rate) (``u`` is uniform noise from the batch)."""
    if rate <= 0:
        return h
    return h * tf.cast(u >= rate, h.dtype) / (1.0 - rate)


def encode(p: dict, x: tf.Tensor, drop: tf.Tensor | None, rate: float) -> dict[str, tf.Tensor]:
    fmap = features(p, x)
    h = hidden(p, fmap)
    if drop is not None:
        h = apply_dropout(h, drop, rate)
    logits = dense(p, "enc.comp", h)
    return {
        "fmap": fmap,
        "mu": dense(p, "enc.mu", h),
        "logvar": dense(p, "enc.logvar", h),
        "logits": logits,
        "q": tf.nn.softmax(logits, axis=1),
    }


def decode(p: dict, z: tf.Tensor, q: tf.Tensor, shape: tuple[int, ...]) -> tf.Tensor:
    """Pixel logits [B, *shape] (``shape`` = ``cfg.sample_shape``; ``dec.fc2``'s outputs are in
    (H, W, C) order); the decoder sees the component responsibilities."""
    h = tf.nn.relu(dense(p, "dec.fc1", tf.concat([z, q], axis=1)))
    return tf.reshape(dense(p, "dec.fc2", h), [-1, *shape])


def prior_params(p: dict, cfg: ModelConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """Component means and log-variances [K, D]; a VampPrior's are the encoder's outputs for the
    pseudo-inputs sigmoid(prior.pseudo), without dropout, differentiable in both."""
    if cfg.prior == "gmm":
        return p["prior.mu"], p["prior.logvar"]
    h = hidden(p, features(p, tf.sigmoid(p["prior.pseudo"])))
    return dense(p, "enc.mu", h), dense(p, "enc.logvar", h)


def _rec(p: dict, cfg: ModelConfig, logits_x: tf.Tensor, x: tf.Tensor, P: float) -> tf.Tensor:
    """Per-row reconstruction term (base.py): Bernoulli, or Gaussian with a learned per-pixel variance."""
    pixel_axes = list(range(1, len(cfg.sample_shape) + 1))
    if cfg.decoder == "bernoulli":
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits_x)
        return tf.reduce_sum(bce, axis=pixel_axes) / P
    var = tf.reshape(tf.exp(p["dec.logvar"]) + GAUSS_VAR_FLOOR, [1, *cfg.sample_shape])
    nll = 0.5 * (float(np.log(2 * np.pi)) + tf.math.log(var) + tf.square(x - tf.sigmoid(logits_x)) / var)
    return tf.reduce_sum(nll, axis=pixel_axes) / P


def _aux(p: dict, cfg: ModelConfig, b: dict[str, tf.Tensor], mu: tf.Tensor, q: tf.Tensor, P: float) -> tf.Tensor:
    """sum_t task_w[t] * L_t over the auxiliary heads (base.py); no batch arrays are read without heads."""
    total = tf.zeros((), tf.float32)
    if not cfg.aux:
        return total
    feats = tf.concat([mu, q], axis=1)
    for t, head in enumerate(cfg.aux):
        sl = aux_slice(head, cfg)
        u = feats[:, sl.start : sl.stop]
        if head.head == "mlp":
            u = tf.nn.relu(dense(p, f"task.{head.name}.hid", u))
        u = dense(p, f"task.{head.name}.out", u)
        m, target = b["task_mask"][:, t], b["task_target"][:, t]
        if head.kind == "classification":
            labels = tf.cast(tf.maximum(target, 0.0), tf.int32)
            per_row = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=u)
        elif head.kind == "regression":
            per_row = tf.square(u[:, 0] - target)
        else:
            flat = tf.reshape(b["x"], tf.shape(u))
            per_row = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=flat, logits=u), axis=1) / P
        total = total + b["task_w"][t] * tf.reduce_sum(per_row * m) / tf.maximum(tf.reduce_sum(m), 1.0)
    return total


def _pick(probs: tf.Tensor, idx: tf.Tensor) -> tf.Tensor:
    return tf.gather(probs, idx, axis=1, batch_dims=1)


def ssvae_loss(
    p: dict, cfg: ModelConfig, b: dict[str, tf.Tensor], use_roi: bool, use_cons: bool, train: bool
) -> dict[str, tf.Tensor]:
    """The loss of base.py's docstring, term for term like the torch reference ``ssvae_loss``."""
    w, x = b["w"], b["x"]
    K = cfg.components
    P = float(cfg.pixels)
    rate = cfg.dropout
    # The ROI penalty needs d(sum_y log p_y)/dx: an inner tape on x around the forward pass; an
    # outer tape (train step) records that gradient too, giving the second-order gradient.
    with tf.GradientTape() if use_roi else contextlib.nullcontext() as tape:
        if use_roi:
            assert tape is not None  # the GradientTape: use_roi chose it above
            tape.watch(x)
        e = encode(p, x, b["drop"] if train else None, rate)
        q = e["q"]
        probs = tf.matmul(q, p["tau"])
        if use_roi:
            rw = b["roi_weight"]
            has_fb = tf.cast(rw > 0, tf.float32)
            target = tf.reduce_sum(tf.reduce_sum(tf.math.log(probs + 1e-8), axis=1) * has_fb)
    if use_roi:
        assert tape is not None
        g = tape.gradient(target, x)
        # rescaled per row by a constant (its max |g|): the share is the same, the eps negligible
        g = tf.reshape(g, [-1, cfg.height * cfg.width, cfg.channels])
        g = g / (tf.stop_gradient(tf.reduce_max(tf.abs(g), axis=[1, 2], keepdims=True)) + ROI_TINY)
        g2 = tf.reshape(tf.reduce_sum(tf.square(g), axis=2), [-1, cfg.height, cfg.width])  # every channel
        outside = tf.reduce_sum((1.0 - b["roi_mask"]) * g2, axis=[1, 2])
        share = outside / (tf.reduce_sum(g2, axis=[1, 2]) + ROI_EPS)
        roi = tf.reduce_sum(rw * share) / tf.maximum(tf.reduce_sum(has_fb), 1.0)
    else:
        roi = tf.zeros((), tf.float32)
    mu, logvar = e["mu"], e["logvar"]
    log_q = tf.nn.log_softmax(e["logits"], axis=1)
    z = mu + tf.exp(0.5 * logvar) * b["eps"]
    logits_x = decode(p, z, q, cfg.sample_shape)
    rec = _rec(p, cfg, logits_x, x, P)
    pm, plv = prior_params(p, cfg)  # [K, D]
    kl_each = 0.5 * tf.reduce_sum(
        plv[None]
        - logvar[:, None]
        + (tf.exp(logvar[:, None]) + tf.square(mu[:, None] - pm[None])) / tf.exp(plv[None])
        - 1.0,
        axis=-1,
    )  # [B, K]
    kl_z = tf.reduce_sum(q * kl_each, axis=1) / P
    kl_c = tf.reduce_sum(q * (log_q + float(np.log(np.float32(K)))), axis=1) / P
    y = b["y"]
    lab = y >= 0
    labf = tf.cast(lab, tf.float32)
    n_lab = tf.reduce_sum(labf)
    denom = tf.maximum(n_lab, 1.0)
    nll = -tf.math.log(_pick(probs, tf.maximum(y, 0)) + 1e-8)
    sup = tf.reduce_sum(nll * labf) / denom
    hit = tf.logical_and(tf.equal(tf.argmax(probs, axis=1, output_type=tf.int32), y), lab)
    acc = tf.reduce_sum(tf.cast(hit, tf.float32)) / denom
    if use_cons:
        sp = b["teacher_p"] if "teacher_p" in b else tf.stop_gradient(probs)
        conf = tf.reduce_max(sp, axis=1)
        pseudo = tf.argmax(sp, axis=1, output_type=tf.int32)
        mask = tf.cast(conf >= b["threshold"], tf.float32)
        q_aug = encode(p, b["x_aug"], b["drop_aug"] if train else None, rate)["q"]
        p_aug = tf.matmul(q_aug, p["tau"])
        ce = -tf.math.log(_pick(p_aug, pseudo) + 1e-8)
        cons = tf.reduce_mean(ce * mask)
    else:
        cons = tf.zeros((), tf.float32)
    qbar = tf.reduce_mean(q, axis=0)
    usage = tf.reduce_sum(qbar * tf.math.log(qbar * K + 1e-12))
    return loss_metrics(
        w,
        (tf.reduce_mean(rec), tf.reduce_mean(kl_z), tf.reduce_mean(kl_c), sup, cons, usage, roi),
        _aux(p, cfg, b, mu, q, P),
        acc,
        n_lab,
    )


def roi_capped_gradients(
    tape: tf.GradientTape, terms: dict[str, tf.Tensor], w: tf.Tensor, variables: list, use_roi: bool
) -> list[tf.Tensor]:
    """``terms["loss"]``'s gradient over ``variables``, the roi term's capped at ROI_GRAD_CAP times
    the norm of the other terms' (base.py). With the roi term ``tape`` must be persistent."""
    if not use_roi:
        return tape.gradient(terms["loss"], variables)
    with tape:  # recording resumes: the split's sums must be on the tape
        rest, roi_part = roi_split(w, terms)
    zero = tf.UnconnectedGradients.ZERO
    g_rest = tape.gradient(rest, variables, unconnected_gradients=zero)
    g_roi = tape.gradient(roi_part, variables, unconnected_gradients=zero)
    scale = tf.minimum(1.0, ROI_GRAD_CAP * tf.linalg.global_norm(g_rest) / (tf.linalg.global_norm(g_roi) + ROI_TINY))
    return [a + scale * r for a, r in zip(g_rest, g_roi, strict=True)]
