"""Photo patches: a real colour dataset cut from the photographs that ship inside scikit-image
(``skimage/data/*.png|jpg``, installed from the package registry with the project; no network).

One class per source photo (:data:`PHOTOS`). Each photo is converted to RGB (the gray textures
repeat their one channel), resized with Lanczos so its shorter side is ``zoom`` times the patch's
longer side, and split by columns: patches of the left ``1 - TEST_FRACTION`` of the photo are
training rows, patches of the right ``TEST_FRACTION`` test rows. A patch lies wholly inside its
region, so no test patch shares a pixel with a training patch. Patches are cut on a grid with a
stride of half the patch, flat ones (luminance standard deviation below FLAT_STD of 255: the
black borders of retina and hubble_deep_field) are dropped, and each split keeps the same number
of patches per class (the smallest photo's count, chosen with the seed), rows shuffled within it.

Per-image factors ``x`` and ``y``: the patch centre as a fraction of its photo's width and height.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from engine.config import image_shape_problem
from engine.datasets.store import Dataset
from engine.errors import DatasetError

# The colour photographs of skimage/data, then three gray textures the issue names (brick, grass, gravel).
PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "hubble_deep_field",
    "ihc",
    "motorcycle_left",
    "retina",
    "rocket",
    "brick",
    "grass",
    "gravel",
)
TEST_FRACTION = 0.25
FLAT_STD = 4.0  # a patch whose luminance varies less than this (0-255) shows nothing of its photo
LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601


def skimage_data_dir() -> Path:
    """The ``data`` folder of the installed scikit-image (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "the photo patches are cut from the photographs inside scikit-image, which is not installed: "
            "run `make install` (or `pip install scikit-image`)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def photo_path(name: str, folder: Path | None = None) -> Path:
    """The file of photo ``name`` (``.png`` or ``.jpg``) in scikit-image's data folder."""
    folder = skimage_data_dir() if folder is None else folder
    for suffix in (".png", ".jpg"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    raise DatasetError(f"photo {name!r} not found in {folder} (a scikit-image without its data files?)")


def load_photo(path: Path, shorter_side: int) -> np.ndarray:
    """uint8 [H, W, 3]: the photo as RGB, resized (Lanczos) so that its shorter side is ``shorter_side``."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = im.convert("RGB")
    w, h = rgb.size
    k = shorter_side / min(w, h)
    size = (max(shorter_side, round(w * k)), max(shorter_side, round(h * k)))
    return np.asarray(rgb.resize(size, Image.Resampling.LANCZOS), np.uint8)


def cut_patches(photo: np.ndarray, height: int, width: int, x0: int, x1: int) -> tuple[np.ndarray, np.ndarray]:
    """(patches uint8 [P, height, width, 3], their centres [P, 2] as (x, y) fractions of the photo):
    the patches on a half-patch grid that lie wholly in columns x0..x1-1, flat ones dropped."""
    ph, pw = photo.shape[:2]
    sy, sx = max(1, height // 2), max(1, width // 2)
    tops = range(0, ph - height + 1, sy)
    lefts = range(x0, x1 - width + 1, sx)
    boxes = [(t, left) for t in tops for left in lefts]
    if not boxes:
        return np.zeros((0, height, width, 3), np.uint8), np.zeros((0, 2), np.float32)
    patches = np.stack([photo[t : t + height, left : left + width] for t, left in boxes])
    keep = (patches.astype(np.float32) @ LUMA.astype(np.float32)).std(axis=(1, 2)) >= FLAT_STD
    centres = np.array([((left + width / 2) / pw, (t + height / 2) / ph) for t, left in boxes], np.float32)
    return patches[keep], centres[keep]


def photo_patches(
    height: int = 32,
    width: int | None = None,
    photos: Sequence[str] = PHOTOS,
    zoom: int = 8,
    seed: int = 0,
    name: str = "photos",
    folder: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> Dataset:
    """The photo-patch :class:`Dataset` (uint8 [N, height, width, 3], one class per photo, in
    ``photos`` order; see the module docstring for the cut and the split)."""
    width = height if width is None else width
    problem = image_shape_problem(height, width, 3)
    if problem:
        raise DatasetError(f"photo patches: {problem}")
    if len(photos) < 2 or len(set(photos)) != len(photos):
        raise DatasetError(f"photo patches: need two or more distinct photos, got {list(photos)}")
    if zoom < 2:
        raise DatasetError(f"photo patches: zoom must be at least 2, got {zoom}")
    splits: list[list[tuple[np.ndarray, np.ndarray]]] = [[], []]
    for photo_name in photos:
        photo = load_photo(photo_path(photo_name, folder), zoom * max(height, width))
        split_x = round(photo.shape[1] * (1 - TEST_FRACTION))
        for s, (x0, x1) in enumerate(((0, split_x), (split_x, photo.shape[1]))):
            splits[s].append(cut_patches(photo, height, width, x0, x1))
        if log:
            log(f"{photo_name}: {len(splits[0][-1][0])} train, {len(splits[1][-1][0])} test patches")
    rng = np.random.default_rng(seed)
    images, targets, centres, n_train = [], [], [], 0
    for s, per_class in enumerate(splits):
        k = min(len(p) for p, _ in per_class)
        if k == 0:
            raise DatasetError(f"photo patches: a photo gives no {('train', 'test')[s]} patch of {height}x{width}")
        rows = [(c, i) for c, (p, _) in enumerate(per_class) for i in np.sort(rng.choice(len(p), k, replace=False))]
        order = rng.permutation(len(rows))
        images.append(np.stack([per_class[rows[r][0]][0][rows[r][1]] for r in order]))
        centres.append(np.stack([per_class[rows[r][0]][1][rows[r][1]] for r in order]))
        targets.append(np.array([rows[r][0] for r in order], np.int64))
        n_train = n_train or len(order)
    xy = np.concatenate(centres)
    return Dataset(
        name,
        np.concatenate(images),
        np.concatenate(targets),
        n_train,
        len(photos),
        factors={"x": xy[:, 0], "y": xy[:, 1]},
    )
