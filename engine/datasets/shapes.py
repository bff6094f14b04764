"""Coloured shapes: a synthetic RGB dataset in which colour and shape both decide the class, and
which carries its generative factors (docs/datasets.md, "Colour shapes").

Class ``c`` is the pair (shape ``c % 4``, colour family ``c // 4``) of :data:`SHAPES` and
``ceil(num_classes / 4)`` colour families, whose hues are centred at ``(f + 0.5) / F`` on the
hue circle (so no family straddles hue 0). Every image draws, independently of the others:

    shape     index into SHAPES (fixed by the class)
    hue       0..1, the family's centre +- a quarter of its width (families never touch)
    scale     the shape's radius as a fraction of the shorter side, 0.15..0.28
    x, y      the shape's centre as a fraction of the width / height (the shape stays inside)
    rotation  degrees, -30..30 (invisible on a circle)

These six are stored with the images as per-image factors (``factor_<name>``, see
:mod:`engine.datasets.store`), so a tasks config can steer latent slices to them.

Every shape is painted at the same BT.601 luminance whatever its hue: a gray copy of the images
keeps the shapes but loses the colour families, so the pairs that differ in colour only (circle
in family 0 vs circle in family 1) are told apart by colour alone. The background is a gray,
smoothly varying texture (three random sinusoids; ``background="plain"``: flat) darker than the
shapes, plus a little pixel noise per channel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Literal

import numpy as np

from engine.config import image_shape_problem
from engine.datasets.store import Dataset
from engine.errors import DatasetError

SHAPES = ("circle", "square", "triangle", "cross")
FACTORS = ("shape", "hue", "scale", "x", "y", "rotation")
MAX_CLASSES = 24  # 4 shapes x 6 colour families
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R BT.601
SHAPE_LUMA = 0.6  # every shape's luminance; the background sits around BG_LUMA
BG_LUMA, BG_TEXTURE, NOISE = 0.25, 0.07, 0.02
SCALE_RANGE = (0.15, 0.28)
ROTATION_RANGE = (-30.0, 30.0)
Background = Literal["texture", "plain"]


def class_shape_family(num_classes: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(shape index [C], colour family [C], number of families F) of each class."""
    c = np.arange(num_classes)
    return c % len(SHAPES), c // len(SHAPES), -(-num_classes // len(SHAPES))


def hue_to_rgb(hue: np.ndarray, luma: float = SHAPE_LUMA) -> np.ndarray:
    """float32 [..., 3] colours of the given hues (0..1), all of BT.601 luminance ``luma``: the fully
    saturated hue, its luminance shifted to ``luma`` and its chroma shrunk to stay inside [0, 1]."""
    h = np.asarray(hue, np.float64)[..., None]
    rgb = np.clip(np.abs((h * 6.0 + np.array([0.0, 4.0, 2.0])) % 6.0 - 3.0) - 1.0, 0.0, 1.0)  # HSV, s = v = 1
    d = rgb - (rgb @ LUMA_WEIGHTS.astype(np.float64))[..., None]  # chroma: luminance 0 (weights sum to 1)
    room = np.where(
        d > 0, (1.0 - luma) / np.where(d > 0, d, 1.0), np.where(d < 0, luma / np.where(d < 0, -d, 1.0), 9.0)
    )
    s = 0.95 * np.minimum(room.min(-1, keepdims=True), 1.0)
    return (luma + s * d).astype(np.float32)


