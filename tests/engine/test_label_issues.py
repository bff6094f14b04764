"""Label issues: leave-one-out tau, the cleanlab ranking, accepted labels (store and CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.analysis.label_issues import (
    NeighbourhoodIndex,
    cv_probe_probs,
    loo_tau_probs,
    rank_label_issues,
    score_labels,
)
from engine.config import ModelConfig
from engine.errors import LabelError
from engine.stores.labels import LabelStore
from engine.training.tau import TauClassifier
from latentloop.cli import main
from tests.helpers import tiny_config_dict

K, C = 10, 10


def clustered(n_per_class: int, seed: int = 0, d: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true classes, responsibilities, latent means) of well separated classes: component c
    carries class c, each sample's q is mostly on its class's component."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(C), n_per_class)
    resp = rng.dirichlet(np.full(K, 0.3), size=len(y)) * 0.3
    resp[np.arange(len(y)), y] += 0.7
    centres = rng.normal(0, 5, (C, d))
    mu = centres[y] + rng.normal(0, 1, (len(y), d))
    return y, resp.astype(np.float32), mu.astype(np.float32)


def flip(y: np.ndarray, fraction: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(y), round(fraction * len(y)), replace=False)
    noisy = y.copy()
    noisy[idx] = (y[idx] + rng.integers(1, C, len(idx))) % C
    return noisy, np.isin(np.arange(len(y)), idx)


def test_loo_tau_equals_tau_counted_without_the_sample() -> None:
    cfg = ModelConfig(latent_dim=4, components=K, num_classes=C, enc_channels=[4, 4], hidden=8, dropout=0.0)
    y, resp, _ = clustered(3)
    tau = TauClassifier(cfg)
    fast = loo_tau_probs(resp, y, tau.prior_counts)
    for i in (0, 7, 29):
        keep = np.arange(len(y)) != i
        tau.update(resp[keep], y[keep])
        slow = resp[i].astype(np.float64) @ tau.matrix.astype(np.float64)
        np.testing.assert_allclose(fast[i], slow / slow.sum(), atol=1e-5)
    # and not the plain tau: the sample's own vote is gone
    tau.update(resp, y)
    assert not np.allclose(fast[0], resp[0] @ tau.matrix, atol=1e-5)


def test_planted_flips_are_found_even_when_the_encoder_memorised_them() -> None:
    """2,000 samples in 10 latent clusters, 20 labels per class, 10% flipped; training has pulled the
    flipped samples' own q(c|x) onto their wrong class (memorised), their latent means stayed home."""
    y, resp, mu = clustered(200)
    rng = np.random.default_rng(5)
    serials = np.concatenate([rng.choice(np.flatnonzero(y == c), 20, replace=False) for c in range(C)])
    noisy, flipped = flip(y[serials], 0.1)
    memorised = resp.copy()
    memorised[serials[flipped]] = 0.01
    memorised[serials[flipped], noisy[flipped]] = 0.91
    cfg = ModelConfig(latent_dim=4, components=K, num_classes=C, enc_channels=[4, 4], hidden=8, dropout=0.0)
    prior = TauClassifier(cfg).prior_counts
    labelled = np.isin(np.arange(len(y)), serials)
    index = NeighbourhoodIndex(mu, memorised)
    k = int(flipped.sum())

    def recall(ranking) -> float:
        pos = {int(s): i for i, s in enumerate(serials)}
        return float(flipped[[pos[r.serial] for r in ranking.ranked[:k]]].mean())

    args = (serials, noisy, memorised[serials], mu[serials], prior)
    ranking = score_labels(*args, index=index, labelled=labelled)
    assert recall(ranking) >= 0.9
    # the sample's own (memorised) responsibilities cannot see it, leave-one-out tau or not
    assert recall(score_labels(*args, method="tau_loo")) <= 0.2
    suspicious = {r.serial for r in ranking.issues()}
    assert len(suspicious & set(serials[flipped])) >= 0.9 * k and len(suspicious - set(serials[flipped])) <= 5
    first = ranking.ranked[0]
    assert first.given != first.suggested == y[first.serial]
    assert first.reason().startswith(f"labelled {first.given}; model says {first.suggested} (")
    assert f"nearest labelled neighbours say {first.suggested}" in first.reason()
    # the same ranker fed uninformative probabilities finds about the chance share
    chance = rank_label_issues(np.arange(len(serials)), noisy, rng.dirichlet(np.ones(C), len(serials)))
    assert flipped[[r.serial for r in chance.ranked[:k]]].mean() < 0.5


