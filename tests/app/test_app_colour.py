"""The dashboard on a small RGB data set of 24x32 (height x width) images, below the browser
(issue 23): the sample panel, the gallery, the lenses, the microscope, the saliency overlay and
the feedback surface show colour at the images' own shape; grey pages keep their look."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from app import feedback_figures
from app.callbacks import explain
from app.callbacks import model as model_cb
from app.layouts.page import build_layout, image_classes
from app.layouts.sample import sample_panel
from app.presenter import views
from app.presenter.saliency import saliency_view
from app.server import layout_context
from app.testing import app_state, colour_dataset
from tests.helpers import tiny_config_dict

H, W = 24, 32  # non-square on purpose: a transposed or stretched image fails


def colour_config(steps: int = 40):
    """The tiny test model on the colour set (4 classes)."""
    from engine.config import from_dict

    d = tiny_config_dict(steps=steps)
    d["data"] = {"name": "rgb"}
    d["model"].update(image_shape=[H, W, 3], num_classes=4, components=8)
    return from_dict(d)


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """An AppState on the colour set after a short training run (snapshots for the XAI worker)."""
    ds = colour_dataset(200, 60, H, W)
    with app_state(tmp_path_factory.mktemp("home"), 200, 60, colour_config(), dataset=ds, xai_wait_ms=2000) as st:
        st.labels.set_many({int(s): int(st.dataset.targets[s]) for s in range(0, 200, 5)}, source="test")
        assert st.session.start_from_panel({**st.session.panel_defaults(), "steps": 40, "refresh_every": 20}) == {}
        assert st.session.wait(300)
        st.session.drain()
        assert st.pump.wait(120)
        yield st


def decode_uri(uri: str) -> np.ndarray:
    """The pixels of a PNG data URI, decoded by Pillow (not by our encoder)."""
    assert uri.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    return np.asarray(img)


def test_the_page_root_says_how_to_scale_images():
    assert image_classes((28, 28, 1)) == "ll-app"  # grey MNIST: the page as before
    assert image_classes((H, W, 3)) == "ll-app ll-rgb"
    assert image_classes((96, 128, 3)) == "ll-app ll-rgb ll-smooth"  # above 64 px: smooth scaling


def test_the_sample_panel_shows_the_colour_image_and_its_reconstruction(state):
    sv = views.sample_view(state, 3)
    assert np.array_equal(decode_uri(sv.image), state.dataset.images[3])  # RGB, 24 rows x 32 columns
    assert sv.recon is not None and decode_uri(sv.recon).shape == (H, W, 3)
    html = str(sample_panel(sv).to_plotly_json())
    assert "ll-digit" in html and sv.image in html and "data-label" in html  # label buttons for keys 0-3
    brief = views.sample_brief(state, 3)  # what sample.js draws at a key press
    assert np.array_equal(decode_uri(str(brief["image"])), state.dataset.images[3])
    ctx = layout_context(state)
    assert ctx.image_shape == (H, W, 3)
    assert build_layout(ctx).className == "ll-app ll-rgb"


def test_the_gallery_lenses_and_microscope_tile_colour_images_of_their_own_shape(state):
    v = state.cache.current
    lenses = state.mixture.lenses(v)
    gallery = decode_uri(lenses[0].gallery)
    assert gallery.shape == (H, 16 * (W + 1) - 1, 3)
    c = lenses[0].stats.component
    from engine.analysis.mixture import top_responsibility

    first = top_responsibility(v.resp[: state.n_train], c, 16)[0]
    assert np.array_equal(gallery[:, :W], state.dataset.images[first])
    assert lenses[0].prototype is not None and decode_uri(lenses[0].prototype).shape == (H, W, 3)
    m = state.mixture.microscope(5, 9)
    d = state.ckpt.config.model.latent_dim
    assert decode_uri(m.traversal).shape == (d * (H + 1) - 1, 7 * (W + 1) - 1, 3)
    assert decode_uri(m.strip).shape == (H, 8 * (W + 1) - 1, 3)
    assert np.array_equal(decode_uri(m.image), state.dataset.images[5])
    members = str(model_cb.members_outputs(state, "/model", c).to_plotly_json())
    serials, _ = state.mixture.members(v, c)
    assert members.count("ll-member ") == len(serials) and "data:image/png;base64," in members


def test_the_feedback_surface_keeps_the_images_shape(state):
    fig = explain._figure(state, 4)
    assert fig["layout"]["yaxis"]["scaleratio"] == pytest.approx(H / W)
    assert np.array_equal(decode_uri(fig["layout"]["images"][0]["source"]), state.dataset.images[4])
    assert "scaleratio" not in feedback_figures.feedback_figure(None)["layout"]["yaxis"]  # square: as before


def _ready(state, client: str, serial: int):
    """The saliency answer for ``serial``, asking again while the worker starts up."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < 120:
        ans = state.xai.ask(client, serial, "pred", 1.0)
        while ans is not None and ans.state == "pending" and time.monotonic() - t0 < 120:
            ans = state.xai.poll(client, 0.5)
        if ans is not None and ans.state == "ready":
            return ans
        time.sleep(0.2)
    raise AssertionError(f"no saliency of #{serial}")


def test_the_saliency_is_drawn_over_the_colour_image(state):
    ans = _ready(state, "c1", 7)
    view = saliency_view(ans, state.dataset.images[7])
    assert view["state"] == "ready"
    srcs = [i["src"] for i in view["images"]]
    assert len(srcs) == 3  # Grad-CAM, SmoothGrad, consensus (the worker's, with the focus box)
    for src in srcs:
        assert decode_uri(src).shape == (H * 7, W * 7, 3)  # engine.images.overlay_scale(24, 32) == 7
    # where the saliency is lowest the overlay is the colour image itself, in 7x7 blocks
    px = decode_uri(srcs[0])
    heat = np.asarray(ans.result.maps["gradcam"], np.float32)
    y, x = np.unravel_index(np.argmin(heat), heat.shape)
    block = px[y * 7 : y * 7 + 7, x * 7 : x * 7 + 7].reshape(-1, 3).astype(int)
    assert np.abs(block - state.dataset.images[7, y, x].astype(int)).max() <= 2


def test_the_app_on_a_colour_set_with_a_config_that_names_no_shape(tmp_path):
    """`latentloop app --dataset rgb` with the default model settings: the model takes the
    dataset's shape and classes (engine.config.fit_to_dataset), predicts every image, and a run
    started from the page trains that model."""
    from engine.config import from_dict

    d = tiny_config_dict(steps=4)
    d["data"] = {"name": "rgb"}
    for key in ("image_shape", "image_size", "num_classes", "components"):
        d["model"].pop(key, None)
    ds = colour_dataset(60, 20, H, W)
    with app_state(tmp_path, 60, 20, from_dict(d), dataset=ds) as st:
        model = st.session.trainer.cfg.model
        assert (model.image_shape, model.num_classes, model.components) == ((H, W, 3), 4, 10)
        assert st.cache.current is not None and len(st.cache.current.probs) == len(st.dataset)
        st.labels.set_many({0: int(st.dataset.targets[0])}, source="test")
        assert st.session.start_from_panel({**st.session.panel_defaults(), "steps": 4}) == {}
        assert st.session.wait(120)
        assert st.session.trainer.step == 4
