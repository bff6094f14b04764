"""The backend protocol: everything the framework-neutral engine needs from a framework.

Over 400 lines on purpose: this docstring is the neutral weight layout and loss that every backend
is tested against (tests/engine/test_backend_conformance.py), and it stays next to the protocol and
the numpy references it specifies (``param_shapes``, ``initial_weights``, and the base class's
``views`` and weight average, which a framework overrides to keep them on its device).

Numpy in, numpy out. A backend builds the SSVAE of section 7 of docs/architecture.md from a
:class:`~engine.config.ModelConfig`; its weights travel in one *neutral* naming and layout
(PyTorch conventions: dense ``weight`` is ``[out, in]``, convolution ``weight`` is
``[out, in, kh, kw]`` (OIHW), features are flattened in C,H,W order). Backends that store
tensors differently convert in exactly one place (their ``layout.py``).

Neutral parameter names (shapes for the default config)::

    enc.conv1.weight [C1,Ci,4,4]  enc.conv1.bias [C1]      (stride 2, padding 1)
    enc.conv2.weight [C2,C1,4,4]  enc.conv2.bias [C2]      (stride 2, padding 1)
    enc.fc.weight [H, C2*Sh*Sw]   enc.fc.bias [H]          (Sh, Sw = height // 4, width // 4)
    enc.mu.weight [D,H]   enc.logvar.weight [D,H]   enc.comp.weight [K,H]  (+ .bias)
    dec.fc1.weight [H, D+K]   dec.fc2.weight [P, H]  (+ .bias)   (P = height * width * Ci)

Images (``ModelConfig.image_shape`` = (height, width, Ci), Ci = 1 gray or 3 RGB) travel as the
dataset holds them, channels last: float32 ``[B, height, width]`` for gray and
``[B, height, width, 3]`` for colour (``ModelConfig.sample_shape`` per image). Everything
pixel-shaped in the weights uses the same order: ``dec.fc2``'s P outputs and ``dec.logvar`` are
the image flattened row-major in (height, width, channel) order, and ``prior.pseudo`` is
``[K, *sample_shape]``. A backend whose convolutions want channels first transposes the input
itself; the neutral ``enc.conv1`` weight is OIHW with I = Ci.
    prior.mu [K,D]   prior.logvar [K,D]
    tau [K,C]   (buffer, not trained: the component->class map, set by the trainer)

Model variants (``ModelConfig.encoder / prior / decoder``) change only these names:

    encoder "dense": enc.dense.weight [2H, P] + bias replace enc.conv1/conv2 (x flattened row-major,
        ReLU), and enc.fc.weight is [H, 2H]. It has no convolutional map: Grad-CAM raises
        SaliencyUnavailable (the other saliency methods work).
    prior "vamp": prior.pseudo [K, *sample_shape] (pseudo-input logits) replaces prior.mu/prior.logvar. Component
        c's Gaussian is the encoder's (mu, logvar) of the image sigmoid(prior.pseudo[c]), computed in
        every forward pass, without dropout, with gradients into the encoder and the pseudo-inputs
        (Tomczak & Welling 2018, one pseudo-input per mixture component).
    decoder "gaussian": dec.logvar [P] (per-pixel log-variance, shared by all samples) is added; the
        decoder's mean is sigmoid(logits), as for Bernoulli.

Auxiliary heads (``ModelConfig.aux``, one per task with weight > 0, config order, T of them), for
a head named n reading columns ``a:b`` of concat(mu, q) (engine.tasks.resolve), width I = b - a,
output O (classification: C, regression: 1, reconstruction: P):

    linear: task.n.out.weight [O, I]  task.n.out.bias [O]
    mlp:    task.n.hid.weight [AUX_HIDDEN, I] (+ .bias), ReLU, task.n.out.weight [O, AUX_HIDDEN] (+ .bias)

Activations are ReLU; dropout (``model.dropout``) follows ``enc.fc`` in training mode. Its
randomness comes from the batch (``drop``, ``drop_aug``: keep where u >= p, scale 1/(1-p)),
like the reparameterisation noise ``eps``: a training step is a pure function of weights,
optimizer state and batch, so resume is exact and backends can be compared step by step.

Optimizer state (Adam, beta1=0.9, beta2=0.999, eps=1e-8, no weight decay) is exported as
``adam.m.<param>``, ``adam.v.<param>`` (same layout as the parameter) and ``adam.step`` (int64
scalar array).

The loss for a batch (all terms are means over the batch; ``P`` = height * width * Ci values)::

    q = softmax(enc.comp(h)),  z = mu + exp(logvar/2) * eps     (eps, dropout supplied in the batch)
    rec   = sum_pixels BCEWithLogits(dec(concat(z, q)), x) / P
    kl_z  = sum_c q_c KL(N(mu, e^logvar) || N(prior.mu_c, e^prior.logvar_c)) / P
    kl_c  = sum_c q_c (log q_c + log K) / P
    sup   = -log((q @ tau)[y] + 1e-8)     over labelled rows (y >= 0), 0 if none
    cons  = CE((q_aug @ tau), argmax p) over rows where max p >= threshold, p = stopgrad(q @ tau)
            (with ``teacher_p`` in the batch, train.mean_teacher: p = teacher_p, the class probabilities
            of the weight average's encoder on x, no dropout, with the live tau; Backend.uses_teacher)
    usage = sum_c qbar_c log(qbar_c * K),  qbar = batch mean of q
    roi   = mean over rows with roi_weight > 0 of roi_weight * share,
            share = sum_pixels (1-roi_mask) g^2 / (sum_pixels g^2 + ROI_EPS),
            g = dS/dx / stopgrad(max_pixels |dS/dx| + ROI_TINY),  S = sum_y log((q @ tau)[y] + 1e-8)
            (Ross et al. 2017, "right for the right reasons", made scale-free: the share of the
            squared input gradient outside the box, in [0, 1]; shrinking every gradient, i.e. a
            classifier that ignores its input, does not lower it. The rescaling by a constant
            leaves the share unchanged and keeps ROI_EPS negligible however small dS/dx is.
            For colour, sum_pixels runs over every channel: roi_mask [B, H, W] covers them all.)
    aux   = sum_t task_w[t] * L_t, over the auxiliary heads (0 if none); u = head_t(concat(mu, q)[:, a:b])
            with mu and q of the main (training-mode) pass, m = task_mask[:, t], n = max(1, sum m):
            classification: L_t = sum_rows m * CE(softmax(u), task_target[:, t]) / n
            regression:     L_t = sum_rows m * (u[:, 0] - task_target[:, t])^2 / n
            reconstruction: L_t = sum_rows m * (sum_pixels BCEWithLogits(u, x) / P) / n
    total = w_rec*rec + w_beta*kl_z + w_gamma*kl_c + w_alpha*sup + w_cons*cons + w_usage*usage + w_roi*roi + aux

The training step caps the roi term's pull (``roi_split``): with g_roi the gradient of w_roi*roi
over the parameters and g_rest that of the other terms, it applies g_rest + s * g_roi with
s = min(1, ROI_GRAD_CAP * |g_rest| / |g_roi|) (global norms; s is a constant of the step, not
differentiated). The share is scale-free, so its gradient grows like 1 / |dS/dx|: while the
classifier's output is still near uniform (tiny dS/dx) the uncapped roi gradient was up to 670x
the rest's, filled Adam's second moments and held the classifier at chance for 1000+ steps
(docs/accuracy.md, feedback). The reported ``loss`` and ``roi`` are unchanged by the cap.

With decoder "gaussian", rec = sum_pixels 0.5 * (log(2 pi) + log v + (x - m)^2 / v) / P with
m = sigmoid(logits), v = exp(dec.logvar) + GAUSS_VAR_FLOOR (the floor keeps near-binary pixels
from driving the variance, and the loss, to minus infinity). With prior "vamp", prior.mu_c and
prior.logvar_c in kl_z are the encoder's outputs for the pseudo-input c.
"""

