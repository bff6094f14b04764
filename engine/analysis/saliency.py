"""Saliency methods, written once in numpy over two backend primitives.

A backend provides only gradients of ``log p(target|x)`` (``p = q(c|x) @ tau``, eval mode):

- :meth:`~engine.backends.base.Backend.input_gradient` ``(xs [N, *image], target) -> [N, *image]``,
- :meth:`~engine.backends.base.Backend.feature_maps_and_grads` ``(x [*image], target) -> (A, dA)``,
  the last convolutional feature map ``[C, Sh, Sw]`` (neutral C,H,W layout) and its gradient.

An image is ``[H, W]`` (gray) or ``[H, W, 3]`` (colour, channels last); every map is ``[H, W]``:
a colour image's gradient magnitudes are summed over its channels (a pixel matters if any of
its channels does).

Everything below (Grad-CAM, SmoothGrad, their consensus, the bilinear upsampling) is framework-free,
so the three backends give the same maps from the same weights, noise included.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.errors import SaliencyUnavailable


def normalise(m: np.ndarray) -> np.ndarray:
    """Scale a non-negative map to [0, 1] (all zeros stay zeros)."""
    m = np.maximum(np.asarray(m, np.float32), 0)
    top = float(m.max())
    return m / top if top > 0 else m


def consensus(maps: list[np.ndarray]) -> np.ndarray:
    """Normalised mean of normalised maps: high only where the methods agree."""
    return normalise(np.mean([normalise(m) for m in maps], axis=0))


def _resize_axis(m: np.ndarray, size: int, axis: int) -> np.ndarray:
    n = m.shape[axis]
    # half-pixel centres, clamped at the edges (= F.interpolate(bilinear, align_corners=False))
    src = np.maximum((np.arange(size) + 0.5) * (n / size) - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(int), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    frac = (src - i0).reshape([-1 if a == axis else 1 for a in range(m.ndim)])
    return np.take(m, i0, axis=axis) * (1.0 - frac) + np.take(m, i1, axis=axis) * frac


def upsample_bilinear(m: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Bilinear resize of a [Sh, Sw] map to [height, width] (torch's ``align_corners=False``
    rule); ``width`` defaults to ``height``."""
    m = np.asarray(m, np.float64)
    return _resize_axis(_resize_axis(m, height, 0), height if width is None else width, 1).astype(np.float32)


def gradcam(fmap: np.ndarray, grads: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """ReLU(sum_k mean(dA_k) A_k) of a feature map ``fmap`` [C, Sh, Sw] and its gradient, upsampled
    to [height, width] (Selvaraju et al. 2017)."""
    weights = np.asarray(grads, np.float64).mean(axis=(1, 2))
    cam = np.maximum(np.tensordot(weights, np.asarray(fmap, np.float64), axes=1), 0.0)
    return upsample_bilinear(cam, height, width)


def smoothgrad_inputs(x: np.ndarray, samples: int, noise: float, seed: int) -> np.ndarray:
    """``samples`` copies of ``x`` [*image] with N(0, noise^2) pixel noise from ``seed`` [samples, *image]."""
    if samples < 1:
        raise ValueError("smoothgrad needs samples >= 1")
    x = np.asarray(x, np.float32)
    rng = np.random.default_rng(int(seed))
    return x[None] + np.float32(noise) * rng.standard_normal((samples, *x.shape), dtype=np.float32)


def saliency_map(
    backend: Any, x: np.ndarray, target: int, method: str, samples: int = 16, noise: float = 0.15, seed: int = 0
) -> np.ndarray:
    """Saliency [H, W] (non-negative, float32) of log p(target|x) for one float image ``x`` [H, W]
    or [H, W, 3] (channels summed).

    ``gradient``: |d log p / dx|; ``smoothgrad``: the mean |gradient| over ``samples`` noisy copies
    (Smilkov et al. 2017; ``noise`` is the std as a fraction of the [0, 1] input range);
    ``gradcam``: :func:`gradcam` of the last convolutional layer."""
    if method == "gradcam":
        fmap, grads = backend.feature_maps_and_grads(x, target)
        return gradcam(fmap, grads, x.shape[0], x.shape[1])
    xs = smoothgrad_inputs(x, samples, noise, seed) if method == "smoothgrad" else np.asarray(x, np.float32)[None]
    g = np.abs(backend.input_gradient(xs, target))
    if g.ndim == 4:
        g = g.sum(axis=3)
    return g.mean(axis=0).astype(np.float32)


def explain(
    backend: Any,
    x: np.ndarray,
    target: int,
    methods: tuple[str, ...],
    samples: int = 16,
    noise: float = 0.15,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Normalised maps for the XAI view: ``gradcam`` and/or ``smoothgrad`` as asked, and their
    ``consensus`` whenever both are computed (asking for ``consensus`` computes both). A model
    without a convolutional map (dense encoder) has no Grad-CAM, hence no consensus: SmoothGrad is
    computed instead, so there is always a map to show."""
    maps: dict[str, np.ndarray] = {}
    no_cam = False
    if "gradcam" in methods or "consensus" in methods:
        try:
            maps["gradcam"] = normalise(backend.saliency(x, target, "gradcam"))
        except SaliencyUnavailable:
            no_cam = True
    if "smoothgrad" in methods or "consensus" in methods or no_cam:
        maps["smoothgrad"] = normalise(
            backend.saliency(x, target, "smoothgrad", samples=samples, noise=noise, seed=seed)
        )
    if "gradcam" in maps and "smoothgrad" in maps:
        maps["consensus"] = consensus([maps["gradcam"], maps["smoothgrad"]])
    return maps