def draw_factors(
    targets: np.ndarray, num_classes: int, height: int, width: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """The generative factors (float32 [N] each, :data:`FACTORS`) of images of classes ``targets``."""
    n = len(targets)
    shape_of, family_of, families = class_shape_family(num_classes)
    fam = family_of[targets]
    hue = ((fam + 0.5 + rng.uniform(-0.25, 0.25, n)) / families) % 1.0
    scale = rng.uniform(*SCALE_RANGE, n)
    radius = scale * min(height, width)
    x = (radius + rng.uniform(0, 1, n) * (width - 2 * radius)) / width
    y = (radius + rng.uniform(0, 1, n) * (height - 2 * radius)) / height
    rotation = rng.uniform(*ROTATION_RANGE, n)
    out = {"shape": shape_of[targets], "hue": hue, "scale": scale, "x": x, "y": y, "rotation": rotation}
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def _signed_distance(shape: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (in radii; < 0 inside) of points (u, v) [B, H, W] of each image's shape frame
    (v points down) to its shape (shape [B], indices into SHAPES)."""
    circle = np.hypot(u, v) - 0.85
    square = np.maximum(np.abs(u), np.abs(v)) - 0.7
    # equilateral triangle, apex up, inradius 0.5 (circumradius 1): the furthest of its three edges' half-planes
    edges = [np.cos(a) * u + np.sin(a) * v for a in np.deg2rad([90.0, 210.0, 330.0])]
    triangle = np.maximum(np.maximum(edges[0], edges[1]), edges[2]) - 0.5
    au, av = np.abs(u), np.abs(v)
    cross = np.minimum(np.maximum(au - 0.95, av - 0.3), np.maximum(au - 0.3, av - 0.95))
    s = shape[:, None, None]
    return np.select([s == 0, s == 1, s == 2], [circle, square, triangle], cross)


def render_shapes(
    factors: Mapping[str, np.ndarray],
    height: int,
    width: int,
    rng: np.random.Generator,
    background: Background = "texture",
) -> np.ndarray:
    """uint8 [B, H, W, 3] images of the given factors (:data:`FACTORS`, [B] each); ``rng`` draws
    the background texture and the pixel noise."""
    shape = np.asarray(factors["shape"]).astype(np.int64)
    b = len(shape)
    f = {k: np.asarray(factors[k], np.float32)[:, None, None] for k in FACTORS[1:]}
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5  # pixel centres
    radius = f["scale"] * min(height, width)
    px, py = xx - f["x"] * width, yy - f["y"] * height
    theta = np.deg2rad(f["rotation"])
    cos, sin = np.cos(theta), np.sin(theta)
    u, v = (cos * px + sin * py) / radius, (-sin * px + cos * py) / radius  # rotated into the shape's frame
    cover = np.clip(0.5 - _signed_distance(shape, u, v) * radius, 0.0, 1.0)[..., None]  # 1-pixel antialiasing
    bg = np.full((b, height, width), BG_LUMA, np.float32)
    if background == "texture":
        freq = rng.uniform(1.0, 4.0, (b, 3, 1, 1)) / max(height, width)  # 1 to 4 cycles across the image
        angle = rng.uniform(0.0, np.pi, (b, 3, 1, 1))
        phase = rng.uniform(0.0, 2 * np.pi, (b, 3, 1, 1))
        waves = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
        bg += (BG_TEXTURE * waves.mean(1)).astype(np.float32)
    colour = hue_to_rgb(f["hue"][:, 0, 0])[:, None, None, :]
    img = bg[..., None] * (1.0 - cover) + colour * cover
    img += rng.normal(0.0, NOISE, img.shape).astype(np.float32)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def shapes_chunks(
    n_train: int = 600,
    n_test: int = 200,
    height: int = 32,
    width: int | None = None,
    num_classes: int = 12,
    seed: int = 0,
    background: Background = "texture",
    chunk: int = 256,
) -> tuple[np.ndarray, dict[str, np.ndarray], Iterator[tuple[int, np.ndarray, np.ndarray]]]:
    """(targets [N], factors, iterator of (first row, uint8 images [B, H, W, 3], targets [B])): the
    rows of :func:`shapes_dataset` one chunk at a time (the same for the same arguments, ``chunk``
    included: the chunks draw their textures and noise in turn from one generator)."""
    width = height if width is None else width
    problem = image_shape_problem(height, width, 3)
    if problem:
        raise DatasetError(f"colour shapes: {problem}")
    if n_train < 1 or n_test < 0 or not 2 <= num_classes <= MAX_CLASSES:
        raise DatasetError(f"colour shapes: need n_train >= 1, n_test >= 0 and 2 <= num_classes <= {MAX_CLASSES}")
    if background not in ("texture", "plain"):
        raise DatasetError(f"colour shapes: background must be 'texture' or 'plain', got {background!r}")
    rng = np.random.default_rng(seed)
    # balanced classes (round robin), rows shuffled within each split
    targets = np.concatenate([rng.permutation(np.arange(m) % num_classes) for m in (n_train, n_test)]).astype(np.int64)
    factors = draw_factors(targets, num_classes, height, width, rng)

    def rows() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
        for start in range(0, len(targets), chunk):  # chunks bound the [B, 3, H, W] texture tensor
            part = {k: v[start : start + chunk] for k, v in factors.items()}
            yield start, render_shapes(part, height, width, rng, background), targets[start : start + chunk]

    return targets, factors, rows()


def shapes_dataset(
    n_train: int = 600,
    n_test: int = 200,
    height: int = 32,
    width: int | None = None,
    num_classes: int = 12,
    seed: int = 0,
    name: str = "shapes",
    background: Background = "texture",
) -> Dataset:
    """The colour shapes as a :class:`Dataset` of uint8 [N, H, W, 3] images with its factors."""
    targets, factors, chunks = shapes_chunks(n_train, n_test, height, width, num_classes, seed, background)
    images = np.empty((len(targets), height, height if width is None else width, 3), np.uint8)
    for start, imgs, _ in chunks:
        images[start : start + len(imgs)] = imgs
    return Dataset(name, images, targets, n_train, num_classes, factors=factors)
