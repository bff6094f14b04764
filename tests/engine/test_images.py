"""The one PNG encoder (engine/images.py) and the XAI overlay drawn with it, decoded by Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from engine.images import overlay_png, png_bytes


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def test_grey_and_rgb_round_trip_through_a_standard_decoder():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (5, 7), dtype=np.uint8)
    rgb = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    assert np.array_equal(decode(png_bytes(grey)), grey)
    assert np.array_equal(decode(png_bytes(rgb)), rgb)
    assert np.array_equal(decode(png_bytes(np.array([[0.0, 0.5, 1.0, 2.0]]))), [[0, 128, 255, 255]])
    with pytest.raises(ValueError):
        png_bytes(np.zeros((2, 2, 4), np.uint8))


def test_overlay_is_enlarged_and_boxed():
    heat = np.zeros((10, 10))
    heat[2:5, 6:9] = 1.0
    px = decode(overlay_png(np.zeros((10, 10), np.uint8), heat, [0.6, 0.2, 0.9, 0.5], scale=4))
    assert px.shape == (40, 40, 3)
    green = (0, 230, 118)
    assert tuple(px[8, 30]) == green and tuple(px[9, 30]) == green  # top edge, 2 px thick
    assert tuple(px[19, 30]) == green and tuple(px[12, 24]) == green and tuple(px[12, 35]) == green
    assert tuple(px[12, 30]) != green and tuple(px[0, 0]) == (0, 0, 0)  # inside: heat, outside: the image
    assert px[12, 30].sum() > 0


def test_rgb_non_square_overlay_keeps_colour_and_aspect():
    """Issue 23: the overlay is drawn over the colour image, each pixel a sharp square, the
    rectangle kept (48x64 -> 4x: 192x256)."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (200, 10, 10)  # left half red, right half blue
    rgb[:, 32:] = (10, 10, 200)
    heat = np.zeros((48, 64))
    heat[40:, 60:] = 1.0  # bottom-right corner hot
    px = decode(overlay_png(rgb, heat, None))
    assert px.shape == (192, 256, 3)
    assert tuple(px[0, 0]) == (200, 10, 10) and tuple(px[0, 255]) == (10, 10, 200)  # no heat: the colour image
    assert tuple(px[191, 255]) != (10, 10, 200)  # the hot corner is tinted
    assert np.array_equal(px[:4, :4], np.broadcast_to(px[0, 0], (4, 4, 3)))  # 4x4 blocks, not a blur
    floats = decode(overlay_png(rgb.astype(np.float32) / 255.0, heat, None))  # floats in [0, 1] draw the same
    assert np.abs(floats.astype(int) - px.astype(int)).max() <= 1


def test_grey_overlay_looks_as_it_did():
    """A grey image is drawn grey, enlarged 8x at 28x28 as before the colour work."""
    img = np.arange(28 * 28, dtype=np.uint8).reshape(28, 28)
    px = decode(overlay_png(img, np.zeros((28, 28)), None))
    assert px.shape == (224, 224, 3)
    assert np.array_equal(px[::8, ::8, 0], img) and np.array_equal(px[..., 0], px[..., 2])


def test_overlay_scale_and_bad_shapes():
    from engine.images import overlay_scale

    assert [overlay_scale(*s) for s in ((28, 28), (32, 32), (48, 64), (128, 128), (256, 256))] == [8, 7, 4, 2, 1]
    with pytest.raises(ValueError, match=r"\(10, 12\).*\(10, 10, 3\)"):
        overlay_png(np.zeros((10, 10, 3)), np.zeros((10, 12)), None)
    with pytest.raises(ValueError, match="RGB"):
        overlay_png(np.zeros((10, 10, 2)), np.zeros((10, 10)), None)


def test_enlarge_is_nearest_neighbour():
    from engine.images import enlarge

    a = np.array([[[1, 2, 3], [4, 5, 6]]], np.uint8)  # 1x2 RGB
    big = enlarge(a, 3)
    assert big.shape == (3, 6, 3)
    assert (big[:, :3] == [1, 2, 3]).all() and (big[:, 3:] == [4, 5, 6]).all()
    assert enlarge(a, 1) is a or np.array_equal(enlarge(a, 1), a)
    with pytest.raises(ValueError):
        enlarge(a, 0)


def test_mosaic_of_grey_rgb_and_non_square_tiles():
    from engine.images import mosaic

    grey = np.stack([np.full((2, 3), v, np.uint8) for v in (0, 255, 51)])
    m = mosaic(grey, 2, pad=1, fill=0.5)  # 2 rows x 2 cols of 2x3 tiles, the last tile empty
    assert m.shape == (5, 7)
    assert m[0, 0] == 0.0 and m[0, 4] == 1.0 and m[3, 0] == pytest.approx(0.2) and m[3, 4] == 0.5 and m[2, 0] == 0.5
    rgb = np.zeros((3, 4, 6, 3), np.float32)
    rgb[1, ..., 1] = 1.0  # the second tile green
    m = mosaic(rgb, 3, pad=1)
    assert m.shape == (4, 20, 3)
    assert tuple(m[0, 7]) == (0.0, 1.0, 0.0) and tuple(m[0, 6]) == (1.0, 1.0, 1.0) and tuple(m[0, 0]) == (0, 0, 0)
    assert decode(png_bytes(m)).shape == (4, 20, 3)
    with pytest.raises(ValueError, match="RGB"):
        mosaic(np.zeros((2, 4, 4, 2)), 2)
