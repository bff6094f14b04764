"""The PCA/UMAP switch in the app (real umap-learn in its child process, on a small synthetic set):
UMAP is swapped in as a new map version when ready, PCA comes back at once, the choice persists."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from app.callbacks import sync as sync_cb
from app.presenter.label_page import LabelPage
from app.testing import app_state
from app.viewmodels import UNCHANGED
from tests.helpers import tiny_config_dict

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_umap_is_swapped_in_when_ready_and_pca_comes_back_at_once(tmp_path):
    from engine.config import from_dict

    with app_state(tmp_path, 400, 100, from_dict(tiny_config_dict()), workers=False) as st:
        base = st.cache.current
        assert st.projection.choice() == "pca"
        t0 = time.perf_counter()
        out = sync_cb.projection_outputs(st, "umap")
        assert time.perf_counter() - t0 < 2.0  # the request only starts the job
        assert out["version"] == {"version": base.version}  # nothing to show yet: still PCA
        assert json.loads((tmp_path / "data" / "synth" / "app.json").read_text())["projection"] == "umap"
        deadline = time.monotonic() + 300
        while st.projection.status()["state"] != "ready":
            assert st.projection.status()["state"] in ("computing", "idle"), st.projection.status()
            assert time.monotonic() < deadline
            time.sleep(0.2)
        umap = st.cache.current
        assert umap.version == base.version + 1 and umap.step == base.step
        np.testing.assert_array_equal(umap.xy, st.projection.coords(base.version))
        assert not np.allclose(umap.xy, base.xy) and umap.probs is base.probs
        res = LabelPage(st).sync("t", [], sync_cb.ClientView(version=base.version), "entropy")
        assert res.figure is not UNCHANGED and res.panel("projection").startswith("UMAP ready for v")
        out = sync_cb.projection_outputs(st, "pca")
        pca = st.cache.current
        assert out["version"] == {"version": pca.version} and pca.version == umap.version + 1
        np.testing.assert_array_equal(pca.xy, base.xy)
        assert json.loads((tmp_path / "data" / "synth" / "app.json").read_text())["projection"] == "pca"
