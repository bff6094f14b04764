"""The sample panel's images as ``data:`` URIs; the PNG encoding is engine.images' (the project's one)."""

from __future__ import annotations

import numpy as np

from engine.images import png_b64, png_bytes


def png_data_uri(img: np.ndarray) -> str:
    """A 2-D image (uint8, or floats in [0, 1]) as a PNG data URI for an ``<img src>``."""
    return "data:image/png;base64," + png_b64(png_bytes(img))


png_gray = png_bytes  # the encoder's earlier name here (tests/test_app_services.py imports it)
