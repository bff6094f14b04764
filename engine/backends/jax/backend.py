"""JAX / Flax implementation of the backend protocol (engine/backends/base.py).

JAX is imported only when a :class:`JaxBackend` is constructed, after the platform is chosen
(``JAX_PLATFORMS=cpu`` for ``device="cpu"``, unless the variable is already set or JAX is already
imported). Parameters and Adam state live on the device as pytrees; the training step, the eval
loss, prediction and saliency are ``jax.jit``-compiled pure functions of them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from engine.backends.base import FLOAT_KEYS, TASK_KEYS, Backend, Batch, Out, initial_tau, initial_weights
from engine.backends.jax import layout  # pure numpy: importing it does not import JAX
from engine.config import ModelConfig
from engine.errors import DeviceUnavailable
from engine.training.augment import ViewPlan

_ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "eps_root": 0.0}  # = torch.optim.Adam defaults
_PAD_MIN = 8  # smallest padded predict batch; sizes are powers of two up to batch_size


def _select_platform(device: str) -> tuple[str, int]:
    """Validate ``device`` and, for CPU, pin JAX to the CPU platform before it is imported."""
    d = device.strip().lower()
    if d == "cpu":
        if "JAX_PLATFORMS" not in os.environ and "jax" not in sys.modules:
            os.environ["JAX_PLATFORMS"] = "cpu"
        return "cpu", 0
    if d == "cuda" or d.startswith("cuda:"):
        idx = d.partition(":")[2]
        if idx and not idx.isdigit():
            raise ValueError(f"unknown device {device!r}; use cpu or cuda[:N]")
        return "gpu", int(idx or 0)
    raise ValueError(f"unknown device {device!r}; use cpu or cuda[:N]")


def _seed32(seed: Any) -> np.uint32:
    """A seed as a traced uint32 scalar (the key is built inside the compiled functions)."""
    return np.uint32(int(seed) % 2**32)


def _padded(m: int, bs: int) -> int:
    """Batch size to pad ``m`` rows to: a power of two (>= _PAD_MIN), at most ``bs``."""
    if m >= bs:
        return bs
    return min(bs, max(_PAD_MIN, 1 << (m - 1).bit_length()))


class JaxBackend(Backend):
    name = "jax"

    def __init__(self, cfg: ModelConfig, device: str = "cpu", threads: int = 0) -> None:
        super().__init__(cfg, device, threads)
        platform, index = _select_platform(device)
        if "jax" not in sys.modules and self.threads == 1:
            # XLA's CPU client reads its thread settings once, at import
            os.environ["XLA_FLAGS"] = (
                os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            ).strip()
        import jax
        import optax

        from engine.backends.jax import loss as L
        from engine.backends.jax import model as M
        from engine.backends.jax import views as V

        self._jax, self._jnp, self._M, self._L, self._V, self._optax = jax, jax.numpy, M, L, V, optax
        try:
            devices = jax.devices(platform)
        except RuntimeError as err:
            devices = []
            detail = f" ({err})"
        else:
            detail = ""
        if len(devices) <= index:
            hint = "install a CUDA build of jaxlib (pip install 'jax[cuda12]') and " if platform == "gpu" else ""
            raise DeviceUnavailable(
                f"--device {device} requested but JAX sees {len(devices)} {platform.upper()} device(s){detail}; "
                f"{hint}check JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS', '')!r}"
            )
        self._dev = devices[index]
        self._levels = self._put(V.LEVELS)
        self._held: Any = None  # the images on the device (hold_images with upload)
        self.model = M.build(cfg)
        self._adam = optax.scale_by_adam(**_ADAM)  # the learning rate stays outside (set_lr keeps state)
        self.lr = 1e-3
        self._build_functions()
        self._check_structure()
        self.init(0)

    # -- compiled functions ------------------------------------------------------------
    def _build_functions(self) -> None:
        jax, jnp, M, L, model, adam, cfg = self._jax, self._jnp, self._M, self._L, self.model, self._adam, self.cfg

        def train(params, opt_state, tau, b, lr, use_roi, use_cons):
            def objective(p):
                terms = L.ssvae_loss(model, p, tau, b, use_roi, use_cons, train=True)
                return terms["loss"], terms

            if use_roi:
                grads, terms = L.roi_capped_grad(lambda p: objective(p)[1], params, b["w"])
            else:
                grads, terms = jax.grad(objective, has_aux=True)(params)
            updates, opt_state = adam.update(grads, opt_state)
            params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
            return params, opt_state, terms

        def evaluate(params, tau, b, use_roi, use_cons):
            return L.ssvae_loss(model, params, tau, b, use_roi, use_cons, train=False)

        def predict(params, tau, x):
            e = M.encode(model, params, x)
            recon = jax.nn.sigmoid(M.decode(model, params, e["mu"], e["q"]))
            return e["mu"], e["logvar"], e["q"], e["q"] @ tau, recon

        def decode(params, zq):  # zq = concat(z, q) [B, D+K]: one array, so _chunks pads it
            z, q = zq[:, : cfg.latent_dim], zq[:, cfg.latent_dim :]
            return jax.nn.sigmoid(M.decode(model, params, z, q))

        def predict_mc(params, tau, x, seed, chunk, n):
            fmap = model.apply({"params": params}, x, method=M.SSVAE.features)  # shared: dropout is after it
            keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), chunk), n)

            def one(key):
                u = jax.random.uniform(key, (x.shape[0], cfg.hidden), jnp.float32)
                _, _, logits = model.apply({"params": params}, fmap, u, method=M.SSVAE.head)
                return jax.nn.softmax(logits, axis=1) @ tau

            return jax.vmap(one)(keys)

        def log_p(params, tau, x, target):
            probs = M.encode(model, params, x)["q"] @ tau
            return jnp.sum(jnp.log(probs[:, target] + 1e-8))

        def input_grad(params, tau, xs, target):
            return jax.grad(log_p, argnums=2)(params, tau, xs, target)

        def fmap_grad(params, tau, x, target):
            fmap = model.apply({"params": params}, x[None], method=M.SSVAE.features)  # [1, Sh, Sw, C2]

            def logp_of(fm):
                _, _, logits = model.apply({"params": params}, fm, method=M.SSVAE.head)
                return jnp.log((jax.nn.softmax(logits, axis=1) @ tau)[0, target] + 1e-8)

            if cfg.encoder == "dense":  # its first layer [2H], as torch returns it
                return fmap[0], jax.grad(logp_of)(fmap)[0]
            # NHWC -> the neutral [C2, Sh, Sw]
            return jnp.transpose(fmap[0], (2, 0, 1)), jnp.transpose(jax.grad(logp_of)(fmap)[0], (2, 0, 1))

        def teacher(avg, tau, x):  # the weight average's class probabilities (no dropout)
            return M.encode(model, avg, x)["q"] @ tau

        def average(avg, params, d, e):  # the reference's float32 factors (XLA may fuse into an FMA)
            return jax.tree.map(lambda a, p: a * d + p * e, avg, params)

        self._train = jax.jit(train, static_argnames=("use_roi", "use_cons"), donate_argnums=(0, 1))
        self._average = jax.jit(average, donate_argnums=(0,))
        self._teacher = jax.jit(teacher)
        self._eval = jax.jit(evaluate, static_argnames=("use_roi", "use_cons"))
        self._predict = jax.jit(predict)
        self._decode = jax.jit(decode)
        self._predict_mc = jax.jit(predict_mc, static_argnames=("n",))
        self._input_grad = jax.jit(input_grad)
        self._fmap_grad = jax.jit(fmap_grad)

    def _check_structure(self) -> None:
        """The Flax parameter tree (shapes only: traced, never compiled) must be what layout.py makes."""
        jax = self._jax
        x = jax.ShapeDtypeStruct((1, *self.cfg.sample_shape), np.float32)
        flax_tree = jax.eval_shape(lambda x: self._M.init_params(self.model, self.cfg, jax.random.PRNGKey(0), x), x)
        ours = layout.to_flax(initial_weights(self.cfg, 0), self.cfg)
        want = jax.tree_util.tree_map(lambda a: (tuple(a.shape), str(a.dtype)), flax_tree)
        got = jax.tree_util.tree_map(lambda a: (tuple(a.shape), str(a.dtype)), ours)
        if want != got:  # pragma: no cover - model.py and layout.py out of sync
            raise AssertionError(f"Flax parameter tree {want} != layout tree {got}")

    def _put(self, tree: Any) -> Any:
        return self._jax.device_put(tree, self._dev)

    # -- setup -----------------------------------------------------------------------
    def init(self, seed: int) -> None:
        params = layout.to_flax(initial_weights(self.cfg, seed), self.cfg)
        self._params = self._put(params)
        self._opt = self._put(
            self._optax.ScaleByAdamState(  # = scale_by_adam().init(params), without a compile
                count=np.zeros((), np.int32),
                mu=self._jax.tree.map(np.zeros_like, params),
                nu=self._jax.tree.map(np.zeros_like, params),
            )
        )
        self._tau = self._put(np.asarray(initial_tau(self.cfg), np.float32))
        self._avg_tree: Any = None  # the weight average (Flax layout), on the device

    def set_lr(self, lr: float) -> None:
        self.lr = float(lr)

    def _batch(self, batch: Batch) -> dict[str, Any]:
        # without auxiliary heads the task arrays are never read: not even copied to the device
        keys = FLOAT_KEYS + TASK_KEYS if self.cfg.aux else FLOAT_KEYS
        on_device = self._jax.Array  # views' x and x_aug stay where they are
        b = {k: v if isinstance(v := batch[k], on_device) else np.asarray(v, np.float32) for k in keys}
        b["y"] = np.asarray(batch["y"], np.int32)
        return self._put(b)

    # -- the batch's images ------------------------------------------------------------
    def device_free_bytes(self) -> int | None:
        if self._dev.platform == "cpu":
            return None
        stats = self._dev.memory_stats() or {}  # the allocator's pool (JAX preallocates most of the GPU)
        return int(stats["bytes_limit"] - stats["bytes_in_use"]) if "bytes_limit" in stats else None

    def hold_images(self, images: np.ndarray, upload: bool = False) -> None:
        super().hold_images(images, upload)
        self._held = self._put(np.asarray(images, np.uint8)) if upload else None

    def views(self, plan: ViewPlan) -> tuple[Any, Any]:
        rows, aug, weak = self._V.plan_arrays(plan)
        held = self._held is not None
        source = self._held if held else self._put(np.ascontiguousarray(self._images[plan.rows]))
        return self._V.views(self._levels, source, self._put(rows), self._put(aug), self._put(weak), held=held)

    # -- training ----------------------------------------------------------------------
    def train_step(self, batch: Batch) -> Any:
        use_roi, use_cons = self.loss_branches(batch)
        b = self._batch(batch)
        if self.uses_teacher(use_cons):
            b["teacher_p"] = self._teacher(self._avg_tree, self._tau, b["x"])
        self._params, self._opt, terms = self._train(
            self._params, self._opt, self._tau, b, np.float32(self.lr), use_roi=use_roi, use_cons=use_cons
        )
        return terms  # device scalars: no host sync here

    def read_metrics(self, handle: Any) -> dict[str, float]:
        host = self._jax.device_get(handle)
        return {k: float(v) for k, v in host.items()}

    def loss(self, batch: Batch) -> dict[str, float]:
        use_roi, use_cons = self.loss_branches(batch)
        terms = self._eval(self._params, self._tau, self._batch(batch), use_roi=use_roi, use_cons=use_cons)
        return self.read_metrics(terms)

    # -- the weight average --------------------------------------------------------------
    def average_weights(self, decay: float) -> None:
        if self._avg_tree is None:
            self._avg_tree = self._jax.tree.map(lambda p: p.copy(), self._params)
            return
        d, e = np.float32(decay), np.float32(1) - np.float32(decay)
        self._avg_tree = self._average(self._avg_tree, self._params, d, e)

    def has_average(self) -> bool:
        return self._avg_tree is not None

    def averaged_weights(self) -> dict[str, np.ndarray] | None:
        return None if self._avg_tree is None else layout.from_flax(self._jax.device_get(self._avg_tree), self.cfg)

    def set_averaged_weights(self, weights: dict[str, np.ndarray] | None) -> None:
        super().set_averaged_weights(weights)  # checks it
        avg, self._avg = self._avg, None
        self._avg_tree = None if avg is None else self._put(layout.to_flax(avg, self.cfg))

    def swap_average(self) -> None:
        if self._avg_tree is None:
            raise ValueError("no weight average to swap in: average_weights was never called")
        self._params, self._avg_tree = self._avg_tree, self._params

    # -- inference ---------------------------------------------------------------------

    def _chunks(self, x: np.ndarray, batch_size: int):
        """(start, rows, padded device array) per chunk; padding keeps the compiled shapes few."""
        bs = max(1, int(batch_size))
        for i in range(0, len(x), bs):
            xb = x[i : i + bs]
            m = len(xb)
            p = _padded(m, bs)
            if p > m:
                xb = np.concatenate([xb, np.zeros((p - m, *xb.shape[1:]), np.float32)])
            yield i, m, self._put(xb)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> dict[Out, np.ndarray]:
        x = self.as_float_images(x)
        keys = (Out.MU, Out.LOGVAR, Out.RESP, Out.PROBS, Out.RECON)
        if len(x) == 0:
            return self.empty_prediction()
        pending = [(m, self._predict(self._params, self._tau, xb)) for _, m, xb in self._chunks(x, batch_size)]
        parts: dict[Out, list[np.ndarray]] = {k: [] for k in keys}
        for m, res in pending:  # dispatch everything first, then fetch
            for k, v in zip(keys, self._jax.device_get(res), strict=True):
                parts[k].append(np.asarray(v[:m], np.float32))
        return {k: np.concatenate(v) for k, v in parts.items()}

    def decode(self, z: np.ndarray, q: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        z, q = self.check_decode_args(z, q)
        if len(z) == 0:
            return np.zeros((0, *self.cfg.sample_shape), np.float32)
        pending = [
            (m, self._decode(self._params, zq)) for _, m, zq in self._chunks(np.concatenate([z, q], 1), batch_size)
        ]
        return np.concatenate([np.asarray(self._jax.device_get(res), np.float32)[:m] for m, res in pending])

    def predict_mc(self, x: np.ndarray, n: int, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        x = self.as_float_images(x)
        n = int(n)
        out = np.zeros((max(n, 0), len(x), self.cfg.num_classes), np.float32)
        if n <= 0 or len(x) == 0:
            return out
        pending = [
            (i, m, self._predict_mc(self._params, self._tau, xb, _seed32(seed), np.int32(j), n=n))
            for j, (i, m, xb) in enumerate(self._chunks(x, batch_size))
        ]
        for i, m, res in pending:
            out[:, i : i + m] = np.asarray(res)[:, :m]
        return out

    def input_gradient(self, xs: np.ndarray, target: int) -> np.ndarray:
        g = self._input_grad(self._params, self._tau, self._put(self.as_float_images(xs)), np.int32(target))
        return np.asarray(g, np.float32).copy()

    def feature_maps_and_grads(self, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        fmap, g = self._fmap_grad(self._params, self._tau, self._put(self.as_float_images(x)), np.int32(target))
        return np.asarray(fmap, np.float32).copy(), np.asarray(g, np.float32).copy()

    # -- state -------------------------------------------------------------------------
    def get_weights(self) -> dict[str, np.ndarray]:
        out = layout.from_flax(self._jax.device_get(self._params), self.cfg)
        out["tau"] = np.array(self._tau, np.float32)
        return out

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.check_weights(weights)
        self._params = self._put(layout.to_flax(weights, self.cfg))
        self._tau = self._put(np.asarray(weights["tau"], np.float32))

    def set_tau(self, tau: np.ndarray) -> None:
        self._tau = self._put(self.check_tau(tau))

    def get_optimizer_state(self) -> dict[str, np.ndarray]:
        st = self._jax.device_get(self._opt)  # optax ScaleByAdamState(count, mu, nu)
        out = layout.from_flax(st.mu, self.cfg, "adam.m.")
        out.update(layout.from_flax(st.nu, self.cfg, "adam.v."))
        out["adam.step"] = np.array(int(st.count), np.int64)
        return out

    def set_optimizer_state(self, state: dict[str, np.ndarray]) -> None:
        step = self.check_optimizer_state(state)
        if not 0 <= step < 2**31 - 1:
            raise ValueError(f"adam.step {step} out of range")
        mu = layout.to_flax(state, self.cfg, "adam.m.")
        nu = layout.to_flax(state, self.cfg, "adam.v.")
        if step == 0:  # like torch: no step taken yet means empty moments
            mu = self._jax.tree.map(np.zeros_like, mu)
            nu = self._jax.tree.map(np.zeros_like, nu)
        self._opt = self._put(self._optax.ScaleByAdamState(count=np.asarray(step, np.int32), mu=mu, nu=nu))