from __future__ import annotations

import abc
import enum
import os
from collections.abc import Sequence
from typing import Any, Literal, TypedDict, get_args

import numpy as np

from engine.analysis.saliency import saliency_map
from engine.config import ModelConfig
from engine.errors import SaliencyUnavailable
from engine.tasks import AUX_HIDDEN, AuxHead, Slice, resolve
from engine.training.augment import ViewPlan, plan_views


class Out(enum.StrEnum):
    """Keys of :meth:`Backend.predict`'s result, shared by every backend."""

    MU = "latent_mean"  # [N, D]
    LOGVAR = "latent_logvar"  # [N, D]
    RESP = "component_resp"  # [N, K]   q(c|x)
    PROBS = "class_probs"  # [N, C]   q(c|x) @ tau
    RECON = "reconstruction"  # [N, *sample_shape] in [0, 1], decoded from z = mu


LOSS_WEIGHT_KEYS = ("rec", "beta", "gamma", "alpha", "cons", "usage", "roi")
METRIC_KEYS = ("loss", "rec", "kl_z", "kl_c", "sup", "cons", "usage", "roi", "aux", "acc_labeled", "n_labeled")
SALIENCY_METHODS = ("gradient", "gradcam", "smoothgrad")
ROI_EPS = 1e-12  # the roi share's denominator guard: a row whose input gradient is exactly 0 scores 0
ROI_TINY = 1e-30  # guards the per-row rescaling of the input gradient by its maximum |g|
ROI_GRAD_CAP = 1.0  # the roi term's gradient norm is at most this times the other terms' (see the docstring)
GAUSS_VAR_FLOOR = 1e-3  # decoder "gaussian": the per-pixel variance is exp(dec.logvar) + this


