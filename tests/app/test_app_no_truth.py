"""A dataset without ground truth in the dashboard, below the browser (issue 24, "No ground truth"):
every true class is unknown and there is no test split (a flat folder imported without classes).
The accuracy is on held-out user labels, the True class mode is not offered, and label issues,
probes on the user's labels, the forecast and the Model page work on it without a -1 class."""

from __future__ import annotations

import numpy as np
import pytest

from app.callbacks import holdout as holdout_cb
from app.callbacks import model as model_cb
from app.layouts import stats as stats_layout
from app.layouts.latent_map import map_card
from app.presenter import views
from app.services.label_issues import SUSPICIOUS
from app.testing import app_state
from engine.stores import holdout
from tests.helpers import tiny_config_dict

N = 400
TASKS = [{"name": "digit", "kind": "classification", "input": "z"}]


def no_truth_dataset(n: int = N, name: str = "mine"):
    """synth's images with every class unknown and no test split; ``.truth`` keeps the classes the
    test uses to label (as a person would)."""
    from engine.datasets import Dataset, synthetic_dataset

    src = synthetic_dataset(n, 1, seed=0)
    ds = Dataset(name, src.images[:n], np.full(n, -1, np.int64), n, src.num_classes, unknown_targets=True)
    return ds, src.targets[:n].copy()


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """An AppState on the dataset after 150 labels (15 per class) and a short training run."""
    from engine.config import from_dict

    ds, truth = no_truth_dataset()
    cfg = from_dict({**tiny_config_dict(steps=60), "data": {"name": "mine"}, "tasks": TASKS})
    with app_state(tmp_path_factory.mktemp("home"), N, 0, cfg, dataset=ds) as st:
        chosen = np.concatenate([np.flatnonzero(truth == c)[:15] for c in range(ds.num_classes)])
        st.labels.set_many({int(s): int(truth[s]) for s in chosen}, source="test")
        assert st.session.start_from_panel({**st.session.panel_defaults(), "steps": 60, "refresh_every": 30}) == {}
        assert st.session.wait(300)
        st.session.drain()
        assert st.pump.wait(120) and st.probes.wait(120)
        st.truth = truth
        yield st


def test_the_stats_panel_says_held_out_labels_with_their_count_and_fraction(state):
    sv = views.stats_view(state, state.label_reader.read())
    assert sv.split == "held-out" and state.session.last_eval["split"] == "held-out"
    held = len(holdout.label_split(state.label_reader.read(), 0.2)[1])
    assert sv.holdout is not None and (sv.holdout.fraction, sv.holdout.held, sv.holdout.labelled) == (0.2, held, 150)
    assert 15 < held < 50 and sv.accuracy.endswith(f"on {held} held-out labels") and "±" in sv.accuracy
    text = str(stats_layout.stats_text(sv).to_plotly_json())
    assert "accuracy on held-out labels" in text and "test accuracy" not in text
    assert "of 150 labels (fraction 0.2)" in text and "never trained on" in text


def test_the_fraction_is_changed_from_the_panel_and_the_trainer_follows(state):
    ctx = state.page_context({})
    assert ctx.holdout_fraction == 0.2 and ctx.has_truth is False
    assert "holdout-fraction" in str(stats_layout.stats_card(ctx).to_plotly_json())
    for bad, says in (("lots", "is not a number"), ("0.9", "outside 0..0.5"), (None, "enter a held-out fraction")):
        msg = str(holdout_cb.holdout_outputs(state, "holdout-fraction", bad)["message"].to_plotly_json())
        assert says in msg and "text-danger" in msg
    assert holdout.read_fraction(state.holdout.data_dir) == 0.2  # refused: nothing written
    before = len(state.session.trainer.held_out_rows)
    msg = str(holdout_cb.holdout_outputs(state, "holdout-fraction", "30%")["message"].to_plotly_json())
    assert "set to 0.3" in msg and holdout.read_fraction(state.holdout.data_dir) == 0.3
    # idle: the trainer reads it at once (a running one at its next label poll), so the next run
    # never trains on a label that is now held out
    assert len(state.session.trainer.held_out_rows) > before
    assert not state.session.trainer.reload_labels()  # already current
    assert views.stats_view(state, state.label_reader.read()).holdout.fraction == 0.3
    holdout.write_fraction(state.holdout.data_dir, 0.2)
    state.session.trainer.reload_labels()


def test_the_true_class_mode_is_not_offered_and_no_sample_shows_class_minus_one(state):
    ctx = state.page_context({})
    card = str(map_card(ctx).to_plotly_json())
    assert "'value': 'label'" in card and "'value': 'true'" not in card and "True class" not in card
    assert views.sample_view(state, 3).true is None
    v = state.cache.current
    assert v.true_known is not None and not v.true_known.any()


