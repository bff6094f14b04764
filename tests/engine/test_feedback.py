"""ROI feedback: the instruction parser, the shared store, and that feedback changes the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.stores.feedback import FeedbackError, FeedbackStore, parse_instruction

CASES = [
    ("focus center", (0.25, 0.25, 0.75, 0.75)),
    ("focus centre", (0.25, 0.25, 0.75, 0.75)),
    ("ignore the borders", (0.15, 0.15, 0.85, 0.85)),
    ("top-left", (0.0, 0.0, 0.5, 0.5)),
    ("top left", (0.0, 0.0, 0.5, 0.5)),
    ("upper right", (0.5, 0.0, 1.0, 0.5)),
    ("bottom right corner", (0.5, 0.5, 1.0, 1.0)),
    ("left bottom", (0.0, 0.5, 0.5, 1.0)),
    ("focus on the top", (0.0, 0.0, 1.0, 0.5)),
    ("look at the right side", (0.5, 0.0, 1.0, 1.0)),
    ("x0=0.1 y0=0.2 x1=0.6 y1=0.9", (0.1, 0.2, 0.6, 0.9)),
]


@pytest.mark.parametrize("text, box", CASES)
def test_regions(text, box):
    p = parse_instruction(text)
    assert p.action == "set" and p.box == pytest.approx(box)
    assert "look inside" in p.describe()


def test_corners_are_corners_not_halves():
    assert parse_instruction("bottom right corner").box != parse_instruction("bottom").box
    assert parse_instruction("top-left").box != parse_instruction("top").box


def test_stop_focus_is_not_top():
    p = parse_instruction("stop focus")
    assert p.action == "remove" and p.box is None
    assert parse_instruction("stop").action == "remove"


def test_strength_instructions():
    assert parse_instruction("strength 0.3", (0.1, 0.1, 0.5, 0.5)).strength == pytest.approx(0.3)
    p = parse_instruction("increase focus by 10%", (0.1, 0.1, 0.5, 0.5), strength=1.0)
    assert p.strength == pytest.approx(1.1) and p.box == (0.1, 0.1, 0.5, 0.5)
    assert parse_instruction("decrease by 20 percent", strength=2.0).strength == pytest.approx(1.6)
    p = parse_instruction("focus center strength 0.5")
    assert p.box == (0.25, 0.25, 0.75, 0.75) and p.strength == 0.5


def test_drawn_box_is_kept_unless_a_region_is_named():
    drawn = (0.2, 0.2, 0.4, 0.9)
    assert parse_instruction("", drawn).box == drawn
    p = parse_instruction("top-left", drawn)
    assert p.box == (0.0, 0.0, 0.5, 0.5) and "replaces the drawn box" in p.describe()


@pytest.mark.parametrize(
    "text", ["make it better", "x0=0.1 y0=0.2 x1=0.6", "x0=0.7 y0=0.2 x1=0.6 y1=0.9", "strength 99"]
)
def test_unreadable_instructions_are_errors(text):
    with pytest.raises(FeedbackError):
        parse_instruction(text)


def test_store_add_replace_list_remove(tmp_path):
    s = FeedbackStore(tmp_path / "feedback.jsonl", n_samples=100)
    s.add(5, (0.1, 0.1, 0.5, 0.5), 1.0, "top-left")
    s.add(7, (0.5, 0.5, 1.0, 1.0), 0.3)
    s.add(5, (0.2, 0.2, 0.8, 0.8), 2.0, "again")  # replaces sample 5's box
    items = s.list()
    assert [(i.sample_idx, i.strength) for i in items] == [(7, 0.3), (5, 2.0)]
    assert items[1].box == (0.2, 0.2, 0.8, 0.8) and items[1].id == 3
    assert s.remove(7) and not s.remove(7)
    lines = (tmp_path / "feedback.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["instruction"] == "again"
    with pytest.raises(FeedbackError, match="not a training sample"):
        s.add(100, (0.1, 0.1, 0.5, 0.5))
    with pytest.raises(FeedbackError, match="x0 < x1"):
        s.add(1, (0.5, 0.1, 0.5, 0.5))


def test_corrupt_feedback_file_is_a_clear_error_and_untouched(tmp_path):
    p = tmp_path / "feedback.jsonl"
    p.write_bytes(b'{"sample_idx": 1, "x0": 0, "y0": 0, "x1": 1, "y1": 1}\nnot json\n')
    before = p.read_bytes()
    s = FeedbackStore(p, 10)
    with pytest.raises(FeedbackError, match="line 2"):
        s.list()
    with pytest.raises(FeedbackError):
        s.add(2, (0.1, 0.1, 0.2, 0.2))
    assert p.read_bytes() == before


def test_cli_feedback(home, capsys):
    from latentloop.cli import main

    assert main(["feedback", "--dataset", "synth", "add", "3", "-i", "bottom right corner"]) == 0
    assert "x 0.50-1.00, y 0.50-1.00" in capsys.readouterr().out
    assert main(["feedback", "--dataset", "synth", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["sample_idx"] == 3
    assert main(["feedback", "--dataset", "synth", "add", "3", "-i", "stop focus"]) == 0
    assert main(["feedback", "--dataset", "synth", "rm", "3"]) == 2
    assert main(["feedback", "parse", "top-left"]) == 0


def _outside_gradient_share(backend, x: np.ndarray, mask: np.ndarray, target: int) -> float:
    g = backend.saliency(x, target, "gradient")
    return float((g * (1 - mask)).sum() / (g.sum() + 1e-12))


def test_feedback_moves_the_input_gradient_into_the_box(home):
    """Right for the right reasons: with a box on a few samples the input gradient outside the box
    shrinks for them, compared with the same training without feedback."""
    from engine.backends.base import Out
    from engine.config import from_dict
    from engine.datasets import load_dataset, oracle_labels
    from engine.stores.labels import label_store_for
    from engine.training.augment import roi_mask
    from engine.training.trainer import Trainer
    from tests.helpers import tiny_config_dict

    cfg = from_dict(tiny_config_dict(steps=120, eval_every=1000))  # loss.roi at its default
    ds = load_dataset("synth")
    store = label_store_for("synth", ds.n_train, ds.num_classes)
    store.set_many(oracle_labels(ds, 5, 0), source="test")
    box = (0.0, 0.0, 0.5, 0.5)
    mask = roi_mask(box, *ds.image_shape[:2])
    samples = [0, 1, 2, 3]
    shares = {}
    for with_fb in (False, True):
        tr = Trainer(cfg, ds, store)
        if with_fb:
            tr.set_feedback(
                [
                    {"sample_idx": i, "x0": box[0], "y0": box[1], "x1": box[2], "y1": box[3], "strength": 1.0}
                    for i in samples
                ]
            )
        tr.run(steps=120)
        x = ds.float_images(np.array(samples))
        preds = tr.backend.predict(x)[Out.PROBS].argmax(1)
        shares[with_fb] = np.mean(
            [_outside_gradient_share(tr.backend, x[i], mask, int(preds[i])) for i in range(len(samples))]
        )
    # measured: 0.75 of the gradient outside the box without feedback, 0.21 with it (the unnormalised
    # penalty of before, at roi 50: 0.55)
    assert shares[True] < shares[False] * 0.5, shares


# -- the roi term: the share of the squared input gradient outside the box -------------------------

ROI_BACKENDS = ["torch", "tensorflow", "jax"]


def _roi_batch(mask_value: float | None = None):
    """The conformance batch with feedback on rows 0..3 (box = left half, or a constant mask)."""
    from tests.engine.test_backend_conformance import make_batch

    b = make_batch(roi=True)
    if mask_value is not None:
        b["roi_mask"][:4] = mask_value
    return b


@pytest.mark.parametrize("name", ROI_BACKENDS)
def test_roi_is_a_share_between_0_and_1(name):
    """No box at all (mask 0) scores exactly 1 and a whole-image box 0, whatever the weights; the
    unnormalised sum of squared gradients would depend on the weights' scale."""
    from engine.backends.registry import create_backend
    from tests.engine.test_backend_conformance import CFG, reference_weights

    be = create_backend(name, CFG)
    be.set_weights(reference_weights())
    assert be.loss(_roi_batch(0.0))["roi"] == pytest.approx(1.0, abs=1e-5)
    assert be.loss(_roi_batch(1.0))["roi"] == pytest.approx(0.0, abs=1e-7)
    half = be.loss(_roi_batch())["roi"]
    assert 0.0 < half < 1.0
    b = _roi_batch()
    b["roi_weight"][:4] = 2.5  # strength scales the term linearly
    assert be.loss(b)["roi"] == pytest.approx(2.5 * half, rel=1e-5)