def aux_output_size(head: AuxHead, cfg: ModelConfig) -> int:
    """O of an auxiliary head: classes, 1, or pixels."""
    return {"classification": cfg.num_classes, "regression": 1, "reconstruction": cfg.pixels}[head.kind]


def aux_slice(head: AuxHead, cfg: ModelConfig) -> Slice:
    """The columns of concat(mu, q) an auxiliary head reads."""
    return resolve(head.input, cfg.latent_dim, cfg.components)


def loss_metrics(w: Any, terms: Sequence[Any], aux: Any, acc: Any, n_labeled: Any) -> dict[str, Any]:
    """The loss's result keyed by METRIC_KEYS, from framework scalars: ``terms`` are the batch
    means of METRIC_KEYS[1:8] (rec .. roi), ``aux`` the task-weighted sum of the auxiliary losses,
    and ``loss`` is the terms' sum weighted by ``w`` (in LOSS_WEIGHT_KEYS order) plus ``aux``.
    Only ``*`` and ``+``, so each backend's own ops (and gradients) apply."""
    total = w[0] * terms[0]
    for i in range(1, len(terms)):
        total = total + w[i] * terms[i]
    total = total + aux
    return dict(zip(METRIC_KEYS, (total, *terms, aux, acc, n_labeled), strict=True))


def roi_split(w: Any, terms: dict[str, Any]) -> tuple[Any, Any]:
    """(rest, w_roi * roi) of :func:`loss_metrics`' result: the two parts whose gradients the
    training step takes apart to cap the roi term's (ROI_GRAD_CAP). ``rest`` is summed afresh
    rather than ``loss - w_roi * roi``, so its gradient does not pass through the roi term."""
    rest = terms["aux"]
    for i, key in enumerate(METRIC_KEYS[1:7]):
        rest = rest + w[i] * terms[key]
    return rest, w[6] * terms["roi"]


