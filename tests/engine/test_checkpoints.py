"""Checkpoint directories: format, atomic replacement, crash recovery, names, the store API."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from engine.config import ModelConfig
from engine.errors import CheckpointError
from engine.stores import checkpoints
from engine.stores.checkpoint_meta import FORMAT_VERSION, make_meta
from engine.stores.checkpoints import Checkpoint, CheckpointStore, read_checkpoint_dir, write_checkpoint_dir


def arrays(step: int = 1) -> tuple[dict, dict, dict]:
    rng = np.random.default_rng(step)
    base = rng.normal(size=(6, 4)).astype(np.float32)
    weights = {
        "enc.fc.weight": base,
        "enc.fc.bias": np.full(6, step, np.float32),
        "dec.view": base.T[::2],
    }  # a non-contiguous view must survive too
    optimizer = {"adam.m.enc.fc.weight": base * 0.1, "adam.step": np.array(step, np.int64)}
    state = {"tau_counts": np.ones((10, 10), np.float64), "rng": np.array([1, 2**63 + 5], np.uint64)}
    return weights, optimizer, state


def meta(step: int = 1, **extra) -> dict:
    return make_meta(
        backend="torch",
        model=ModelConfig(),
        config={"train": {"lr": 1e-3}},
        step=step,
        epoch=step / 10,
        phase="warmup",
        labels_count=3,
        labels_hash="abc",
        metrics={"loss": np.float32(0.5), "acc_labeled": 0.25},
        **extra,
    )


@pytest.fixture
def store(tmp_path: Path) -> CheckpointStore:
    return CheckpointStore(tmp_path / "checkpoints")


def test_round_trip(store: CheckpointStore) -> None:
    w, o, s = arrays(7)
    path = store.save("ssvae", w, o, s, meta(7, note="hello"))
    assert path == store.root / "ssvae.ckpt" and path.is_dir()
    assert sorted(p.name for p in path.iterdir()) == [
        "meta.json",
        "optimizer.safetensors",
        "state.safetensors",
        "weights.safetensors",
    ]
    ck = store.load("ssvae")
    for want, got in ((w, ck.weights), (o, ck.optimizer), (s, ck.state)):
        assert set(want) == set(got)
        for k in want:
            assert got[k].dtype == np.asarray(want[k]).dtype and np.array_equal(got[k], want[k]), k
    assert ck.weights["enc.fc.bias"].flags.writeable  # callers may update arrays in place
    m = ck.meta
    assert m["format_version"] == FORMAT_VERSION == 1
    assert (m["name"], m["backend"], m["step"], m["epoch"], m["phase"]) == ("ssvae", "torch", 7, 0.7, "warmup")
    assert (m["labels_count"], m["labels_hash"], m["parent"], m["note"]) == (3, "abc", None, "hello")
    assert m["model"]["latent_dim"] == ModelConfig().latent_dim and m["config"] == {"train": {"lr": 1e-3}}
    assert m["metrics"] == {"loss": 0.5, "acc_labeled": 0.25}
    assert m["created"].endswith("+00:00")
    assert json.loads((path / "meta.json").read_text()) == m  # plain JSON on disk
    assert ck.step == 7 and ck.name == "ssvae"
    assert not [p for p in store.root.iterdir() if p.name.startswith(".") and p.name != ".lock"]


def test_empty_optimizer_and_state(store: CheckpointStore) -> None:
    w, _, _ = arrays()
    store.save("bare", w)
    ck = store.load("bare")
    assert ck.optimizer == {} and ck.state == {} and ck.meta["step"] == 0


def test_snapshot_dirs_use_the_same_format(tmp_path: Path) -> None:
    w, o, s = arrays(3)
    snap = tmp_path / "snapshots" / "run1" / "step_30"
    write_checkpoint_dir(snap, Checkpoint(w, o, s, meta(30)))
    ck = read_checkpoint_dir(snap)
    assert ck.meta["name"] == "step_30" and ck.meta["step"] == 30
    assert np.array_equal(ck.weights["dec.view"], w["dec.view"])
    with pytest.raises(CheckpointError, match="already exists"):
        write_checkpoint_dir(snap, Checkpoint(w, o, s, meta(31)), overwrite=False)
    write_checkpoint_dir(snap, Checkpoint(w, o, s, meta(31)))
    assert read_checkpoint_dir(snap).meta["step"] == 31


def test_replace_keeps_one_dir(store: CheckpointStore) -> None:
    for step in (1, 2, 3):
        store.save("ssvae", *arrays(step), meta(step))
    assert store.load("ssvae").meta["step"] == 3
    assert [p.name for p in store.root.iterdir() if p.name != ".lock"] == ["ssvae.ckpt"]


def test_fork_sets_parent(store: CheckpointStore) -> None:
    store.save("base", *arrays(5), meta(5))
    store.fork("base", "exp1")
    a, b = store.load("base"), store.load("exp1")
    assert b.meta["parent"] == "base" and b.meta["name"] == "exp1" and a.meta["parent"] is None
    assert b.meta["step"] == 5 and np.array_equal(a.weights["enc.fc.weight"], b.weights["enc.fc.weight"])
    store.save("exp2", *arrays(9), meta(9))
    with pytest.raises(CheckpointError, match="already exists"):
        store.fork("base", "exp2")
    assert store.load("exp2").meta["step"] == 9
    store.fork("base", "exp2", overwrite=True)
    assert store.load("exp2").meta["step"] == 5 and store.load("exp2").meta["parent"] == "base"
    with pytest.raises(CheckpointError, match="not found"):
        store.fork("nope", "exp3")


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "a..b", "x" * 65, "a\\b", "-lead", "sp ace"])
def test_bad_names_are_refused(store: CheckpointStore, name: str) -> None:
    w, o, s = arrays()
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        store.save(name, w, o, s, meta())
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        store.load(name)
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        store.rm(name)
    store.save("ok", w, o, s, meta())
    with pytest.raises(CheckpointError, match="invalid checkpoint name"):
        store.fork("ok", name)
    assert not (store.root.parent / "x.ckpt").exists()


def test_good_names_are_accepted(store: CheckpointStore) -> None:
    for name in ("ssvae", "run-1_v2.3", "A" * 64, "0"):
        store.save(name, *arrays(), meta())
        assert store.exists(name)


@pytest.mark.parametrize(
    "damage, fname",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-5]), "weights.safetensors"),
        (lambda p: p.write_bytes(b"\x00" * 3), "optimizer.safetensors"),
        (lambda p: p.write_text("{not json"), "meta.json"),
        (lambda p: p.write_text(json.dumps({"format_version": 99})), "meta.json"),
        (lambda p: p.write_text("[1, 2]"), "meta.json"),
        (lambda p: p.unlink(), "state.safetensors"),
    ],
)
def test_corrupt_files_raise_naming_checkpoint_and_file(store: CheckpointStore, damage, fname: str) -> None:
    path = store.save("ssvae", *arrays(), meta())
    damage(path / fname)
    with pytest.raises(CheckpointError) as err:
        store.load("ssvae")
    assert "'ssvae'" in str(err.value) and fname in str(err.value)
    rows = store.list()  # one bad checkpoint does not break the listing
    assert rows[0]["name"] == "ssvae" and fname in rows[0]["error"]


def test_failed_save_keeps_previous_checkpoint(store: CheckpointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save("ssvae", *arrays(1), meta(1))
    real = checkpoints.write_file_durable

    def flaky(path: Path, data: bytes) -> None:
        if path.name == "optimizer.safetensors":
            raise OSError("disk full (simulated)")
        real(path, data)

    monkeypatch.setattr(checkpoints, "write_file_durable", flaky)
    with pytest.raises(OSError, match="disk full"):
        store.save("ssvae", *arrays(2), meta(2))
    monkeypatch.setattr(checkpoints, "write_file_durable", real)
    ck = store.load("ssvae")
    assert ck.meta["step"] == 1 and np.array_equal(ck.weights["enc.fc.bias"], np.full(6, 1, np.float32))
    assert [p.name for p in store.root.iterdir() if p.name != ".lock"] == ["ssvae.ckpt"]  # temp dir removed


def test_failed_verification_keeps_previous_checkpoint(store: CheckpointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save("ssvae", *arrays(1), meta(1))
    real = checkpoints.write_file_durable

    def bitflip(path: Path, data: bytes) -> None:  # the write "succeeds" but stores wrong bytes
        if path.name == "weights.safetensors":
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        real(path, data)

    monkeypatch.setattr(checkpoints, "write_file_durable", bitflip)
    with pytest.raises(CheckpointError, match="did not read back identically"):
        store.save("ssvae", *arrays(2), meta(2))
    monkeypatch.undo()
    assert store.load("ssvae").meta["step"] == 1


def test_unencodable_input_fails_before_touching_disk(store: CheckpointStore) -> None:
    store.save("ssvae", *arrays(1), meta(1))
    w, o, s = arrays(2)
    with pytest.raises(CheckpointError, match="unsupported dtype"):
        store.save("ssvae", {**w, "bad": np.array(["a"])}, o, s, meta(2))
    with pytest.raises(CheckpointError, match="not JSON-serialisable"):
        store.save("ssvae", w, o, s, meta(2, bad=object()))
    assert store.load("ssvae").meta["step"] == 1


def test_crash_between_renames_is_recovered(store: CheckpointStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save("ssvae", *arrays(1), meta(1))
    real_rename = os.rename

    def crash(src, dst) -> None:
        if ".tmp-" in Path(src).name:  # the second rename: new dir into place
            raise KeyboardInterrupt("killed between renames (simulated)")
        real_rename(src, dst)

    monkeypatch.setattr(checkpoints.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.save("ssvae", *arrays(2), meta(2))
    monkeypatch.undo()
    assert not (store.root / "ssvae.ckpt").exists()  # the crash left only the renamed-aside dir
    assert len(list(store.root.glob(".ssvae.ckpt.old-*"))) == 1
    assert store.exists("ssvae") and store.names() == ["ssvae"]
    assert store.load("ssvae").meta["step"] == 1
    assert (store.root / "ssvae.ckpt").is_dir() and not list(store.root.glob(".ssvae.ckpt.old-*"))


def test_leftovers_of_a_hard_crash_are_recovered(store: CheckpointStore) -> None:
    path = store.save("ssvae", *arrays(1), meta(1))
    # What kill -9 between the renames leaves: the old dir aside and a complete temp dir.
    os.rename(path, store.root / ".ssvae.ckpt.old-deadbeef")
    write_checkpoint_dir(store.root / "scratch", Checkpoint(*arrays(2), meta(2)))
    os.rename(store.root / "scratch", store.root / ".ssvae.ckpt.tmp-cafe")
    assert [r["name"] for r in store.list()] == ["ssvae"]
    assert store.load("ssvae").meta["step"] == 1
    store.save("ssvae", *arrays(3), meta(3))
    assert sorted(p.name for p in store.root.iterdir()) == [".lock", "ssvae.ckpt"]


def test_writers_hold_the_lock(store: CheckpointStore) -> None:
    done = threading.Event()

    def save() -> None:
        store.save("locked", *arrays(), meta())
        done.set()

    with checkpoints._locked(store.root, exclusive=True):  # e.g. another process writing
        t = threading.Thread(target=save)
        t.start()
        time.sleep(0.3)
        assert not done.is_set() and not store.exists("locked")
    t.join(10)
    assert done.is_set() and store.exists("locked")


def test_list_show_rm(store: CheckpointStore) -> None:
    assert store.list() == [] and store.names() == []
    store.save("b", *arrays(2), meta(2))
    store.save("a", *arrays(1), meta(1))
    store.fork("a", "c")
    rows = store.list()
    assert [r["name"] for r in rows] == ["a", "b", "c"]
    a = rows[0]
    assert (a["step"], a["backend"], a["phase"], a["parent"]) == (1, "torch", "warmup", None)
    assert a["metrics"] == {"loss": 0.5, "acc_labeled": 0.25} and a["size"] > 0 and a["created"]
    assert rows[2]["parent"] == "a"
    shown = store.show("b")
    assert shown["meta"]["step"] == 2 and shown["name"] == "b"
    assert shown["arrays"]["weights"]["enc.fc.weight"] == {"shape": [6, 4], "dtype": "float32"}
    assert shown["arrays"]["optimizer"]["adam.step"] == {"shape": [], "dtype": "int64"}
    assert shown["arrays"]["state"]["rng"]["dtype"] == "uint64"
    store.rm("b")
    assert not store.exists("b") and [r["name"] for r in store.list()] == ["a", "c"]
    with pytest.raises(CheckpointError, match=r"not found.*available: a, c"):
        store.rm("b")
    with pytest.raises(CheckpointError, match="'b' not found"):
        store.load("b")
