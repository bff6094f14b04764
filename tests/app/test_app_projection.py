"""ProjectionService: the PCA/UMAP choice, persisted per dataset, and UMAP in a background process.

The UMAP step is replaced by a fake embedding (importable by name, so the spawned child can run it)
that reports its process id, waits, and returns the first two latent dimensions: the service's
machinery (child process, progress, cancellation, alignment, persistence) is what is tested here;
the real UMAP is tested in tests/engine/test_projection.py.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.services.projection import ProjectionService
from engine.analysis.projection import UmapParams, normalise_for_plot


def fake_embed(
    mu: np.ndarray, params: UmapParams, progress: Callable[[str], None], delay: float = 0.0, fail: bool = False
) -> np.ndarray:
    progress(f"fake UMAP in pid {os.getpid()}")
    time.sleep(delay)
    if fail:
        raise RuntimeError("boom")
    return np.asarray(mu[:, :2], dtype=np.float64)


def _mu(n: int = 200, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)) * [3.0, 1.0, 0.5, 0.5]).astype(np.float32)


def _service(tmp_path: Path, **kw: Any) -> ProjectionService:
    return ProjectionService(tmp_path / "app.json", embed=functools.partial(fake_embed, **kw))


def _wait(svc: ProjectionService, pred: Callable[[dict[str, Any]], bool], timeout: float = 60.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = svc.status()
        if pred(st):
            return st
        time.sleep(0.05)
    raise AssertionError(f"timed out; last status {svc.status()}")


def _child_pid(st: dict[str, Any]) -> int:
    m = re.search(r"pid (\d+)", st["message"])
    assert m, st
    return int(m.group(1))


def _gone(pid: int, timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_umap_is_computed_in_a_child_process_and_submit_returns_at_once(tmp_path: Path) -> None:
    svc = _service(tmp_path, delay=1.0)
    assert svc.choice() == "pca" and svc.status()["state"] == "off"
    svc.submit(1, _mu())  # PCA chosen: nothing is computed
    assert svc.status()["state"] == "off" and svc.coords(1) is None
    gen = svc.status()["generation"]
    t0 = time.perf_counter()
    svc.set_choice("umap")  # starts the newest submitted version
    assert time.perf_counter() - t0 < 0.5
    st = svc.status()
    assert st["state"] == "computing" and st["version"] == 1 and st["message"].startswith("UMAP: computing for map v1")
    assert svc.coords(1) is None  # until ready, the page shows PCA
    st = _wait(svc, lambda s: "pid" in s["message"])
    assert _child_pid(st) != os.getpid()  # not on this process's threads (nor the GIL)
    assert re.search(r"started \d+ s ago", st["message"])
    t0 = time.perf_counter()
    svc.submit(2, _mu(seed=1))
    assert time.perf_counter() - t0 < 0.1  # the refresh pump is not held up
    st = _wait(svc, lambda s: s["state"] == "ready", 60.0)
    assert st["version"] == 2 and st["message"].startswith("UMAP ready for v2") and st["generation"] > gen
    xy = svc.coords(2)
    assert xy is not None and xy.shape == (200, 2) and xy.dtype == np.float32 and not xy.flags.writeable
    assert svc.coords(1) is None and svc.coords(3) is None
    svc.set_choice("pca")
    assert svc.coords(2) is None and svc.status()["state"] == "off"
    svc.set_choice("umap")  # back to UMAP: the map of the same version is not computed again
    assert svc.status()["state"] == "ready" and svc.coords(2) is xy
    svc.close()


def test_a_newer_version_supersedes_a_stale_job(tmp_path: Path) -> None:
    svc = _service(tmp_path, delay=30.0)
    svc.set_choice("umap")
    svc.submit(1, _mu())
    pid1 = _child_pid(_wait(svc, lambda s: "pid" in s["message"]))
    svc.submit(2, _mu(seed=1))
    assert svc.status()["version"] == 2
    assert _gone(pid1), "the stale job's process was not stopped"
    pid2 = _child_pid(_wait(svc, lambda s: "pid" in s["message"] and s["version"] == 2))
    assert pid2 != pid1
    svc.set_choice("pca")  # PCA cancels the running job too
    assert _gone(pid2)
    assert svc.coords(1) is None and svc.coords(2) is None


def test_maps_are_aligned_to_the_reference_then_to_the_previous_map(tmp_path: Path) -> None:
    svc = _service(tmp_path)
    svc.set_choice("umap")
    mu = _mu()
    theta = 2.2
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]) @ np.diag([1.0, -1.0])
    pca_on_screen = normalise_for_plot(mu[:, :2].astype(np.float64) @ rot)
    svc.submit(1, mu, reference=pca_on_screen)
    _wait(svc, lambda s: s["state"] == "ready")
    xy1 = svc.coords(1)
    assert xy1 is not None
    np.testing.assert_allclose(xy1, pca_on_screen, atol=1e-4)  # the swap keeps the picture's orientation
    # the next version's raw map is a reflected, rotated, scaled copy: it is aligned back onto v1
    mu2 = mu.copy()
    mu2[:, :2] = 4.0 * mu[:, :2] @ rot.T + 9.0
    svc.submit(2, mu2)
    _wait(svc, lambda s: s["state"] == "ready" and s["version"] == 2)
    np.testing.assert_allclose(svc.coords(2), xy1, atol=1e-4)


def test_an_error_is_reported_and_the_map_stays_pca(tmp_path: Path) -> None:
    svc = _service(tmp_path, fail=True)
    svc.set_choice("umap")
    svc.submit(3, _mu())
    st = _wait(svc, lambda s: s["state"] == "error")
    assert st["version"] == 3 and "UMAP failed for v3: RuntimeError: boom" in st["message"]
    assert svc.coords(3) is None


def test_the_choice_persists_per_dataset_file(tmp_path: Path) -> None:
    path = tmp_path / "app.json"
    path.write_text(json.dumps({"other": 1}))
    svc = ProjectionService(path)
    svc.set_choice("umap")
    assert json.loads(path.read_text()) == {"other": 1, "projection": "umap"}  # other keys are kept
    assert ProjectionService(path).choice() == "umap"
    with pytest.raises(ValueError, match="unknown projection"):
        svc.set_choice("tsne")
    assert json.loads(path.read_text())["projection"] == "umap"
    svc.set_choice("pca")
    assert ProjectionService(path).choice() == "pca"
    assert ProjectionService(tmp_path / "missing.json").choice() == "pca"


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"projection": "tsne"}', "'projection' must be one of 'pca', 'umap', got 'tsne'"),
        (b'{"projection": 1}', "got 1"),
    ],
)
def test_a_malformed_settings_file_falls_back_to_pca_and_is_kept(tmp_path: Path, content: bytes, error: str) -> None:
    path = tmp_path / "app.json"
    path.write_bytes(content)
    svc = ProjectionService(path, embed=functools.partial(fake_embed))
    assert svc.choice() == "pca"
    st = svc.status()
    assert str(path) in st["settings_error"] and error in st["settings_error"] and "uses PCA" in st["settings_error"]
    svc.submit(1, _mu())
    assert svc.status()["state"] == "off"
    assert path.read_bytes() == content  # not rewritten until the user chooses
    svc.set_choice("umap")
    assert json.loads(path.read_text()) == {"projection": "umap"} and svc.status()["settings_error"] == ""
    svc.close()