class Batch(TypedDict):
    """One training batch; every backend consumes exactly these arrays."""

    # x and x_aug: numpy, or the backend's own arrays from Backend.views (already on its device)
    x: np.ndarray  # float32 [B, *sample_shape] in [0, 1] ([B, H, W] gray, [B, H, W, 3] RGB)
    x_aug: np.ndarray  # float32 [B, *sample_shape]: augmented view for the consistency term
    y: np.ndarray  # int32 [B], -1 = unlabelled
    eps: np.ndarray  # float32 [B, D] reparameterisation noise
    drop: np.ndarray  # float32 [B, hidden] uniform [0,1): dropout keeps units where drop >= p
    drop_aug: np.ndarray  # float32 [B, hidden]: the same for the augmented view's pass
    roi_mask: np.ndarray  # float32 [B, H, W], 1 inside the feedback box (where the model may look); every channel
    roi_weight: np.ndarray  # float32 [B], 0 = no feedback for this row
    w: np.ndarray  # float32 [len(LOSS_WEIGHT_KEYS)] loss weights in LOSS_WEIGHT_KEYS order
    threshold: np.ndarray  # float32 scalar: pseudo-label confidence threshold
    task_target: np.ndarray  # float32 [B, T]: per auxiliary head (ModelConfig.aux order) its target
    task_mask: np.ndarray  # float32 [B, T]: 1 where that target is known (0: the row is left out)
    task_w: np.ndarray  # float32 [T]: the heads' loss weights


