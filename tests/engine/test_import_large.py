"""An import above 100,000 images (issue 24): it streams into the memory-mapped layout, and the
files handed to the decoding processes and not yet stored stay a bounded batch however many
there are (never all originals at once). Slow: 22 s here on a quiet machine, 58 s under a load of 6."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import tempfile
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine.datasets import clear_cache, importer, load_dataset
from engine.datasets.importer import NPY_ABOVE, ImportOptions, import_images
from engine.datasets.provenance import read_sources, sources_path

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

N = NPY_ABOVE + 1
SIDE = 8
BASE = (np.arange(SIDE)[:, None, None] * 16 + np.arange(SIDE)[None, :, None] * 4 + np.arange(3) * 64).astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


PNG_HEAD = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0))
PNG_END = _chunk(b"IEND", b"")


def pixels(i: int) -> np.ndarray:
    """Image ``i``: a fixed colour gradient whose top-left pixel spells ``i`` (so no two are alike)."""
    a = BASE.copy()
    a[0, 0] = (i & 255, (i >> 8) & 255, i >> 16)
    return a


def png(i: int) -> bytes:
    """Image ``i`` as an 8-bit RGB PNG, written by hand (Pillow's encoder takes ten times longer)."""
    rows = np.concatenate([np.zeros((SIDE, 1), np.uint8), pixels(i).reshape(SIDE, SIDE * 3)], axis=1)
    return PNG_HEAD + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)) + PNG_END


def rel(i: int) -> str:
    """Even images in class folder ``a``, odd ones in ``b``."""
    return f"{'ab'[i % 2]}/{i:06d}.png"


def write_source(src: Path) -> None:
    for c in "ab":
        (src / c).mkdir(parents=True)

    def write(start: int) -> None:
        for i in range(start, N, 4):
            (src / rel(i)).write_bytes(png(i))

    with ThreadPoolExecutor(4) as pool:  # creating files is the slow part, and it waits on the kernel
        list(pool.map(write, range(4)))


def test_import_above_100000_images_streams_into_the_memory_mapped_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the source in memory where there is a tmpfs: on a disk, deleting 100,001 files once they
    # are written back takes minutes
    shm = Path("/dev/shm")
    src = Path(tempfile.mkdtemp(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path)) / "src"
    data = tmp_path / "data"
    clear_cache()
    write_source(src)
    handed, stored, ahead = [0], [0], [0]

    class Counting(ProcessPoolExecutor):
        """The import's pool, counting the files handed to it before the earlier ones are stored."""

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            handed[0] += len(args[0])
            ahead[0] = max(ahead[0], handed[0] - stored[0])
            return super().submit(fn, *args, **kwargs)

    def progress(done: int, total: int) -> None:
        stored[0] = done

    monkeypatch.setattr(importer, "ProcessPoolExecutor", Counting)
    try:
        r = import_images("big", src, ImportOptions(height=SIDE, width=SIDE, workers=2, progress=progress), data)
        assert (r.added, r.total, r.layout, r.duplicates, r.skipped) == (N, N, "npy", [], [])
        assert handed[0] == N and stored[0] == N
        # at most IN_FLIGHT batches per process ahead of the one being stored: a few hundred of 100,001
        assert 0 < ahead[0] <= (importer.IN_FLIGHT * 2 + 1) * importer.BATCH
        folder = data / "big"
        assert (folder / "dataset.json").is_file() and not (folder / "big.npz").exists()
        assert not list(data.glob(".import-*"))
        ds = load_dataset("big", data)
        evens = (N + 1) // 2  # class a: images 0, 2, ..., 100000, sorted first
        assert isinstance(ds.images, np.memmap) and ds.images.shape == (N, SIDE, SIDE, 3)
        assert (len(ds), ds.n_train, ds.num_classes) == (N, N, 2)
        assert int(ds.targets[:evens].max()) == 0 and int(ds.targets[evens:].min()) == 1
        rows = read_sources(sources_path("big", data))
        assert len(rows) == N
        for serial in (0, 1, 12_345, evens - 1, evens, evens + 777, N - 1):
            i = 2 * serial if serial < evens else 2 * (serial - evens) + 1
            assert np.array_equal(ds.images[serial], pixels(i)), serial
            assert (rows[serial].serial, rows[serial].path) == (serial, rel(i))
            assert rows[serial].sha256 == hashlib.sha256(png(i)).hexdigest()
    finally:
        shutil.rmtree(src.parent, ignore_errors=True)