@pytest.mark.parametrize("name", ROI_BACKENDS)
def test_shrinking_the_classifier_does_not_lower_the_roi_term(name):
    """A model whose output ignores the input satisfied the old penalty (sum of squared gradients
    outside the box), so strong feedback collapsed the classifier. Scaling the component logits
    down by 10x shrinks every input gradient ~10x but leaves the share outside the box unchanged."""
    from engine.backends.registry import create_backend
    from tests.engine.test_backend_conformance import CFG, reference_weights

    be = create_backend(name, CFG)
    w = reference_weights()
    rois, grads = [], []
    for c in (1e-2, 1e-3):
        wc = dict(w)
        wc["enc.comp.weight"] = w["enc.comp.weight"] * c
        wc["enc.comp.bias"] = w["enc.comp.bias"] * c
        be.set_weights(wc)
        rois.append(be.loss(_roi_batch())["roi"])
        grads.append(float((be.saliency(_roi_batch()["x"][0], 0, "gradient") ** 2).sum()))
    assert grads[1] < grads[0] / 50  # the gradients did shrink (~100x in squares)
    assert rois[1] == pytest.approx(rois[0], rel=0.02), rois
    assert 0.05 < rois[0] < 0.95


def _first_gradient(name: str, batch: dict) -> dict[str, np.ndarray]:
    """The gradient a training step applied, from Adam's state: from zero moments the first moment
    after one step is (1 - beta1) g. Comparing weights after a step would not show it: Adam's first
    step is ~lr * sign(g) whatever g's size."""
    from engine.backends.registry import create_backend
    from tests.engine.test_backend_conformance import CFG, reference_weights

    be = create_backend(name, CFG)  # fresh: Adam moments are zero
    be.set_weights(reference_weights())
    be.train_step(batch)
    state = be.get_optimizer_state()
    assert int(state["adam.step"]) == 1
    return {k[len("adam.m.") :]: v / (1.0 - 0.9) for k, v in state.items() if k.startswith("adam.m.")}


