"""The Model page below the browser: the mixture service, the callback bodies and the map highlight."""

from __future__ import annotations

import base64
import struct

import numpy as np
import pytest
from dash import Patch, no_update

from app import figures
from app.callbacks import model as model_cb
from app.callbacks import sync as sync_cb
from app.testing import app_state
from engine.analysis.mixture import top_responsibility
from tests.helpers import tiny_config_dict


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """An AppState after a short training run (so tau and the components mean something)."""
    from engine.config import from_dict

    with app_state(tmp_path_factory.mktemp("home"), 400, 100, from_dict(tiny_config_dict(steps=60))) as st:
        st.labels.set_many({int(s): int(st.dataset.targets[s]) for s in range(0, 400, 10)}, source="test")
        assert st.session.start_from_panel({**st.session.panel_defaults(), "steps": 60, "refresh_every": 30}) == {}
        assert st.session.wait(300)
        st.session.drain()
        assert st.pump.wait(120)
        yield st


def png_size(uri: str) -> tuple[int, int]:
    raw = base64.b64decode(uri.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", raw[16:24])  # width, height


def test_the_shown_tau_is_the_tau_classifiers(state):
    ms = state.mixture.state
    assert ms is not None and ms.version == state.cache.current.version and ms.step == 60
    np.testing.assert_allclose(ms.tau, state.session.trainer.tau.matrix, atol=1e-6)
    assert [s.component for s in ms.stats] == list(range(ms.tau.shape[0]))
    assert sum(s.labelled for s in ms.stats) == 40
    assert len(state.mixture.history) >= 2 and state.mixture.history[-1]["step"] == 60


def test_refresh_sends_the_figure_once_then_patches_and_skips_when_hidden(state):
    assert all(v is no_update for v in model_cb.refresh_outputs(state, "/", None).values())
    first = model_cb.refresh_outputs(state, "/model", None)
    fig = first["tau"]
    assert fig["data"][0]["type"] == "heatmap" and len(fig["data"][0]["z"]) == state.ckpt.config.model.components
    np.testing.assert_allclose(fig["data"][0]["z"], np.round(state.mixture.state.tau, 4))
    again = model_cb.refresh_outputs(state, "/model", fig)
    assert isinstance(again["tau"], Patch)
    ops = {tuple(o["location"]) for o in again["tau"].to_plotly_json()["operations"]}
    assert ("data", 0, "z") in ops and ("data", 0, "customdata") in ops
    metrics = first["metrics"]
    names = [t["name"] for t in metrics["data"]]
    assert names[:4] == ["entropy of mean q", "mean tau certainty", "KL_z", "KL_c"]
    assert any(s["type"] == "rect" for s in metrics["layout"]["shapes"])  # the phases as bands
    assert "data-component" in str(first["lenses"].to_plotly_json())


def test_the_lenses_galleries_hold_the_top_responsibilities(state):
    v = state.cache.current
    lenses = state.mixture.lenses(v)
    usage = [lens.stats.usage for lens in lenses]
    assert usage == sorted(usage, reverse=True)
    w, h = png_size(lenses[0].gallery)
    assert (w, h) == (16 * 29 - 1, 28)  # 16 images of 28 px, 1 px apart, one row
    c = lenses[0].stats.component
    top = top_responsibility(v.resp[: state.n_train], c, 16)
    assert (v.resp[top, c] >= np.sort(v.resp[: state.n_train, c])[-16] - 1e-7).all()
    assert lenses[0].prototype is not None and png_size(lenses[0].prototype) == (28, 28)


def test_the_traversal_decodes_d_by_k_images_and_the_strip_interpolates(state):
    m = state.mixture.microscope(5)
    d = state.ckpt.config.model.latent_dim
    assert m is not None and m.dims == d
    assert png_size(m.traversal) == (7 * 29 - 1, d * 29 - 1)
    assert 0 <= m.error < 1 and m.strip is None
    both = state.mixture.microscope(5, 9)
    assert both.other == 9 and png_size(both.strip) == (8 * 29 - 1, 28)


def test_a_tau_click_shows_the_components_samples_and_rings_them_on_the_map(state):
    v = state.cache.current
    c = int(np.bincount(v.component[: state.n_train]).argmax())
    assert model_cb.members_outputs(state, "/", c) is no_update  # hidden page: nothing computed
    html = str(model_cb.members_outputs(state, "/model", c).to_plotly_json())
    serials, ok = state.mixture.members(v, c)
    assert f"data-serial='{int(serials[0])}'" in html and html.count("ll-member ") == len(serials)
    assert (v.resp[serials, c] == np.sort(v.resp[serials, c])[::-1]).all()
    assert (ok == (v.probs[serials].argmax(1) == state.dataset.targets[serials])).all()
    # the sync puts the ring trace into the overlay
    res = sync_cb.sync_outputs(state, {"client": "m", "events": []}, {}, "entropy", {"log_id": 0}, None, "label", c)
    trace = res["overlay"]["data"][figures.HIGHLIGHT]
    assert trace["meta"]["component"] == c
    n = int((v.component[: state.n_train] == c).sum())
    assert len(base64.b64decode(trace["x"]["bdata"])) == 4 * n
    cleared = sync_cb.sync_outputs(
        state, {"client": "m", "events": []}, res["view"], "entropy", {"log_id": 0}, None, "label", None
    )
    assert len(base64.b64decode(_ops_value(cleared["overlay"], figures.HIGHLIGHT)["x"]["bdata"])) == 0
    assert "Click a cell" in str(model_cb.members_outputs(state, "/model", None).to_plotly_json())


def _ops_value(p: Patch, trace: int) -> dict:
    ops = p.to_plotly_json()["operations"]
    return next(o["params"]["value"] for o in ops if o["location"] == ["data", trace])


def test_advance_is_refused_without_a_run(state):
    out = model_cb.phase_outputs(state, "model-advance", "/model")
    assert "no run" in out["msg"] and out["disabled"] is True


def test_the_curriculum_fields_go_into_the_next_runs_config(state):
    from app.services.train_settings import validate_settings

    values = {**state.session.panel_defaults(), "warmup_steps": 7, "anneal_steps": "", "phase_weights": {}}
    values["phase_weights"] = {"refinement": {"alpha": 2.5, "beta": None}, "warmup": {"gamma": ""}}
    _, cfg, errors = validate_settings(state.ckpt.config, values)
    assert errors == {} and cfg.curriculum.warmup_steps == 7
    assert cfg.curriculum.anneal_steps == state.ckpt.config.curriculum.anneal_steps  # empty: kept
    assert cfg.curriculum.phase_weights["refinement"].alpha == 2.5
    assert "warmup" not in cfg.curriculum.phase_weights
    bad = {**values, "phase_weights": {"refinement": {"alpha": -1}}}
    _, _, errors = validate_settings(state.ckpt.config, bad)
    assert "curriculum.phase_weights" in " ".join(errors.values())
