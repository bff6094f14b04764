"""Decode one image file into the dataset's pixels: the conversion rule of ``data import``.

One function, :func:`decode_file`, runs in the worker processes of the import (it takes and
returns only plain, picklable values). The rule (docs/datasets.md, "Your own images"):

- Whatever Pillow opens: PNG, JPEG, BMP, TIFF, WebP; a GIF (or any multi-frame file) gives its
  first frame. The EXIF orientation is applied first.
- Palette images become RGB (RGBA when the palette has transparency); ``1`` becomes ``L``;
  CMYK, YCbCr, LAB and HSV become RGB by Pillow's conversion.
- 16-bit and 32-bit integer images (``I;16``, ``I``) are read as 16-bit values and scaled to 8 bit
  by ``round(v / 257)`` (65535 -> 255); float images (``F``) are clipped to 0..255.
- Transparency (LA, RGBA, PA) is composited over black: 0 is the background in the dataset format.
- Gray images (``--mode gray``) are the ITU-R BT.601 luminance of colour ones (Pillow's ``L``);
  RGB images of gray files repeat the gray value in each channel.
- ``fit``: ``crop`` scales the shorter side to the target and cuts the centre, ``pad`` scales the
  longer side and centres the image on black, ``stretch`` scales each side on its own.
  Resampling is Lanczos (area-preserving antialiasing for shrinking). A JPEG is first decoded at
  1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, Pillow's ``draft``) as far as it stays at least
  that resized size, so a 256x256 JPEG imported at 64x64 is decoded straight to 64x64, in about
  half the time; the pixels differ from Lanczos of the full image by about 1-3 gray levels
  (of 255) on average (docs/datasets.md has the figures).
- An image larger than Pillow's pixel limit (``Image.MAX_IMAGE_PIXELS``) is refused as a
  decompression bomb rather than decoded.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from typing import Any, Literal

import numpy as np

Fit = Literal["crop", "pad", "stretch"]
FITS: tuple[Fit, ...] = ("crop", "pad", "stretch")
MAX_FILE_BYTES = 1 << 30  # a file above 1 GB is refused before it is read into memory


def _to_rgb_or_l(im: Any) -> Any:  # a PIL image (PIL is imported lazily, in the workers)
    """``im`` as mode ``L`` or ``RGB`` by the documented rule."""
    from PIL import Image

    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode == "1":
        im = im.convert("L")
    elif mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        v = np.asarray(im, dtype=np.float64)
        im = Image.fromarray(np.clip(np.rint(v / 257.0), 0, 255).astype(np.uint8), "L")
    elif mode == "F":
        im = Image.fromarray(np.clip(np.rint(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8), "L")
    mode = im.mode
    if mode in ("LA", "RGBA"):
        base = Image.new(mode[:-1] if mode == "LA" else "RGB", im.size, 0)
        base.paste(im.convert("L" if mode == "LA" else "RGB"), mask=im.getchannel("A"))
        im = base
    elif mode not in ("L", "RGB"):
        im = im.convert("RGB")
    return im


def _scaled_size(w: int, h: int, height: int, width: int, fit: Fit) -> tuple[int, int]:
    """(width, height) that ``fit`` resizes a ``w`` x ``h`` image to, before it cuts or pads."""
    if fit == "stretch":
        return width, height
    scale = max(width / w, height / h) if fit == "crop" else min(width / w, height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _draft(im: Any, height: int, width: int, fit: Fit) -> None:
    """Let the JPEG decoder scale ``im`` by 1/2, 1/4 or 1/8 (in the DCT domain: fast) as far as it
    stays at least twice the size ``fit`` resizes it to, so Lanczos still does the last halving:
    256x256 to 64x64 decodes at 128x128. (Decoding straight to the target size is twice as fast
    again but moves pixels up to 3 gray levels from Lanczos on photographs: docs/datasets.md.)"""
    turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # stored sideways: the decoder sees stored axes
    w, h = im.size[::-1] if turned else im.size
    sw, sh = _scaled_size(w, h, height, width, fit)
    im.draft(im.mode, (2 * sh, 2 * sw) if turned else (2 * sw, 2 * sh))


def _fit(im: Any, height: int, width: int, fit: Fit) -> Any:
    """Resize ``im`` to ``width`` x ``height`` by ``fit``."""
    from PIL import Image

    sw, sh = _scaled_size(im.width, im.height, height, width, fit)
    im = im.resize((sw, sh), Image.Resampling.LANCZOS)
    if fit == "stretch" or (sw, sh) == (width, height):
        return im
    if fit == "crop":
        left, top = (sw - width) // 2, (sh - height) // 2
        return im.crop((left, top, left + width, top + height))
    canvas = Image.new(im.mode, (width, height), 0)
    canvas.paste(im, ((width - sw) // 2, (height - sh) // 2))
    return canvas


def decode_file(
    path: str, height: int, width: int, mode: str, fit: Fit, decode: bool = True
) -> tuple[str, np.ndarray | None, bool, str]:
    """(sha256 of the file's bytes, uint8 pixels or None, whether the image has colour, error).

    ``mode``: ``gray`` gives [H, W], ``rgb`` and ``auto`` give [H, W, 3] (auto decides later from
    the colour flag). ``decode=False`` only hashes. A file that cannot be read or decoded gives
    an empty sha256 or None pixels and the reason; nothing is raised (one bad file never stops
    an import)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return "", None, False, f"cannot read: {err.strerror or err}"
    if len(data) > MAX_FILE_BYTES:
        return "", None, False, f"larger than {MAX_FILE_BYTES >> 20} MB"
    sha = hashlib.sha256(data).hexdigest()
    if not decode:
        return sha, None, False, ""
    if not data:
        return sha, None, False, "empty file (0 bytes)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                opened.seek(0)  # the first frame of a GIF or a multi-page TIFF
                if opened.format == "JPEG":
                    _draft(opened, height, width, fit)
                im = ImageOps.exif_transpose(opened)
                im.load()
                im = _to_rgb_or_l(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return sha, None, False, f"decompression bomb refused ({err})"
    except UnidentifiedImageError:
        return sha, None, False, "not an image Pillow can read"
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as err:  # truncated or corrupt data
        return sha, None, False, f"cannot decode: {err}"
    colour = False
    if im.mode == "RGB":
        a = np.asarray(im)
        colour = bool((a[..., 0] != a[..., 1]).any() or (a[..., 1] != a[..., 2]).any())
    target = "L" if mode == "gray" else "RGB"
    if im.mode != target:
        im = im.convert(target)
    pixels = np.asarray(_fit(im, height, width, fit), dtype=np.uint8)
    return sha, pixels, colour, ""


def decode_files(
    tasks: list[tuple[str, bool]], height: int, width: int, mode: str, fit: Fit
) -> list[tuple[str, np.ndarray | None, bool, str]]:
    """:func:`decode_file` over a batch of (path, decode?): one task of a worker process, so the
    pool's cost per task (pickling, queues, a future) is paid once per batch, not per file."""
    return [decode_file(path, height, width, mode, fit, dec) for path, dec in tasks]