def test_label_issues_rank_the_users_labels(state):
    qv = views.queue_view(state, SUSPICIOUS)
    assert "suspicious of" in qv.source or qv.items, qv.source
    for c in qv.items:
        assert "-1" not in c.why


def test_probes_fit_on_the_users_labels_and_score_on_the_held_out_ones(state):
    row = next(r for r in state.probes.view().rows if r.task.name == "digit")
    assert row.error == "", row.error
    assert row.note.startswith("your labels: fit on") and "held-out labels (no true classes)" in row.note
    assert "digit|target" not in str(state.probes.colour_options())  # the user's labels: the User label mode
    res = state.probes._run.results["digit"]
    held = len(holdout.label_split(state.label_reader.read(), 0.2)[1])
    assert res.n_test == held and res.n_train == 150 - held
    target = state.probes._run.targets["digit"]
    assert set(np.unique(target[target >= 0]).tolist()) <= set(range(10))


def test_the_model_page_marks_members_against_the_users_labels(state):
    v = state.cache.current
    c = int(np.bincount(v.component[: state.n_train]).argmax())
    labels = state.label_reader.read()
    serials, ok = state.mixture.members(v, c, labels)
    known = labels[serials] >= 0
    assert ((ok >= 0) == known).all()  # unknown (-1) where the user gave no label
    assert (ok[known] == (v.probs[serials[known]].argmax(1) == labels[serials[known]])).all()
    html = str(model_cb.members_outputs(state, "/model", c).to_plotly_json())
    assert "matches your label" in html and "matches the true class" not in html
    first = model_cb.refresh_outputs(state, "/model", None)
    assert first["tau"]["data"][0]["type"] == "heatmap"


def test_the_forecast_runs_on_the_held_out_accuracy(state):
    from workers.forecast.model import Forecaster, GateConfig

    v = state.cache.current
    labels = state.label_reader.read()
    fc = Forecaster(k=5, gates=GateConfig(min_steps=0, min_history=1))
    acc = state.session.last_eval["test_acc"]
    for step in (10, 20, 30):
        res = fc.update(v.probs, labels, None, v.mu, version=step, step=step, test_acc=acc, acc_split="held-out")
    assert len(res.candidates) == 5 and all(labels[c["sample_idx"]] < 0 for c in res.candidates)
    assert all(0 <= c["predicted"] < state.num_classes for c in res.candidates)
    assert res.gates["better_than_chance"]["source"] == "held-out_acc" and "held-out accuracy" in res.reason


def test_curves_checkpoints_and_run_comparisons_name_the_held_out_split(state):
    from app.layouts.checkpoints import checkpoint_options
    from app.layouts.training import training_card
    from app.server import layout_context

    ctx = layout_context(state)
    assert ctx.acc_split == "held-out"
    card = str(training_card(ctx).to_plotly_json())
    assert "accuracy on held-out labels" in card and "test accuracy" not in card
    labels = [o["label"] for o in checkpoint_options(state.ckpt.list())]
    assert labels and all("held-out acc" in s and "labels" in s for s in labels), labels
    branch = next(r for r in state.runs.rows(force=True) if r.kind == "branch")
    assert branch.accuracy_of == "held-out labels"
    series, problems = state.runs.curves([branch.id], "accuracy")
    assert series and all(s.name.endswith("(held-out labels)") for s in series), (series, problems)


def test_the_component_rings_check_against_the_users_labels_and_grey_the_rest(state):
    import base64

    from app import figures

    v = state.cache.current
    c = int(np.bincount(v.component[: state.n_train]).argmax())
    labels = state.label_reader.read()
    trace = figures.highlight_trace(v, c, labels)
    ok = np.frombuffer(base64.b64decode(trace["marker"]["color"]["bdata"]), np.uint8)
    serials = np.flatnonzero(v.component[: state.n_train] == c)
    lab = labels[serials]
    assert ((ok == 1) == (lab < 0)).all()  # grey: no true class and no label
    assert (ok[lab >= 0] == 2 * (v.pred[serials][lab >= 0] == lab[lab >= 0])).all()


def test_a_dataset_with_test_truth_keeps_the_test_wording_and_the_true_class_mode():
    from types import SimpleNamespace

    from app.viewmodels import StatsView
    from engine.reports.accuracy import describe_accuracy

    sv = StatsView([5, 5], 10, 50, 0.971, 40, 0, accuracy=describe_accuracy(0.971, 10000, "test"), split="test")
    text = str(stats_layout.stats_text(sv).to_plotly_json())
    assert "test accuracy" in text and "97.1% on 10000 test images" in text and "held out" not in text
    assert "holdout-fraction" not in str(
        stats_layout.stats_card(SimpleNamespace(holdout_fraction=None)).to_plotly_json()
    )
    ctx = SimpleNamespace(has_truth=True, probe_options=[], projection="pca", class_names=["0", "1"])
    assert "'value': 'true'" in str(map_card(ctx).to_plotly_json())