def test_the_neighbourhood_leaves_out_labelled_samples() -> None:
    mu = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]], np.float32)
    resp = np.eye(5, dtype=np.float32)
    index = NeighbourhoodIndex(mu, resp)
    labelled = np.array([True, True, False, False, False])
    got = index.resp_of(np.array([0]), labelled, k=2)
    np.testing.assert_allclose(got[0], [0, 0, 0.5, 0.5, 0])  # 2 and 3, not itself nor labelled 1
    alone = index.resp_of(np.array([0]), np.ones(5, bool), k=2)
    np.testing.assert_allclose(alone[0], resp[0])  # nothing unlabelled around: its own


def test_cv_probe_is_out_of_fold_and_covers_missing_classes() -> None:
    y, _, mu = clustered(10)
    sub = y < 8  # classes 8 and 9 never labelled
    p = cv_probe_probs(mu[sub], y[sub], C)
    assert p.shape == (int(sub.sum()), C) and np.allclose(p[:, 8:], 0)
    assert (p.argmax(1) == y[sub]).mean() > 0.9
    # a duplicated point with a wrong label is not predicted by its own label (out of fold)
    x = np.concatenate([mu[sub], mu[:1]])
    lab = np.concatenate([y[sub], [5]])
    assert cv_probe_probs(x, lab, C)[-1].argmax() == y[0]


def test_accepted_labels_are_left_out() -> None:
    y, resp, mu = clustered(20)
    noisy, _ = flip(y, 0.1)
    prior = TauClassifier(
        ModelConfig(latent_dim=4, components=K, num_classes=C, enc_channels=[4, 4], hidden=8, dropout=0.0)
    ).prior_counts
    serials = np.arange(len(y))
    before = score_labels(serials, noisy, resp, mu, prior, method="tau_loo").issues()
    worst = before[0]
    accepted = {worst.serial: worst.given}
    after = score_labels(serials, noisy, resp, mu, prior, accepted, "tau_loo")
    assert worst.serial not in [r.serial for r in after.issues()]
    assert after.of(worst.serial).accepted  # still scored (the sample panel shows it)
    # an acceptance of another label does not count: the sample was relabelled since
    other = score_labels(serials, noisy, resp, mu, prior, {worst.serial: (worst.given + 1) % C}, "tau_loo")
    assert worst.serial in [r.serial for r in other.issues()]


# -- the accepted-labels file ---------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    s = LabelStore(tmp_path / "labels.csv", 50, C)
    s.set_many({1: 4, 2: 7, 3: 9})
    return s


def test_accept_writes_the_file_and_undo_reverts_it(store: LabelStore) -> None:
    assert store.accept(1)["op"] == "accept"
    assert store.accept(1) is None  # already accepted: no change, no log entry
    assert store.accepted() == {1: 4}
    assert store.accepted_path.read_text() == "Serial,label\n1,4\n"
    store.set(2, 1)
    done = store.undo()  # the relabel first
    assert done["op"] == "set" and store.read()[2] == 7 and store.accepted() == {1: 4}
    done = store.undo()  # then the accept
    assert done["op"] == "accept" and done["changes"] == [{"serial": 1, "old": 4, "new": None}]
    assert store.accepted() == {}
    assert store.read()[1] == 4  # the label itself is untouched
    assert store.undo()["op"] == "set"  # then the original set_many