# Batch's keys as a type, so a backend that loops over them indexes Batch with a checked key
BatchKey = Literal[
    "x",
    "x_aug",
    "y",
    "eps",
    "drop",
    "drop_aug",
    "roi_mask",
    "roi_weight",
    "w",
    "threshold",
    "task_target",
    "task_mask",
    "task_w",
]
TASK_KEYS: tuple[BatchKey, ...] = ("task_target", "task_mask", "task_w")  # only a model with auxiliary heads
FLOAT_KEYS: tuple[BatchKey, ...] = tuple(k for k in get_args(BatchKey) if k != "y" and k not in TASK_KEYS)


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Neutral parameter names and shapes (the contract every backend's weights follow)."""
    c1, c2 = cfg.enc_channels
    h, d, k = cfg.hidden, cfg.latent_dim, cfg.components
    p = cfg.pixels
    if cfg.encoder == "conv":
        first: dict[str, tuple[int, ...]] = {
            "enc.conv1.weight": (c1, cfg.channels, 4, 4),
            "enc.conv1.bias": (c1,),
            "enc.conv2.weight": (c2, c1, 4, 4),
            "enc.conv2.bias": (c2,),
        }
        feat = c2 * (cfg.height // 4) * (cfg.width // 4)
    else:
        first = {"enc.dense.weight": (2 * h, p), "enc.dense.bias": (2 * h,)}
        feat = 2 * h
    # The default model's names come first and in this order: initial_weights draws them in it.
    shapes: dict[str, tuple[int, ...]] = {
        **first,
        "enc.fc.weight": (h, feat),
        "enc.fc.bias": (h,),
        "enc.mu.weight": (d, h),
        "enc.mu.bias": (d,),
        "enc.logvar.weight": (d, h),
        "enc.logvar.bias": (d,),
        "enc.comp.weight": (k, h),
        "enc.comp.bias": (k,),
        "dec.fc1.weight": (h, d + k),
        "dec.fc1.bias": (h,),
        "dec.fc2.weight": (p, h),
        "dec.fc2.bias": (p,),
    }
    if cfg.prior == "gmm":
        shapes.update({"prior.mu": (k, d), "prior.logvar": (k, d)})
    else:
        shapes["prior.pseudo"] = (k, *cfg.sample_shape)
    if cfg.decoder == "gaussian":
        shapes["dec.logvar"] = (p,)
    for head in cfg.aux:
        width, out = aux_slice(head, cfg).width, aux_output_size(head, cfg)
        if head.head == "mlp":
            shapes[f"task.{head.name}.hid.weight"] = (AUX_HIDDEN, width)
            shapes[f"task.{head.name}.hid.bias"] = (AUX_HIDDEN,)
            width = AUX_HIDDEN
        shapes[f"task.{head.name}.out.weight"] = (out, width)
        shapes[f"task.{head.name}.out.bias"] = (out,)
    return shapes


BUFFER_NAMES = ("tau",)


def initial_tau(cfg: ModelConfig) -> np.ndarray:
    """Component c starts mapped to class c mod C (breaks the symmetry of the tau classifier)."""
    tau = np.zeros((cfg.components, cfg.num_classes), np.float32)
    tau[np.arange(cfg.components), np.arange(cfg.components) % cfg.num_classes] = 1.0
    return tau


def initial_weights(cfg: ModelConfig, seed: int) -> dict[str, np.ndarray]:
    """Neutral initial parameters (no ``tau``) with torch's default distributions, drawn with numpy.

    Weights and biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (fan_in of the layer's weight),
    prior.mu ~ N(0, 1.5^2), prior.logvar = 0, prior.pseudo ~ N(0, 1), dec.logvar = 0: the TensorFlow
    and JAX backends' ``init`` (numpy rather than the framework's RNG: no compile at construction,
    and the same numbers in both)."""
    rng = np.random.default_rng(int(seed))
    shapes = param_shapes(cfg)
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        if name == "prior.mu":
            out[name] = (1.5 * rng.standard_normal(shape)).astype(np.float32)
        elif name == "prior.pseudo":
            out[name] = rng.standard_normal(shape).astype(np.float32)
        elif name in ("prior.logvar", "dec.logvar"):
            out[name] = np.zeros(shape, np.float32)
        else:
            w_shape = shapes[name.rpartition(".")[0] + ".weight"]
            bound = 1.0 / np.sqrt(float(np.prod(w_shape[1:])))
            out[name] = rng.uniform(-bound, bound, shape).astype(np.float32)
    return out


def loss_weight_vector(**weights: float) -> np.ndarray:
    """Pack named loss weights into the order of LOSS_WEIGHT_KEYS (missing ones are 0)."""
    unknown = set(weights) - set(LOSS_WEIGHT_KEYS)
    if unknown:
        raise KeyError(f"unknown loss weights: {sorted(unknown)}")
    return np.array([float(weights.get(k, 0.0)) for k in LOSS_WEIGHT_KEYS], np.float32)


def cpu_threads(requested: int = 0) -> int:
    """Threads a backend may use: ``requested``, or all cores but one (at least one).

    Leaving a core free matters more than it seems: with both cores busy (the dashboard, the
    workers) a framework that spins two threads runs several times slower, not half as fast."""
    return requested if requested > 0 else max(1, (os.cpu_count() or 2) - 1)


class Backend(abc.ABC):
    """A framework's implementation of the SSVAE. Construct via :func:`create_backend`."""

    name: str = "?"

    def __init__(self, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> None:
        self.cfg = cfg
        self.device = device
        self.threads = cpu_threads(threads)
        # train.mean_teacher, set by the trainer once the average is ready: train_step then takes the
        # consistency term's pseudo-labels from the weight average (``teacher_p``, loss docstring above)
        self.mean_teacher = False
        self._images = np.zeros((0, *cfg.sample_shape), np.uint8)  # hold_images: the rows views reads
        self._avg: dict[str, np.ndarray] | None = None  # the reference's weight average (average_weights)

    # -- the batch's images: held once, drawn by row (engine/training/augment.py) -------------
    def device_free_bytes(self) -> int | None:
        """Free memory of the device in bytes; None when the backend computes on the host (cpu),
        where the dataset's own array is already resident and nothing is uploaded."""
        return None

    def hold_images(self, images: np.ndarray, upload: bool = False) -> None:
        """Keep a dataset's images (uint8 [N, *sample_shape]) for :meth:`views`: copied to the device
        once when ``upload``, else this host array itself, read by row each step (no copy)."""
        self._images = images

    def views(self, plan: ViewPlan) -> tuple[Any, Any]:
        """A batch's x and x_aug (float32 [B, *sample_shape] in [0, 1]) from the held images, as
        arrays :meth:`train_step` takes in its Batch. Here the numpy reference; a framework applies
        the same plan on its device."""
        return plan_views(self.as_float_images(self._images[plan.rows]), plan)

    # -- the weight average (train.ema_decay): kept where the weights are --------------------
    # Parameters only: the tau buffer of averaged weights is recomputed by whoever evaluates them.
    # Here the numpy reference (a host round trip per update); a framework keeps it on its device.
    def average_weights(self, decay: float) -> None:
        """Fold the live parameters into their average: ``avg = d * avg + (1 - d) * live`` in float32
        (``d`` = ``decay``); the first call starts the average at the live parameters."""
        live = {k: v for k, v in self.get_weights().items() if k not in BUFFER_NAMES}
        if self._avg is None:
            self._avg = live
            return
        d = np.float32(decay)
        for k, v in live.items():
            self._avg[k] *= d
            self._avg[k] += (1 - d) * v

    def has_average(self) -> bool:
        """Whether a weight average is kept (average_weights was called, or one was loaded)."""
        return self._avg is not None

    def averaged_weights(self) -> dict[str, np.ndarray] | None:
        """The weight average in the neutral naming (host copies, no ``tau``), or None."""
        return None if self._avg is None else {k: v.copy() for k, v in self._avg.items()}

    def set_averaged_weights(self, weights: dict[str, np.ndarray] | None) -> None:
        """Restore a weight average (a ``tau`` in it is ignored), or drop it (None)."""
        if weights is None:
            self._avg = None
            return
        self.check_weights({**weights, "tau": np.zeros((self.cfg.components, self.cfg.num_classes), np.float32)})
        self._avg = {k: np.array(v, np.float32) for k, v in weights.items() if k not in BUFFER_NAMES}

    def swap_average(self) -> None:
        """Exchange the live parameters and their average (tau stays); twice restores both exactly."""
        if self._avg is None:
            raise ValueError("no weight average to swap in: average_weights was never called")
        live = self.get_weights()
        self.set_weights({**self._avg, "tau": live["tau"]})
        self._avg = {k: v for k, v in live.items() if k not in BUFFER_NAMES}

    @abc.abstractmethod
    def init(self, seed: int) -> None:
        """(Re)initialise parameters and optimizer state deterministically from ``seed``."""

    @abc.abstractmethod
    def train_step(self, batch: Batch) -> Any:
        """One optimizer step. Returns a metrics handle; no host sync is required here."""

    @abc.abstractmethod
    def read_metrics(self, handle: Any) -> dict[str, float]:
        """Bring a metrics handle to the host as floats keyed by METRIC_KEYS."""

    @abc.abstractmethod
    def loss(self, batch: Batch) -> dict[str, float]:
        """Loss terms for a batch in eval mode (no dropout, no update): deterministic."""

    @abc.abstractmethod
    def predict(self, x: np.ndarray, batch_size: int = 1024) -> dict[Out, np.ndarray]:
        """Eval-mode forward pass over float32 [N, *sample_shape] images; all Out keys."""

    @abc.abstractmethod
    def decode(self, z: np.ndarray, q: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Pixel probabilities float32 [N, *sample_shape] in [0, 1]: the sigmoid of the decoder's logits for
        latent vectors ``z`` [N, D] and component responsibilities ``q`` [N, K] (the decoder sees
        concat(z, q)), in eval mode. ``decode(mu, resp)`` of :meth:`predict` is its Out.RECON."""

    @abc.abstractmethod
    def predict_mc(self, x: np.ndarray, n: int, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities under MC dropout: float32 [n, N, C]."""

    @abc.abstractmethod
    def input_gradient(self, xs: np.ndarray, target: int) -> np.ndarray:
        """d log p(target|x) / dx in eval mode for float32 images [N, *sample_shape]: float32 [N, *sample_shape]
        (``p = q(c|x) @ tau``, each row's own gradient). The saliency methods' first primitive."""

    @abc.abstractmethod
    def feature_maps_and_grads(self, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        """For one float32 image [*sample_shape]: the last convolutional feature map A (after its ReLU) and
        d log p(target|x) / dA, both float32 [C2, Sh, Sw] in the neutral C,H,W layout (Grad-CAM)."""

    def saliency(self, x: np.ndarray, target: int, method: str = "gradient", **kw: Any) -> np.ndarray:
        """Saliency map [H, W] (non-negative, float32) of log p(target|x) for one image
        [*sample_shape] (colour: summed over channels).

        ``method`` in SALIENCY_METHODS; smoothgrad takes ``samples``, ``noise`` (std as a fraction
        of the input range) and ``seed``. Computed by :func:`engine.analysis.saliency.saliency_map` from the
        two primitives above, the same numpy code for every backend."""
        target = self.check_saliency_args(target, method)
        if method == "gradcam" and self.cfg.encoder == "dense":
            raise SaliencyUnavailable("Grad-CAM needs a convolutional map: this model's encoder is dense")
        x = self.as_float_images(x)
        if x.shape != self.cfg.sample_shape:
            raise ValueError(f"saliency takes one image of shape {self.cfg.sample_shape}, got {x.shape}")
        return saliency_map(
            self,
            x,
            target,
            method,
            samples=int(kw.get("samples", 16)),
            noise=float(kw.get("noise", 0.15)),
            seed=int(kw.get("seed", 0)),
        )

    def prior_params(self) -> tuple[np.ndarray, np.ndarray]:
        """The mixture prior's component means and log-variances, float32 [K, D] each: the
        ``prior.mu``/``prior.logvar`` weights, or for a VampPrior the encoder's outputs for the
        pseudo-inputs sigmoid(prior.pseudo) in eval mode."""
        w = self.get_weights()
        if self.cfg.prior == "gmm":
            return w["prior.mu"], w["prior.logvar"]
        out = self.predict(1.0 / (1.0 + np.exp(-w["prior.pseudo"].astype(np.float64))).astype(np.float32))
        return out[Out.MU], out[Out.LOGVAR]

    @abc.abstractmethod
    def get_weights(self) -> dict[str, np.ndarray]:
        """Parameters and buffers in the neutral naming/layout (copies)."""

    @abc.abstractmethod
    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Load neutral weights; raises ValueError on a missing name or wrong shape."""

    @abc.abstractmethod
    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        """Adam state in the neutral naming (``adam.m.*``, ``adam.v.*``, ``adam.step``)."""

    @abc.abstractmethod
    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore Adam state exported by any backend."""

    @abc.abstractmethod
    def set_lr(self, lr: float) -> None:
        """Change the learning rate without resetting optimizer state."""

    @staticmethod
    def as_float_images(x: np.ndarray) -> np.ndarray:
        """float32 images in [0, 1]: uint8 pixels are divided by 255, floats are taken as they are."""
        x = np.asarray(x)
        return x.astype(np.float32) / np.float32(255.0) if x.dtype == np.uint8 else x.astype(np.float32, copy=False)

    def check_saliency_args(self, target: Any, method: str) -> int:
        """Validate a saliency request (the one check, in :meth:`saliency`); returns the target class."""
        if method not in SALIENCY_METHODS:
            raise ValueError(f"unknown saliency method {method!r}; choose one of {SALIENCY_METHODS}")
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
            raise ValueError(f"target class must be an int, got {target!r}")
        if not 0 <= int(target) < self.cfg.num_classes:
            raise ValueError(f"target class {target} out of range")
        return int(target)

    def set_tau(self, tau: np.ndarray) -> None:
        """Install the component->class matrix [K, C] (a buffer, saved with the weights)."""
        w = self.get_weights()
        w["tau"] = self.check_tau(tau)
        self.set_weights(w)

    def check_tau(self, tau: np.ndarray) -> np.ndarray:
        """``tau`` as a float32 copy; ValueError unless its shape is [K, C]."""
        tau = np.array(tau, np.float32)
        if tau.shape != (self.cfg.components, self.cfg.num_classes):
            raise ValueError(f"tau: shape {tau.shape}, expected {(self.cfg.components, self.cfg.num_classes)}")
        return tau

    def check_optimizer_state(self, state: dict[str, np.ndarray]) -> int:
        """Raise ValueError on a missing or misshapen ``adam.m.*`` / ``adam.v.*``; return ``adam.step``."""
        for name, shape in param_shapes(self.cfg).items():
            for key in ("m", "v"):
                arr = state.get(f"adam.{key}.{name}")
                if arr is None or tuple(np.shape(arr)) != tuple(shape):
                    raise ValueError(f"optimizer state adam.{key}.{name} missing or of the wrong shape")
        return int(np.asarray(state.get("adam.step", 0)))

    def uses_teacher(self, use_cons: bool) -> bool:
        """Whether this training step's pseudo-labels come from the weight average."""
        return self.mean_teacher and use_cons and self.has_average()

    @staticmethod
    def loss_branches(batch: Batch) -> tuple[bool, bool]:
        """(ROI penalty, consistency term) needed for ``batch``: decided on the host, so a compiled
        step has at most four variants and a batch without feedback skips the second-order pass."""
        w = np.asarray(batch["w"])
        use_roi = bool(np.any(np.asarray(batch["roi_weight"]) > 0)) and float(w[6]) > 0
        return use_roi, float(w[4]) > 0

    def empty_prediction(self) -> dict[Out, np.ndarray]:
        """:meth:`predict`'s result for zero images (every key, zero rows)."""
        c = self.cfg
        return {
            Out.MU: np.zeros((0, c.latent_dim), np.float32),
            Out.LOGVAR: np.zeros((0, c.latent_dim), np.float32),
            Out.RESP: np.zeros((0, c.components), np.float32),
            Out.PROBS: np.zeros((0, c.num_classes), np.float32),
            Out.RECON: np.zeros((0, *c.sample_shape), np.float32),
        }

    def check_decode_args(self, z: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``z`` [N, D] and ``q`` [N, K] as float32 arrays (the one check of :meth:`decode`);
        ValueError on a wrong D or K or a different N."""
        z, q = np.asarray(z, np.float32), np.asarray(q, np.float32)
        d, k = self.cfg.latent_dim, self.cfg.components
        if z.ndim != 2 or z.shape[1] != d:
            raise ValueError(f"decode: z must be [N, {d}] (latent_dim {d}), got {z.shape}")
        if q.ndim != 2 or q.shape[1] != k:
            raise ValueError(f"decode: q must be [N, {k}] (components {k}), got {q.shape}")
        if len(z) != len(q):
            raise ValueError(f"decode: z has {len(z)} rows but q has {len(q)}")
        return z, q

    def check_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Raise ValueError naming the first missing/unexpected name or wrong shape."""
        expected = dict(param_shapes(self.cfg))
        expected["tau"] = (self.cfg.components, self.cfg.num_classes)
        missing = sorted(set(expected) - set(weights))
        extra = sorted(set(weights) - set(expected))
        if missing or extra:
            raise ValueError(f"weights do not match the model: missing {missing}, unexpected {extra}")
        for name, shape in expected.items():
            if tuple(np.shape(weights[name])) != tuple(shape):
                raise ValueError(f"weight {name}: shape {tuple(np.shape(weights[name]))}, expected {shape}")
