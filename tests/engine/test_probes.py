"""Probes (engine/analysis/probes.py) and `latentloop probe`: known answers on crafted latents, the test
split never choosing a hyper-parameter, and an auxiliary task making its slice encode its target."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from engine.analysis.probes import ProbeError, probe_features, probe_json, probe_table, probe_targets, run_probes
from engine.datasets import Dataset, synthetic_dataset
from engine.tasks import TaskConfig
from latentloop.cli import main
from tests.helpers import tiny_config_dict

N_TRAIN, N_TEST = 600, 200


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return synthetic_dataset(N_TRAIN, N_TEST, seed=0)


def _latents(ds: Dataset, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Independent standard-normal mu [N, 8] and random responsibilities [N, 10]."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(len(ds), 8)), rng.dirichlet(np.ones(10), len(ds))


def _task(name: str, kind: str, input: str, **kw) -> TaskConfig:
    return TaskConfig(name=name, kind=kind, input=input, **kw)


def test_regression_known_answer(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    ink = (2.0 * mu[:, 0] - mu[:, 1] + 0.3).astype(np.float32)  # exactly linear in z[0:2], independent of z[2:4]
    tasks = [
        _task("on", "regression", "z[0:2]", target="ink"),
        _task("off", "regression", "z[2:4]", target="ink", weight=2.0),
    ]
    run = run_probes(tasks, ds, mu, resp, attrs={"ink": ink})
    on, off = run.results
    assert on.metrics["r2"] >= 0.99 and on.metrics["mae"] < 0.05 and on.metrics["cv_score"] >= 0.99
    assert abs(off.metrics["r2"]) < 0.05
    assert (on.n_train, on.n_test, off.weight) == (N_TRAIN, N_TEST, 2.0)
    assert run.predictions["on"].shape == (len(ds),) and run.predictions["on"].dtype == np.float32
    np.testing.assert_allclose(run.predictions["on"], ink, atol=0.05)
    np.testing.assert_array_equal(run.targets["on"], ink)


def test_classification_separable_vs_noise(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    rng = np.random.default_rng(1)
    angle = 2 * np.pi * np.arange(ds.num_classes) / ds.num_classes
    centres = 5.0 * np.stack([np.cos(angle), np.sin(angle)], 1)  # on a circle: linearly separable
    mu[:, 0:2] = centres[ds.targets] + 0.2 * rng.normal(size=(len(ds), 2))
    tasks = [_task("sep", "classification", "z[:2]"), _task("noise", "classification", "z[2:]")]
    run = run_probes(tasks, ds, mu, resp)
    sep, noise = run.results
    assert sep.metrics["accuracy"] >= 0.95
    assert noise.metrics["accuracy"] < 0.2  # chance is 0.1
    assert set(sep.params) == {"C"}
    np.testing.assert_array_equal(run.targets["sep"], ds.targets.astype(np.float32))
    assert np.mean(run.predictions["sep"][ds.test_idx] == ds.targets[ds.test_idx]) == sep.metrics["accuracy"]


def test_reconstruction_informative_vs_noise(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    flat = ds.float_images().reshape(len(ds), -1)
    centred = flat - flat[ds.train_idx].mean(0)
    _, _, vt = np.linalg.svd(centred[ds.train_idx], full_matrices=False)
    mu[:, 0:4] = centred @ vt[:4].T  # the first principal components of the images
    tasks = [_task("pca", "reconstruction", "z[0:4]"), _task("noise", "reconstruction", "z[4:8]")]
    run = run_probes(tasks, ds, mu, resp)
    pca, noise = run.results
    assert pca.target == "image" and "reconstruction" not in run.targets
    assert pca.metrics["psnr"] > noise.metrics["psnr"] + 1.0
    assert pca.metrics["psnr"] == pytest.approx(10 * np.log10(1 / pca.metrics["mse"]))
    per_row = run.predictions["pca"]
    assert per_row.shape == (len(ds),) and per_row[ds.test_idx].mean() > run.predictions["noise"][ds.test_idx].mean()


def test_hyper_parameters_come_from_training_rows_only(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    rng = np.random.default_rng(2)
    ink = (mu[:, 0] + 0.5 * rng.normal(size=len(ds))).astype(np.float32)
    mu[:, 2] = ds.targets + 0.8 * rng.normal(size=len(ds))  # classes only partly separable: C matters
    tasks = [_task("reg", "regression", "z[0:2]", target="ink"), _task("cls", "classification", "z[2:4]")]
    base = run_probes(tasks, ds, mu, resp, attrs={"ink": ink})

    scrambled_ink = ink.copy()
    test = ds.test_idx
    scrambled_ink[test] = rng.permutation(ink[test]) * 3.0
    targets = ds.targets.copy()
    targets[test] = rng.permutation(targets[test])
    scrambled = run_probes(tasks, dataclasses.replace(ds, targets=targets), mu, resp, attrs={"ink": scrambled_ink})
    for a, b in zip(base.results, scrambled.results, strict=True):
        assert a.params == b.params and a.metrics["cv_score"] == b.metrics["cv_score"]
        np.testing.assert_array_equal(base.predictions[a.name], scrambled.predictions[a.name])
    # ... while the test metrics saw the scramble.
    assert scrambled.results[0].metrics["r2"] < base.results[0].metrics["r2"] - 0.3
    assert scrambled.results[1].metrics["accuracy"] < base.results[1].metrics["accuracy"] - 0.2


def test_max_train_subsamples_deterministically(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    ink = mu[:, 0].astype(np.float32)
    tasks = [_task("reg", "regression", "z[0]", target="ink", head="mlp")]
    a = run_probes(tasks, ds, mu, resp, attrs={"ink": ink}, max_train=100, seed=3)
    b = run_probes(tasks, ds, mu, resp, attrs={"ink": ink}, max_train=100, seed=3)
    assert a.results[0].n_train == 100 and a.results[0].subsampled and a.max_train == 100
    np.testing.assert_array_equal(a.predictions["reg"], b.predictions["reg"])
    assert a.results[0].metrics["r2"] > 0.9
    full = run_probes(tasks, ds, mu, resp, attrs={"ink": ink}, max_train=10_000)
    assert not full.results[0].subsampled and full.results[0].n_train == N_TRAIN
    assert "* training rows subsampled" in probe_table(a.results)
    assert "subsampled" not in probe_table(full.results)


def test_validation_rows_are_left_out_of_training(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    run = run_probes(
        [_task("reg", "regression", "z[0]", target="ink")], ds, mu, resp, attrs={"ink": mu[:, 0]}, validation=100
    )
    assert run.results[0].n_train == N_TRAIN - 100


def test_table_and_json(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    tasks = [_task("cls", "classification", "all"), _task("slanted", "regression", "q", target="slant")]
    run = run_probes(tasks, ds, mu, resp, attrs={"slant": np.zeros(len(ds), np.float32)})
    assert np.isnan(run.results[1].metrics["r2"])  # a constant target: R^2 undefined
    doc = probe_json(run, checkpoint="c", step=7)
    text = json.dumps(doc, allow_nan=False)  # NaN became null
    back = json.loads(text)
    assert back["checkpoint"] == "c" and back["step"] == 7 and back["max_train"] is None
    assert [p["name"] for p in back["probes"]] == ["cls", "slanted"]
    assert back["probes"][1]["metrics"]["r2"] is None and set(back["probes"][0]["params"]) == {"C"}
    lines = probe_table(run.results).splitlines()
    assert lines[0].split()[:3] == ["task", "kind", "target"] and lines[1].startswith("cls ")
    assert "r2=nan" in lines[2]


def test_clear_errors(ds: Dataset) -> None:
    mu, resp = _latents(ds)
    with pytest.raises(ProbeError, match=r"'wide'.*out of range"):
        run_probes([_task("wide", "regression", "z[8]", target="ink")], ds, mu, resp, attrs={"ink": mu[:, 0]})
    with pytest.raises(ProbeError, match=r"'wide'.*selects no latent"):
        probe_features(_task("wide", "regression", "z[9:12]", target="ink"), mu, resp)
    with pytest.raises(ProbeError, match="no values for target 'slant'"):
        run_probes([_task("s", "regression", "z", target="slant")], ds, mu, resp, attrs={"ink": mu[:, 0]})
    with pytest.raises(ProbeError, match="non-finite"):
        probe_targets(_task("s", "regression", "z", target="ink"), ds, {"ink": np.full(len(ds), np.nan)})
    with pytest.raises(ProbeError, match="reconstruction target is the image"):
        probe_targets(_task("r", "reconstruction", "z"), ds, {})
    one_class = dataclasses.replace(ds, targets=np.zeros(len(ds), np.int64))
    with pytest.raises(ProbeError, match="fewer than 2 classes"):
        run_probes([_task("c", "classification", "z")], one_class, mu, resp)
    with pytest.raises(ProbeError, match="the dataset has 800"):
        run_probes([_task("c", "classification", "z")], ds, mu[:10], resp[:10])


# -- the command --------------------------------------------------------------------------------

PROBE_TASKS = [
    {"name": "digit", "kind": "classification", "input": "z"},
    {"name": "slant", "kind": "regression", "target": "slant", "input": "z[0:2]"},
]


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.slow
def test_probe_command(home: Path, capsys) -> None:
    cfg_file = home / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump({**tiny_config_dict(steps=20, eval_every=20), "tasks": PROBE_TASKS}))
    bare = home / "bare.yaml"
    bare.write_text(yaml.safe_dump(tiny_config_dict(steps=20, eval_every=20)))

    code, _, err = _cli(capsys, "probe", "--checkpoint", "ssvae")
    assert code == 2 and "checkpoint 'ssvae' not found" in err

    assert _cli(capsys, "train", "-c", str(cfg_file), "--no-progress")[0] == 0
    code, out, _ = _cli(capsys, "probe", "--checkpoint", "ssvae", "--max-train", "300")
    assert code == 0, out
    assert "probes of checkpoint ssvae (step 20)" in out
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line and line.split()[0] in ("digit", "slant")}
    assert set(rows) == {"digit", "slant"} and "accuracy=" in rows["digit"] and "r2=" in rows["slant"]
    path = home / "artifacts/probes/ssvae-step20.json"
    doc = json.loads(path.read_text())
    assert (doc["checkpoint"], doc["step"], doc["dataset"], doc["max_train"]) == ("ssvae", 20, "synth", 300)
    assert [p["name"] for p in doc["probes"]] == ["digit", "slant"]
    assert all(p["n_train"] == 300 and p["n_test"] == N_TEST for p in doc["probes"])

    out_file = home / "one.json"
    code, out, _ = _cli(
        capsys, "probe", "--checkpoint", "ssvae", "--task", "slant", "--format", "json", "--out", str(out_file)
    )
    assert code == 0 and json.loads(out) == json.loads(out_file.read_text())
    assert [p["name"] for p in json.loads(out)["probes"]] == ["slant"]

    code, _, err = _cli(capsys, "probe", "--checkpoint", "ssvae", "--task", "nope")
    assert code == 2 and "no task 'nope'" in err
    code, _, err = _cli(capsys, "probe", "--checkpoint", "ssvae", "-c", str(bare))
    assert code == 2 and "has no tasks to probe" in err and "tasks:" in err


def test_auxiliary_task_makes_its_slice_encode_the_target(home: Path) -> None:
    """The known answer of an auxiliary task: the same tiny model trained with and without a
    weight on a regression task of z[0:2]; its probe R^2 rises with the weight."""
    from engine.backends.base import Out
    from engine.config import from_dict
    from engine.workspace import make_trainer, open_workspace, predict_all

    r2 = {}
    for weight in (0.0, 5.0):
        raw = tiny_config_dict(steps=60, eval_every=1000, log_every=1000)
        raw["tasks"] = [{"name": "slant", "kind": "regression", "target": "slant", "input": "z[0:2]", "weight": weight}]
        cfg = from_dict(raw)
        ws = open_workspace(cfg=cfg)
        trainer = make_trainer(ws)
        trainer.run()
        out = predict_all(trainer)
        r2[weight] = run_probes(cfg.tasks, ws.dataset, out[Out.MU], out[Out.RESP]).results[0].metrics["r2"]
    assert r2[5.0] > r2[0.0] + 0.3, r2
