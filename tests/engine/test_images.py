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