def _roi_weighted(w_roi: float) -> dict:
    b = _roi_batch()
    b["w"] = b["w"].copy()
    b["w"][6] = w_roi
    return b


def _norm(g: dict[str, np.ndarray]) -> float:
    return float(np.sqrt(sum(float((v.astype(np.float64) ** 2).sum()) for v in g.values())))


def test_roi_gradient_is_the_same_in_every_backend():
    """The training gradient with the roi term (a second-order gradient: grad of a gradient share,
    then capped) agrees across backends for every parameter, and the roi term changes it."""
    grads = {name: _first_gradient(name, _roi_weighted(1.0)) for name in ROI_BACKENDS}
    ref = grads[ROI_BACKENDS[0]]
    scale = max(float(np.abs(g).max()) for g in ref.values())
    without = _first_gradient(ROI_BACKENDS[0], _roi_weighted(0.0))
    roi_part = {k: ref[k] - without[k] for k in ref}
    assert _norm(roi_part) > 0.1 * _norm(without)  # the roi gradient reached the weights
    # through the input gradient's conv path
    assert float(np.abs(roi_part["enc.conv1.weight"]).max()) > 1e-3 * float(np.abs(ref["enc.conv1.weight"]).max())
    for name in ROI_BACKENDS[1:]:
        for k, g in ref.items():
            np.testing.assert_allclose(grads[name][k], g, rtol=1e-3, atol=1e-4 * scale, err_msg=f"{name} {k}")


@pytest.mark.parametrize("name", ROI_BACKENDS)
def test_a_huge_roi_weight_pulls_no_harder_than_the_other_terms(name):
    """The seed-2 collapse at roi 10 (docs/accuracy.md): while the classifier's output was near
    uniform its input gradient was tiny, the scale-free share's gradient ~1/|dS/dx| huge (up to
    ~670x the other terms'), and Adam's second moments held the classifier at chance. The step caps
    the roi term's gradient at ROI_GRAD_CAP times the rest's norm: known answer, whatever w_roi."""
    from engine.backends.base import ROI_GRAD_CAP

    rest = _first_gradient(name, _roi_weighted(0.0))
    huge = _first_gradient(name, _roi_weighted(1e4))
    assert all(np.isfinite(v).all() for v in huge.values())
    roi_part = {k: huge[k] - rest[k] for k in rest}
    assert _norm(roi_part) == pytest.approx(ROI_GRAD_CAP * _norm(rest), rel=1e-3)
    # capped, the weight no longer matters: twice as huge gives the same step
    twice = _first_gradient(name, _roi_weighted(2e4))
    for k in huge:
        np.testing.assert_allclose(twice[k], huge[k], rtol=1e-4, atol=1e-6 * _norm(rest), err_msg=k)


def test_the_cap_leaves_a_small_roi_term_alone():
    """Below the cap the roi gradient is applied whole: doubling a small weight doubles its part."""
    rest = _first_gradient("torch", _roi_weighted(0.0))
    parts = []
    for w_roi in (1e-3, 2e-3):
        g = _first_gradient("torch", _roi_weighted(w_roi))
        parts.append({k: g[k] - rest[k] for k in rest})
    assert 0.0 < _norm(parts[0]) < 0.5 * _norm(rest)  # below the cap
    assert _norm(parts[1]) == pytest.approx(2 * _norm(parts[0]), rel=0.02)
