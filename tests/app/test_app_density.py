"""The density map of very large datasets: the raster service, the figure and the view callback."""

from __future__ import annotations

import numpy as np
import pytest
from dash import Patch, no_update

from app import density_figures
from app.callbacks import density as density_cb
from app.callbacks import sync as sync_cb
from app.services.density import DensityMap, Window, window_from_relayout
from app.services.embeddings import MapVersion
from app.testing import app_state
from tests.helpers import tiny_config_dict


def _version(
    xy: np.ndarray, pred: np.ndarray, true: np.ndarray, certainty: np.ndarray | None = None, version: int = 1
) -> MapVersion:
    n, c = len(xy), 10
    probs = np.full((n, c), 0.1, np.float32)
    return MapVersion(
        version=version,
        step=0,
        trained=False,
        n_train=n,
        xy=np.asarray(xy, np.float32),
        probs=probs,
        mu=np.zeros((n, 2), np.float32),
        resp=probs,
        pred=pred.astype(np.uint8),
        certainty=(np.full(n, 50) if certainty is None else certainty).astype(np.uint8),
        component=pred.astype(np.uint8),
        true=true.astype(np.uint8),
    )


@pytest.fixture(scope="module")
def corner() -> MapVersion:
    """3,000 points in the top-right corner of [-1, 1]^2 and one in each other corner."""
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.uniform(0.8, 1.0, (3000, 2)), [[-1, -1], [-1, 1], [1, -1]]])
    n = len(xy)
    return _version(xy, np.zeros(n), np.full(n, 3))


def test_points_in_a_corner_give_pixels_there_only(corner: MapVersion) -> None:
    dm = DensityMap(raster_above=10, points_max=100, width=100)
    rgb = dm.raster(corner, "label", Window(-1.0, 1.0, -1.0, 1.0))
    assert rgb.shape == (100, 100, 3) and rgb.dtype == np.uint8
    ink = rgb.min(-1) < 250
    # row 0 is the top of the map (y = 1): the cluster at x, y in [0.8, 1] is the top-right 10x10 block
    assert ink[:10, 90:].mean() > 0.9
    assert ink[20:80, 20:80].sum() == 0
    assert ink[:10, :10].sum() <= 9 and ink[90:, :10].sum() <= 9  # the single points, spread at most 1 px


def test_the_colour_mode_changes_the_colours(corner: MapVersion) -> None:
    dm = DensityMap(raster_above=10, points_max=100, width=100)
    w = Window(-1.0, 1.0, -1.0, 1.0)
    pred, true, label = (dm.raster(corner, m, w)[5, 95].astype(int) for m in ("pred", "true", "label"))
    # pred is class 0 everywhere (tab10 blue), true class 3 (tab10 red), label a grey density
    assert pred[2] > pred[0] and true[0] > true[2] and abs(label[0] - label[2]) < 8
    certain = _version(corner.xy, corner.pred, corner.true, np.full(corner.n_points, 100), version=2)
    assert not np.array_equal(dm.raster(certain, "certainty", w)[5, 95], dm.raster(corner, "certainty", w)[5, 95])


def test_the_points_view_below_points_max(corner: MapVersion) -> None:
    dm = DensityMap(raster_above=10, points_max=100, width=100)
    few = dm.view(corner, "pred", Window(-1.1, 0.5, -1.1, 1.1))
    assert few.kind == "points" and sorted(few.serials.tolist()) == [3000, 3001] and few.rgb is None
    many = dm.view(corner, "pred", Window(0.0, 1.1, 0.0, 1.1))
    assert many.kind == "raster" and many.n_in_view == 3000 and many.serials is None
    assert not dm.active(_version(corner.xy[:10], corner.pred[:10], corner.true[:10]))
    assert dm.active(corner)


