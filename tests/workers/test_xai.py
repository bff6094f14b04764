"""XAI: Grad-CAM against a hand computation, saliency post-processing, the worker process and
its supervisor (a killed worker is restarted)."""

from __future__ import annotations

import base64
import json
import os
import signal
import time

import numpy as np
import pytest

from engine.analysis.saliency import consensus, normalise
from engine.backends.base import param_shapes
from engine.backends.registry import create_backend
from engine.config import ModelConfig
from engine.images import overlay_png
from workers.messages import WorkerError, WorkerStatus, XaiRequest, XaiResult, from_dict, to_dict
from workers.saliency import agreement, focus_bbox

# -- Grad-CAM by hand ---------------------------------------------------------------------

SMALL = ModelConfig(
    image_shape=(8, 8, 1), latent_dim=2, components=2, num_classes=2, enc_channels=(2, 3), hidden=8, dropout=0.0
)


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Stride-2, padding-1 convolution written out as loops (x [Cin,H,W], w [Cout,Cin,4,4])."""
    _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.zeros((w.shape[0], h // 2, wd // 2))
    for o in range(w.shape[0]):
        for i in range(h // 2):
            for j in range(wd // 2):
                out[o, i, j] = (xp[:, 2 * i : 2 * i + 4, 2 * j : 2 * j + 4] * w[o]).sum() + b[o]
    return out


def _head_logp(fmap: np.ndarray, W: dict, target: int) -> float:
    h = np.maximum(W["enc.fc.weight"] @ fmap.reshape(-1) + W["enc.fc.bias"], 0)
    logits = W["enc.comp.weight"] @ h + W["enc.comp.bias"]
    q = np.exp(logits - logits.max())
    q /= q.sum()
    return float(np.log((q @ W["tau"])[target] + 1e-8))


def _upsample_bilinear(m: np.ndarray, size: int) -> np.ndarray:
    """Half-pixel-centre bilinear resize (align_corners=False), clamped at the edges."""
    n = m.shape[0]
    src = (np.arange(size) + 0.5) * n / size - 0.5
    src = np.clip(src, 0, n - 1)
    i0 = np.floor(src).astype(int)
    i1 = np.minimum(i0 + 1, n - 1)
    f = src - i0
    rows = m[i0] * (1 - f)[:, None] + m[i1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i1] * f[None, :]


def test_gradcam_matches_a_hand_computation():
    rng = np.random.default_rng(4)
    W = {k: rng.normal(0, 0.5, s) for k, s in param_shapes(SMALL).items()}
    W["tau"] = np.array([[0.9, 0.1], [0.2, 0.8]])
    x = rng.random((8, 8))
    fmap = np.maximum(
        _conv(
            np.maximum(_conv(x[None], W["enc.conv1.weight"], W["enc.conv1.bias"]), 0),
            W["enc.conv2.weight"],
            W["enc.conv2.bias"],
        ),
        0,
    )
    b = create_backend("torch", SMALL)
    b.set_weights({k: v.astype(np.float32) for k, v in W.items()})
    peaks = []
    for target in (0, 1):
        grad = np.zeros_like(fmap)
        eps = 1e-6
        for idx in np.ndindex(fmap.shape):  # central differences: no autograd involved
            up, down = fmap.copy(), fmap.copy()
            up[idx] += eps
            down[idx] -= eps
            grad[idx] = (_head_logp(up, W, target) - _head_logp(down, W, target)) / (2 * eps)
        cam = np.maximum((grad.mean(axis=(1, 2))[:, None, None] * fmap).sum(0), 0)
        expected = _upsample_bilinear(cam, 8)
        got = b.saliency(x.astype(np.float32), target, "gradcam")
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
        peaks.append(expected.max())
    assert max(peaks) > 0.01  # the case is not trivially zero


# -- post-processing -------------------------------------------------------------------------


def test_consensus_agreement_and_box():
    a = np.zeros((10, 10))
    a[2:5, 6:9] = 1.0
    b = a * 3 + 0.01
    c = consensus([a, b])
    assert c.max() == 1.0 and c[3, 7] == 1.0 and c[0, 0] < 0.01
    ag = agreement(a, b)
    assert ag["correlation"] == pytest.approx(1.0) and ag["top_overlap"] == pytest.approx(1.0)
    assert agreement(a, a[::-1], top=0.09)["top_overlap"] == 0.0  # the 9 hot pixels, disjoint
    assert focus_bbox(a) == [0.6, 0.2, 0.9, 0.5]
    assert focus_bbox(np.ones((10, 10))) is None  # nothing stands out
    assert focus_bbox(np.zeros((10, 10))) is None
    png = overlay_png(np.zeros((10, 10), np.uint8), a, [0.6, 0.2, 0.9, 0.5], scale=4)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert normalise(np.array([[-1.0, 2.0]])).tolist() == [[0.0, 1.0]]


def test_worker_messages_round_trip():
    msgs = [
        XaiRequest(1, 5, "true", ("gradcam",)),
        XaiRequest(2, 6, 3),
        XaiResult(
            1,
            5,
            100,
            3,
            "pred",
            [{"class": 3, "p": 0.9}],
            {"gradcam": [[0.0, 1.0]]},
            {"correlation": 0.5, "top_overlap": 0.2},
            None,
            "AAAA",
            12.5,
        ),
        WorkerError("xai", "boom", 3),
        WorkerStatus("xai", "running", 123, 2, "exited", 1.0),
    ]
    for m in msgs:
        assert from_dict(json.loads(json.dumps(to_dict(m)))) == m
    with pytest.raises(ValueError):
        from_dict({"type": "nope"})


# -- the engine and the process ------------------------------------------------------------------


@pytest.fixture
def snapshot(home, tiny_cfg):
    from engine.datasets import load_dataset
    from engine.stores.labels import label_store_for
    from engine.training.trainer import Trainer

    ds = load_dataset("synth")
    tr = Trainer(tiny_cfg, ds, label_store_for("synth", ds.n_train, 10), snapshot_dir=home / "artifacts/snapshots/run1")
    tr.run(steps=3)
    return home / "artifacts/snapshots"


def test_xai_engine_answers_caches_and_names_the_snapshot(snapshot):
    from engine.datasets import load_dataset
    from workers.xai import XaiEngine

    eng = XaiEngine(load_dataset("synth"), snapshot)
    r = eng.answer(XaiRequest(1, 7))
    assert r.snapshot_step == 3 and r.target == r.top_k[0]["class"] and r.target_kind == "pred"
    assert set(r.maps) == {"gradcam", "smoothgrad", "consensus"}
    assert np.array(r.maps["consensus"]).shape == (28, 28)
    assert base64.b64decode(r.overlay_png_b64)[:4] == b"\x89PNG" and r.ms > 0 and not r.cached
    again = eng.answer(XaiRequest(2, 7))
    assert again.cached and again.request_id == 2 and again.maps == r.maps
    other = eng.answer(XaiRequest(3, 7, target=(r.target + 1) % 10))
    assert other.target == (r.target + 1) % 10 and not other.cached
    assert eng.answer(XaiRequest(4, 7, target="true")).target_kind == "true"
    # the predicted class asked for by number: served from the cache, reported as asked
    by_number = eng.answer(XaiRequest(6, 7, target=r.target))
    assert by_number.cached and by_number.target_kind == "class" and by_number.maps == r.maps
    with pytest.raises(ValueError):
        eng.answer(XaiRequest(5, 10**6))


def _wait(pred, timeout=240.0):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_xai_worker_process_is_restarted_after_a_kill(home, snapshot):
    from workers.supervisor import WorkerSupervisor
    from workers.xai import xai_main

    sup = WorkerSupervisor(poll_s=0.1)
    sup.add("xai", xai_main, home=str(home), dataset="synth", snapshot_root=str(snapshot))
    sup.start()
    try:

        def result_for(req_id):
            def get():
                sup.send("xai", to_dict(XaiRequest(req_id, 3)))
                for m in sup.results("xai"):
                    if m.get("request_id") == req_id:
                        return m
                return None

            return get

        first = _wait(result_for(1))
        assert first["type"] == "xai_result" and first["snapshot_step"] == 3
        pid = sup.pid("xai")
        os.kill(pid, signal.SIGKILL)
        _wait(lambda: sup.status()[0].state == "restarting")
        st = _wait(lambda: (s := sup.status()[0]).restarts == 1 and sup.pid("xai") and s)
        assert sup.pid("xai") != pid and "exited" in st.last_error
        second = _wait(result_for(2))
        assert second["type"] == "xai_result"
        sup.send("xai", {"type": "garbage"})
        err = _wait(lambda: [m for m in sup.results("xai") if m["type"] == "worker_error"])
        assert "garbage" in err[0]["message"]
        assert sup.pid("xai")  # a bad request does not kill it
    finally:
        sup.stop()
    assert sup.status()[0].state == "stopped"


def test_a_dense_encoder_explains_with_smoothgrad_only():
    """No convolutional map, no Grad-CAM: the XAI view still gets a map (SmoothGrad), no consensus."""
    from engine.analysis.saliency import explain

    cfg = ModelConfig(latent_dim=4, components=10, num_classes=10, hidden=16, encoder="dense")
    be = create_backend("torch", cfg)
    be.init(0)
    x = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    maps = explain(be, x, 3, ("gradcam", "smoothgrad", "consensus"), samples=4)
    assert set(maps) == {"smoothgrad"} and maps["smoothgrad"].max() == pytest.approx(1.0)
    assert set(explain(be, x, 3, ("gradcam",), samples=4)) == {"smoothgrad"}
    conv = create_backend("torch", cfg.model_copy(update={"encoder": "conv"}))
    assert set(explain(conv, x, 3, ("gradcam", "smoothgrad", "consensus"), samples=4)) == {
        "gradcam",
        "smoothgrad",
        "consensus",
    }
