"""The page's images as ``data:`` URIs; the PNG encoding is engine.images' (the project's one)."""

from __future__ import annotations

import numpy as np

from engine.images import png_b64, png_bytes

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_data_uri(img: np.ndarray) -> str:
    """A grey [H, W] or colour [H, W, 3] image (uint8, or floats in [0, 1]) as a PNG data URI for an
    ``<img src>``, at its own size: the page's CSS scales it (app/assets/style.css)."""
    return png_bytes_uri(png_bytes(img))


def png_bytes_uri(data: bytes) -> str:
    """PNG file bytes (e.g. a run's plot) as a data URI; ValueError when they are not a PNG."""
    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    return "data:image/png;base64," + png_b64(data)


png_gray = png_bytes  # the encoder's earlier name here (tests/app/test_app_services.py imports it)