def test_accept_needs_a_label(store: LabelStore) -> None:
    with pytest.raises(LabelError, match="has no label"):
        store.accept(10)
    assert not store.accepted_path.exists()


@pytest.mark.parametrize(
    "content", [b"Serial,label\n1,4\n1,4\n", b"serial;label\n", b"Serial,label\n1,12\n", b"\x00\x01"]
)
def test_malformed_accepted_file_is_an_error_and_never_rewritten(store: LabelStore, content: bytes) -> None:
    store.accepted_path.write_bytes(content)
    with pytest.raises(LabelError, match=r"labels\.accepted\.csv"):
        store.accepted()
    with pytest.raises(LabelError, match=r"labels\.accepted\.csv"):
        store.accept(2)
    assert store.accepted_path.read_bytes() == content
    assert all(e["op"] != "accept" for e in store.history())


def test_undo_of_an_accept_leaves_a_hand_edited_row_alone(store: LabelStore) -> None:
    store.accept(3)
    store.accepted_path.write_text("Serial,label\n3,9\n2,7\n")  # edited by hand: 2 added
    store.set(3, 5)  # relabelled: the acceptance of 9 no longer applies but stays in the file
    store.undo()
    done = store.undo()
    assert done["op"] == "accept" and store.accepted() == {2: 7}


# -- the CLI ----------------------------------------------------------------------------------------


def test_cli_label_issues_and_accept(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = home / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(tiny_config_dict(steps=40, eval_every=40)))
    assert main(["label", "seed", "--dataset", "synth", "--per-class", "4"]) == 0
    assert main(["train", "-c", str(cfg), "--no-progress"]) == 0
    capsys.readouterr()
    argv = ["label", "issues", "--dataset", "synth", "-c", str(cfg), "--all", "-k", "0", "--format", "json"]
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["labelled"] == 40 and len(res["issues"]) == 40 and res["accepted"] == 0
    first = res["issues"][0]
    assert set(first) == {"serial", "given", "suggested", "quality", "flagged", "reason"}
    assert [r["quality"] for r in res["issues"]] == sorted(r["quality"] for r in res["issues"])

    assert main(["label", "accept", str(first["serial"]), "--dataset", "synth"]) == 0
    assert f"accepted label {first['given']} of #{first['serial']}" in capsys.readouterr().out
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["accepted"] == 1 and first["serial"] not in [r["serial"] for r in res["issues"]]

    assert main(["label", "issues", "--dataset", "synth", "-c", str(cfg), "--format", "csv", "--all", "-k", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "serial,given,suggested,quality,flagged,reason" and len(lines) == 4

    assert main(["label", "issues", "--dataset", "synth", "-c", str(cfg)]) == 0
    assert "suspicious labels of 40 labels" in capsys.readouterr().out

    assert main(["label", "undo", "--dataset", "synth"]) == 0
    assert "(accept)" in capsys.readouterr().out
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] == 0


def test_cli_label_issues_without_a_checkpoint_is_a_clear_error(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["label", "seed", "--dataset", "synth", "--per-class", "1"])
    assert main(["label", "issues", "--dataset", "synth"]) == 2
    assert "no checkpoint 'ssvae'" in capsys.readouterr().err


def test_cleanlab_few_examples_warning_does_not_leak_from_a_thread() -> None:
    """The app ranks label issues in a thread while other threads enter and leave
    ``warnings.catch_warnings``; cleanlab's "too few examples in class" must stay silent anyway."""
    import threading
    import warnings

    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 0, 1, 1, 1, 2])  # class 2 has one example, class 3 none: cleanlab warns
    probs = rng.dirichlet(np.ones(4), len(labels))
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            with warnings.catch_warnings():
                warnings.simplefilter("default")

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        other = threading.Thread(target=churn)
        other.start()
        try:
            for _ in range(40):
                rank_label_issues(np.arange(len(labels)), labels, probs)
        finally:
            stop.set()
            other.join()
    leaked = [w for w in seen if "too few examples" in str(w.message)]
    assert leaked == []
