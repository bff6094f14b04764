"""TensorFlow implementation of the backend protocol (engine/backends/base.py).

The SSVAE is a set of plain ``tf.Variable`` s (TensorFlow layouts, see ``layout.py``) and pure
functions over them; the training step (loss, ``tf.GradientTape`` gradients and a hand-written
Adam that mirrors ``torch.optim.Adam``) is one ``tf.function`` per (roi penalty, consistency)
combination, traced once for a fixed input signature (XLA ``jit_compile`` optional, see
``_XLA_TRAIN``). Numbers match the torch reference backend.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from engine.backends.base import (
    METRIC_KEYS,
    TASK_KEYS,
    Backend,
    Batch,
    BatchKey,
    Out,
    initial_tau,
    initial_weights,
    param_shapes,
)
from engine.backends.tensorflow import layout
from engine.backends.tensorflow.model import (
    apply_dropout,
    decode,
    dense,
    encode,
    features,
    hidden,
    roi_capped_gradients,
    ssvae_loss,
    tf,
)
from engine.backends.tensorflow.views import Views
from engine.config import ModelConfig
from engine.errors import DeviceUnavailable, SaliencyUnavailable
from engine.training.augment import ViewPlan

BETA1, BETA2, ADAM_EPS = 0.9, 0.999, 1e-8
# XLA (jit_compile) for the training step. Off by default: on CPU the plain tf.function graph
# (oneDNN convolutions) measured faster per step and compiles in ~2 s instead of ~11 s (see
# docs/backends.md). LATENTLOOP_TF_XLA=1 turns it on (e.g. to try it on a GPU).
_XLA_TRAIN = os.environ.get("LATENTLOOP_TF_XLA", "0") not in ("", "0")

_BATCH_DTYPES: dict[BatchKey, type[np.generic]] = {
    "x": np.float32,
    "x_aug": np.float32,
    "y": np.int32,
    "eps": np.float32,
    "drop": np.float32,
    "drop_aug": np.float32,
    "roi_mask": np.float32,
    "roi_weight": np.float32,
    "w": np.float32,
    "threshold": np.float32,
    "task_target": np.float32,
    "task_mask": np.float32,
    "task_w": np.float32,
}


def _device_name(device: str) -> str:
    """``cpu`` -> ``/CPU:0``; ``cuda`` / ``cuda:N`` / ``gpu`` -> ``/GPU:N`` (error if there is none)."""
    d = device.lower()
    if d.startswith(("cuda", "gpu")):
        index = int(d.split(":", 1)[1]) if ":" in d else 0
        gpus = tf.config.list_physical_devices("GPU")
        if len(gpus) <= index:
            raise DeviceUnavailable(
                f"--device {device} requested but TensorFlow sees {len(gpus)} GPU(s); use --device cpu"
            )
        with contextlib.suppress(RuntimeError, ValueError):  # already initialised: keep TF's default
            tf.config.experimental.set_memory_growth(gpus[index], True)
        return f"/GPU:{index}"
    if d.startswith("cpu"):
        return "/CPU:0"
    raise ValueError(f"unknown device {device!r}; use cpu or cuda")


def _stack_metrics(terms: dict[str, tf.Tensor]) -> tf.Tensor:
    return tf.stack([tf.cast(terms[k], tf.float32) for k in METRIC_KEYS])


class TensorFlowBackend(Backend):
    name = "tensorflow"

    def __init__(self, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> None:
        super().__init__(cfg, device, threads)
        try:  # only possible before TF's runtime starts (the first backend in a process)
            tf.config.threading.set_intra_op_parallelism_threads(self.threads)
            tf.config.threading.set_inter_op_parallelism_threads(self.threads)
        except RuntimeError:
            pass
        self.dev = _device_name(device)
        self._views = Views(self.dev)
        self._shapes = param_shapes(cfg)
        self._names = tuple(self._shapes)
        # Without auxiliary heads the task arrays are neither converted nor passed to the compiled step.
        self._batch_keys = tuple(k for k in _BATCH_DTYPES if cfg.aux or k not in TASK_KEYS)
        with tf.device(self.dev):
            self.params = {
                n: tf.Variable(tf.zeros(layout.tf_shape(n, s)), name=n.replace(".", "_"))
                for n, s in self._shapes.items()
            }
            self.tau = tf.Variable(tf.zeros((cfg.components, cfg.num_classes)), trainable=False, name="tau")
            self.m = {n: tf.Variable(tf.zeros_like(v), trainable=False) for n, v in self.params.items()}
            self.v = {n: tf.Variable(tf.zeros_like(v), trainable=False) for n, v in self.params.items()}
            self.step = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="adam_step")
            self.lr = tf.Variable(tf.constant(1e-3, tf.float64), trainable=False, name="lr")
        self._train_fns: dict[tuple[bool, bool, bool], Any] = {}
        self._loss_fns: dict[tuple[bool, bool], Any] = {}
        self._avg_tf: list[tf.Tensor] | None = None  # the weight average as tensors, for the teacher
        self._build_functions()
        self.init(0)

    # -- compiled functions ----------------------------------------------------------------
    def _p(self) -> dict[str, Any]:
        return {**self.params, "tau": self.tau}

    def _batch_signature(self) -> list[tf.TensorSpec]:
        """Specs of the arrays ``_tensors`` passes, in ``self._batch_keys`` order."""
        c, t = self.cfg, len(self.cfg.aux)
        img = tf.TensorSpec([None, *c.sample_shape], tf.float32)
        mask = tf.TensorSpec([None, c.height, c.width], tf.float32)  # one mask for every channel
        per_row = tf.TensorSpec([None, t], tf.float32)
        tasks = [per_row, per_row, tf.TensorSpec([t], tf.float32)] if t else []
        return [
            img,
            img,
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, c.latent_dim], tf.float32),
            tf.TensorSpec([None, c.hidden], tf.float32),
            tf.TensorSpec([None, c.hidden], tf.float32),
            mask,
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([7], tf.float32),
            tf.TensorSpec([], tf.float32),
            *tasks,
        ]

    def _build_functions(self) -> None:
        s = self.cfg.sample_shape
        img = tf.TensorSpec([None, *s], tf.float32)

        @tf.function(input_signature=[img])
        def predict_fn(x):
            p = self._p()
            e = encode(p, x, None, self.cfg.dropout)
            recon = tf.sigmoid(decode(p, e["mu"], e["q"], s))
            return e["mu"], e["logvar"], e["q"], tf.matmul(e["q"], p["tau"]), recon

        avg_specs = [tf.TensorSpec(layout.tf_shape(n, sh), tf.float32) for n, sh in self._shapes.items()]

        @tf.function(input_signature=[img, *avg_specs])
        def teacher_fn(x, *avg):  # the weight average's class probabilities (no dropout, the live tau)
            p = {**dict(zip(self._names, avg, strict=True)), "tau": self.tau}
            return tf.matmul(encode(p, x, None, self.cfg.dropout)["q"], p["tau"])

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, self.cfg.latent_dim], tf.float32),
                tf.TensorSpec([None, self.cfg.components], tf.float32),
            ]
        )
        def decode_fn(z, q):
            return tf.sigmoid(decode(self._p(), z, q, s))

        @tf.function(input_signature=[img])
        def hidden_fn(x):
            return hidden(self._p(), features(self._p(), x))

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, self.cfg.hidden], tf.float32),
                tf.TensorSpec([None, None, self.cfg.hidden], tf.float32),
            ]
        )
        def mc_fn(h, u):  # h [B, H] before dropout, u [n, B, H] -> class probs [n, B, C]
            p = self._p()
            hd = apply_dropout(h[None], u, self.cfg.dropout)
            logits = tf.einsum("nbh,hk->nbk", hd, p["enc.comp.weight"]) + p["enc.comp.bias"]
            return tf.einsum("nbk,kc->nbc", tf.nn.softmax(logits, axis=-1), p["tau"])

        @tf.function(input_signature=[img, tf.TensorSpec([], tf.int32)])
        def input_grad_fn(xs, target):
            p = self._p()
            with tf.GradientTape() as tape:
                tape.watch(xs)
                probs = tf.matmul(encode(p, xs, None, self.cfg.dropout)["q"], p["tau"])
                logp = tf.reduce_sum(tf.math.log(probs[:, target] + 1e-8))
            return tape.gradient(logp, xs)

        @tf.function(input_signature=[img, tf.TensorSpec([], tf.int32)])
        def fmap_grad_fn(x, target):
            p = self._p()
            fmap = features(p, x)  # [1, Sh, Sw, C2]
            with tf.GradientTape() as tape:
                tape.watch(fmap)
                logits = dense(p, "enc.comp", hidden(p, fmap))
                logp = tf.math.log(tf.matmul(tf.nn.softmax(logits, axis=1), p["tau"])[0, target] + 1e-8)
            # NHWC -> the neutral [C2, Sh, Sw]
            return tf.transpose(fmap[0], [2, 0, 1]), tf.transpose(tape.gradient(logp, fmap)[0], [2, 0, 1])

        self._predict_fn, self._decode_fn, self._hidden_fn, self._mc_fn = predict_fn, decode_fn, hidden_fn, mc_fn
        self._input_grad_fn, self._fmap_grad_fn, self._teacher_fn = input_grad_fn, fmap_grad_fn, teacher_fn

    def _train_fn(self, use_roi: bool, use_cons: bool, use_teacher: bool = False):
        key = (use_roi, use_cons, use_teacher)
        if key not in self._train_fns:
            names = self._names
            keys = (*self._batch_keys, "teacher_p") if use_teacher else self._batch_keys
            signature = self._batch_signature()
            if use_teacher:
                signature.append(tf.TensorSpec([None, self.cfg.num_classes], tf.float32))

            def train(*args):
                b = dict(zip(keys, args, strict=True))
                p = self._p()
                with tf.GradientTape(persistent=use_roi) as tape:  # the roi cap takes two gradients
                    terms = ssvae_loss(p, self.cfg, b, use_roi, use_cons, train=True)
                grads = roi_capped_gradients(tape, terms, b["w"], [self.params[n] for n in names], use_roi)
                self._adam_update(dict(zip(names, grads, strict=True)))
                return _stack_metrics(terms)

            self._train_fns[key] = tf.function(train, input_signature=signature, jit_compile=_XLA_TRAIN)
        return self._train_fns[key]

    def _loss_fn(self, use_roi: bool, use_cons: bool):
        key = (use_roi, use_cons)
        if key not in self._loss_fns:

            def loss(*args):
                b = dict(zip(self._batch_keys, args, strict=True))
                return _stack_metrics(ssvae_loss(self._p(), self.cfg, b, use_roi, use_cons, train=False))

            self._loss_fns[key] = tf.function(loss, input_signature=self._batch_signature())
        return self._loss_fns[key]

    def _adam_update(self, grads: dict[str, tf.Tensor]) -> None:
        """torch.optim.Adam (single-tensor path): m <- lerp(m, g, 1-b1); v <- b2 v + (1-b2) g^2;
        p <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps); bias corrections in float64."""
        self.step.assign_add(1)
        t = tf.cast(self.step, tf.float64)
        bc1 = 1.0 - tf.pow(tf.constant(BETA1, tf.float64), t)
        bc2 = 1.0 - tf.pow(tf.constant(BETA2, tf.float64), t)
        step_size = tf.cast(self.lr / bc1, tf.float32)
        bc2_sqrt = tf.cast(tf.sqrt(bc2), tf.float32)
        for n, g in grads.items():
            m, v, p = self.m[n], self.v[n], self.params[n]
            m_new = m + (g - m) * (1.0 - BETA1)
            v_new = v * BETA2 + (1.0 - BETA2) * g * g
            m.assign(m_new)
            v.assign(v_new)
            p.assign_sub(step_size * m_new / (tf.sqrt(v_new) / bc2_sqrt + ADAM_EPS))

    # -- setup -------------------------------------------------------------------------------
    def init(self, seed: int) -> None:
        self.set_weights({**initial_weights(self.cfg, seed), "tau": initial_tau(self.cfg)})
        for n in self._names:
            self.m[n].assign(tf.zeros_like(self.m[n]))
            self.v[n].assign(tf.zeros_like(self.v[n]))
        self.step.assign(0)
        self._avg = None  # the weight average: the numpy reference's (base.py)

    def set_lr(self, lr: float) -> None:
        self.lr.assign(float(lr))

    def _tensors(self, batch: Batch) -> list[tf.Tensor]:
        with tf.device(self.dev):  # views' x and x_aug are tensors already
            return [
                v if isinstance(v := batch[k], tf.Tensor) else tf.convert_to_tensor(np.asarray(v, _BATCH_DTYPES[k]))
                for k in self._batch_keys
            ]

    # -- the batch's images ------------------------------------------------------------------
    def hold_images(self, images: np.ndarray, upload: bool = False) -> None:
        super().hold_images(images, upload)
        self._views.upload(images if upload else None)

    def views(self, plan: ViewPlan) -> tuple[tf.Tensor, tf.Tensor]:
        return self._views.make(self._images, plan)

    # -- training ----------------------------------------------------------------------------
    def train_step(self, batch: Batch) -> Any:
        args = self._tensors(batch)
        use_roi, use_cons = self.loss_branches(batch)
        teacher = self.uses_teacher(use_cons)
        with tf.device(self.dev):
            if teacher:
                args.append(self._teacher_fn(args[0], *self._average_tensors()))
            return self._train_fn(use_roi, use_cons, teacher)(*args)

    def _average_tensors(self) -> list[tf.Tensor]:
        """The weight average (the base class keeps it on the host) in this backend's layout, in
        ``self._names`` order: converted once per update of the average, not per step."""
        if self._avg_tf is None:
            assert self._avg is not None  # uses_teacher checked has_average
            with tf.device(self.dev):
                self._avg_tf = [tf.constant(layout.to_tf(n, self._avg[n])) for n in self._names]
        return self._avg_tf

    def average_weights(self, decay: float) -> None:
        super().average_weights(decay)
        self._avg_tf = None

    def set_averaged_weights(self, weights: dict[str, np.ndarray] | None) -> None:
        super().set_averaged_weights(weights)
        self._avg_tf = None

    def swap_average(self) -> None:
        super().swap_average()
        self._avg_tf = None

    def read_metrics(self, handle: Any) -> dict[str, float]:
        vals = np.asarray(handle)
        return {k: float(v) for k, v in zip(METRIC_KEYS, vals, strict=True)}

    def loss(self, batch: Batch) -> dict[str, float]:
        args = self._tensors(batch)
        with tf.device(self.dev):
            return self.read_metrics(self._loss_fn(*self.loss_branches(batch))(*args))

    # -- inference ---------------------------------------------------------------------------
    def _as_input(self, x: np.ndarray) -> tf.Tensor:
        with tf.device(self.dev):
            return tf.convert_to_tensor(self.as_float_images(x))

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> dict[Out, np.ndarray]:
        keys = (Out.MU, Out.LOGVAR, Out.RESP, Out.PROBS, Out.RECON)
        parts: dict[Out, list[np.ndarray]] = {k: [] for k in keys}
        for i in range(0, len(x), batch_size):
            with tf.device(self.dev):
                res = self._predict_fn(self._as_input(x[i : i + batch_size]))
            for k, v in zip(keys, res, strict=True):
                parts[k].append(v.numpy())
        if not parts[Out.MU]:
            return self.empty_prediction()
        return {k: np.concatenate(v).astype(np.float32, copy=False) for k, v in parts.items()}

    def decode(self, z: np.ndarray, q: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        z, q = self.check_decode_args(z, q)
        out = np.zeros((len(z), *self.cfg.sample_shape), np.float32)
        for i in range(0, len(z), batch_size):
            with tf.device(self.dev):
                zb, qb = tf.convert_to_tensor(z[i : i + batch_size]), tf.convert_to_tensor(q[i : i + batch_size])
                out[i : i + len(zb)] = self._decode_fn(zb, qb).numpy()
        return out

    def predict_mc(self, x: np.ndarray, n: int, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.zeros((n, len(x), self.cfg.num_classes), np.float32)
        if n <= 0:
            return out
        for i in range(0, len(x), batch_size):
            with tf.device(self.dev):
                h = self._hidden_fn(self._as_input(x[i : i + batch_size]))  # shared: dropout sits after it
                u = rng.random((n, int(h.shape[0]), self.cfg.hidden), dtype=np.float32)
                out[:, i : i + len(u[0])] = self._mc_fn(h, tf.convert_to_tensor(u)).numpy()
        return out

    def input_gradient(self, xs: np.ndarray, target: int) -> np.ndarray:
        with tf.device(self.dev):
            g = self._input_grad_fn(self._as_input(xs), tf.constant(int(target), tf.int32))
        return np.asarray(g.numpy(), np.float32)

    def feature_maps_and_grads(self, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        if self.cfg.encoder == "dense":
            raise SaliencyUnavailable("Grad-CAM needs a convolutional map: this model's encoder is dense")
        with tf.device(self.dev):
            fmap, g = self._fmap_grad_fn(self._as_input(np.asarray(x)[None]), tf.constant(int(target), tf.int32))
        return np.asarray(fmap.numpy(), np.float32), np.asarray(g.numpy(), np.float32)

    # -- state -------------------------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        out = {n: layout.from_tf(n, v.numpy()) for n, v in self.params.items()}
        out["tau"] = self.tau.numpy().copy()
        return out

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.check_weights(weights)
        for n, var in self.params.items():
            var.assign(layout.to_tf(n, weights[n]))
        self.tau.assign(np.asarray(weights["tau"], np.float32))

    def set_tau(self, tau: np.ndarray) -> None:
        self.tau.assign(self.check_tau(tau))

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for n in self._names:
            out[f"adam.m.{n}"] = layout.from_tf(n, self.m[n].numpy())
            out[f"adam.v.{n}"] = layout.from_tf(n, self.v[n].numpy())
        out["adam.step"] = np.array(int(self.step.numpy()), np.int64)
        return out

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        step = self.check_optimizer_state(state)
        for n in self._names:
            if step == 0:
                self.m[n].assign(tf.zeros_like(self.m[n]))
                self.v[n].assign(tf.zeros_like(self.v[n]))
            else:
                self.m[n].assign(layout.to_tf(n, state[f"adam.m.{n}"]))
                self.v[n].assign(layout.to_tf(n, state[f"adam.v.{n}"]))
        self.step.assign(step)
