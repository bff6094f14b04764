"""A batch's two views in torch, on the backend's device: the rows gathered from the held images,
then shift, affine and weak shift applied as engine/training/augment.py's numpy reference does
(the same draws, so the same pixels: exact for shifts, and for affine the sampling grid is
computed in float64 like numpy's)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from engine.training.augment import Affine, ViewPlan

# uint8 -> float32 in [0, 1] by lookup: numpy's x / 255 exactly (a division by a scalar may be a
# multiplication by its reciprocal on a GPU, one ulp off)
_LEVELS = np.arange(256, dtype=np.float32) / np.float32(255.0)


class Views:
    """The held images (on the device, or the host array read by row) and the view functions."""

    def __init__(self, dev: torch.device) -> None:
        self.dev = dev
        self.levels = torch.from_numpy(_LEVELS).to(dev)
        self.images: torch.Tensor | None = None  # uint8 [N, *sample_shape] on the device

    def upload(self, images: np.ndarray | None) -> None:
        """Copy ``images`` to the device (None: drop the copy)."""
        if images is None:
            self.images = None
            return
        with warnings.catch_warnings():  # a read-only (memory-mapped) array: only ever read
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            self.images = torch.from_numpy(np.ascontiguousarray(images, np.uint8)).to(self.dev)

    def make(self, host: np.ndarray, plan: ViewPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, x_aug) for ``plan``; ``host`` is the dataset's array, read when nothing is uploaded."""
        if self.images is not None:
            pixels = self.images[put(plan.rows, self.dev)]
        else:
            pixels = put(np.ascontiguousarray(host[plan.rows]), self.dev)
        x = self.levels[pixels.long()]
        x_aug = affine(x, plan.aug) if isinstance(plan.aug, Affine) else shift(x, put(plan.aug, self.dev))
        if plan.weak is not None:
            x = shift(x, put(plan.weak, self.dev))
        return x, x_aug


def put(a: np.ndarray, dev: torch.device) -> torch.Tensor:
    """A host array on ``dev``. To a GPU through pinned memory, without waiting: a plain copy from
    pageable memory synchronises the stream, which would make every step wait for the last one."""
    t = torch.as_tensor(a)
    return t if dev.type != "cuda" else t.pin_memory().to(dev, non_blocking=True)


def put_many(arrays: dict[str, np.ndarray], dev: torch.device) -> dict[str, torch.Tensor]:
    """Host arrays on ``dev``, those of one dtype in one copy (views of it on the device): a step's
    dozen small arrays cost two transfers, not a dozen."""
    groups: dict[np.dtype, list[str]] = {}
    for k, a in arrays.items():
        groups.setdefault(a.dtype, []).append(k)
    out: dict[str, torch.Tensor] = {}
    for keys in groups.values():
        flat = put(np.concatenate([arrays[k].ravel() for k in keys]), dev)
        for k, part in zip(keys, flat.split([arrays[k].size for k in keys]), strict=True):
            out[k] = part.view(arrays[k].shape)
    return out


def _on(a: np.ndarray, dtype: type[np.generic], dev: torch.device) -> torch.Tensor:
    return put(np.asarray(a, dtype), dev)


def read(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """x[b, rows, cols] for int64 ``rows``/``cols`` broadcasting to [B, H, W]; zero outside the image."""
    b, h, w = x.shape[:3]
    ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    bi = torch.arange(b, device=x.device).view(-1, 1, 1)
    out = x[bi, rows.clamp(0, h - 1), cols.clamp(0, w - 1)]
    if x.ndim == 4:
        ok = ok[..., None]
    return torch.where(ok, out, torch.zeros((), dtype=x.dtype, device=x.device))


def shift(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """augment.shift_images: pixel (r, c) reads (r + dy, c + dx), zero outside."""
    h, w = x.shape[1], x.shape[2]
    rows = torch.arange(h, device=x.device).view(1, -1, 1) + d[:, 0].view(-1, 1, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, -1) + d[:, 1].view(-1, 1, 1)
    return read(x, rows, cols)


def affine(x: torch.Tensor, a: Affine) -> torch.Tensor:
    """augment.affine_images, op for op (the grid in float64, the blend in float32)."""
    h, w = x.shape[1], x.shape[2]
    dev, f64 = x.device, torch.float64
    cos, sin, zoom = (_on(v, np.float64, dev).view(-1, 1, 1) for v in (a.cos, a.sin, a.zoom))
    sh = _on(a.shift, np.int64, dev)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=f64, device=dev), torch.arange(w, dtype=f64, device=dev), indexing="ij"
    )
    dx = xx[None] - cx - sh[:, 0].view(-1, 1, 1)
    dy = yy[None] - cy - sh[:, 1].view(-1, 1, 1)
    v = (-sin * dx + cos * dy) / zoom + cy
    u = (cos * dx + sin * dy) / zoom + cx
    u0 = torch.clamp(torch.floor(u), -2, w).long()
    v0 = torch.clamp(torch.floor(v), -2, h).long()
    fu = torch.clamp(u - u0, 0.0, 1.0).float()
    fv = torch.clamp(v - v0, 0.0, 1.0).float()
    if x.ndim == 4:
        fu, fv = fu[..., None], fv[..., None]
    top = (1 - fu) * read(x, v0, u0) + fu * read(x, v0, u0 + 1)
    bottom = (1 - fu) * read(x, v0 + 1, u0) + fu * read(x, v0 + 1, u0 + 1)
    return (1 - fv) * top + fv * bottom