def test_window_from_relayout() -> None:
    full, prev = Window(-1, 1, -1, 1), Window(0, 1, 0, 1)
    assert window_from_relayout({"xaxis.autorange": True, "yaxis.autorange": True}, prev, full) == full
    got = {"xaxis.range[0]": 0.5, "xaxis.range[1]": 0.2, "yaxis.range[0]": -0.5, "yaxis.range[1]": 0.5}
    assert window_from_relayout(got, prev, full) == Window(0.2, 0.5, -0.5, 0.5)
    assert window_from_relayout({"xaxis.range": [0.1, 0.3]}, prev, full) == Window(0.1, 0.3, 0, 1)
    assert window_from_relayout({"autosize": True}, prev, full) is None
    assert window_from_relayout({"xaxis.range[0]": float("nan"), "xaxis.range[1]": 1}, prev, full) is None
    assert window_from_relayout(None, prev, full) is None


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """An AppState whose 400-point map is above a lowered raster threshold."""
    from engine.config import from_dict

    with app_state(
        tmp_path_factory.mktemp("home"),
        400,
        100,
        from_dict(tiny_config_dict(steps=40)),
        workers=False,
        map_raster_above=100,
        map_points_max=60,
    ) as st:
        yield st


def _ops(p: Patch) -> dict[str, object]:
    return {".".join(map(str, op["location"])): op["params"]["value"] for op in p.to_plotly_json()["operations"]}


def test_sync_sends_the_raster_figure_without_every_point(state) -> None:
    out = sync_cb.sync_outputs(state, {"client": "t1", "events": []}, {}, "entropy", {"log_id": 0})
    fig = out["map"]
    assert [t["name"] for t in fig["data"]] == ["samples", "view points", "extent"]
    assert fig["data"][0]["x"] == [] and "bdata" not in str(fig["data"][0])  # no typed array of every point
    assert fig["layout"]["images"][0]["source"].startswith("data:image/png;base64,")
    assert fig["layout"]["meta"]["view"]["kind"] == "raster" and fig["layout"]["meta"]["view"]["n"] == 400
    assert "modes" not in out["colours"]  # clientside.js leaves the big graph alone


def test_the_callback_switches_between_raster_and_points_by_zoom(state) -> None:
    v = state.cache.current
    ev = {"client": "t2", "events": []}
    far = density_cb.density_outputs(state, "latent-map", {"xaxis.autorange": True}, "pred", ev)["map"]
    ops = _ops(far)
    assert ops["layout.meta.view"]["kind"] == "raster" and len(ops["layout.images"]) == 1
    assert ops["data.1"]["x"] == density_figures.points_trace(v, None, "pred")["x"]  # no points
    # zoom onto a point and its neighbours: at most points_max points -> WebGL points, no raster
    x, y = (float(c) for c in v.xy[0])
    near = {
        "xaxis.range[0]": x - 0.05,
        "xaxis.range[1]": x + 0.05,
        "yaxis.range[0]": y - 0.05,
        "yaxis.range[1]": y + 0.05,
    }
    ops = _ops(density_cb.density_outputs(state, "latent-map", near, "pred", ev)["map"])
    assert ops["layout.meta.view"]["kind"] == "points" and ops["layout.images"] == []
    assert 1 <= ops["layout.meta.view"]["n"] <= 60
    # a colour switch redraws the remembered (zoomed) view of this tab
    ops = _ops(density_cb.density_outputs(state, "colour-mode", None, "true", ev)["map"])
    assert ops["layout.meta.view"]["window"] == pytest.approx([x - 0.05, x + 0.05, y - 0.05, y + 0.05])
    assert ops["data.1"]["meta"]["mode"] == "true"
    # a resize does not move the view; a new version in label mode of an unzoomed tab needs nothing
    assert density_cb.density_outputs(state, "latent-map", {"autosize": True}, "pred", ev)["map"] is no_update
    assert density_cb.density_outputs(state, "model-version", None, "label", {"client": "new"})["map"] is no_update


def test_below_the_threshold_the_callback_does_nothing(state, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state.density, "raster_above", 10_000)
    assert density_cb.density_outputs(state, "latent-map", {"xaxis.autorange": True}, "pred", {})["map"] is no_update
