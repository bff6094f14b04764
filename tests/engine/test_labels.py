"""engine.stores.labels: the shared labels.csv store and its change log."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.errors import LabelError
from engine.stores.labels import LabelStore, label_store_for
from engine.stores.labels_csv import format_labels

N, C = 200, 10


@pytest.fixture
def store(tmp_path: Path) -> LabelStore:
    return LabelStore(tmp_path / "labels.csv", N, C)


def log_entries(store: LabelStore) -> list[dict]:
    return [json.loads(line) for line in store.log_path.read_text().splitlines() if line]


# ---- basic reading and writing -------------------------------------------------------------


def test_missing_file_means_no_labels(store: LabelStore) -> None:
    assert not store.path.exists()
    arr = store.read()
    assert arr.dtype == np.int64 and arr.shape == (N,) and (arr == -1).all()
    assert store.labels_dict() == {}
    assert store.stats() == {"n_samples": N, "labelled": 0, "unlabelled": N, "per_class": [0] * C}
    assert store.undo() is None
    assert not store.path.exists(), "reading must not create the file"


def test_header_only_file_is_valid(store: LabelStore) -> None:
    store.path.write_text("Serial,label\n")
    assert store.labels_dict() == {}


def test_set_writes_sparse_sorted_file(store: LabelStore) -> None:
    store.set(7, 3)
    store.set(2, 9)
    store.set(150, 0)
    assert store.path.read_text() == "Serial,label\n2,9\n7,3\n150,0\n"
    arr = store.read()
    assert arr[2] == 9 and arr[7] == 3 and arr[150] == 0 and (arr >= 0).sum() == 3
    assert store.labels_dict() == {2: 9, 7: 3, 150: 0}
    store.set(7, 4)  # relabel
    assert store.labels_dict()[7] == 4
    assert store.set(7, 4) is None, "a no-op set writes nothing"
    assert len(log_entries(store)) == 4


def test_clear_and_set_many(store: LabelStore) -> None:
    store.set_many({1: 1, 2: 2, 3: 3}, source="app")
    store.clear(2, source="app")
    assert store.labels_dict() == {1: 1, 3: 3}
    assert store.clear(2) is None
    store.set_many({1: None, 4: 4}, source="app")
    assert store.labels_dict() == {3: 3, 4: 4}
    assert store.read()[2] == -1


@pytest.mark.parametrize(
    "serial,label,msg",
    [
        (N, 1, "unknown Serial 200"),
        (-1, 1, "unknown Serial -1"),
        ("x", 1, "not a number"),
        (1, C, "out of range"),
        (1, -1, "out of range"),
        (1, 3.5, "not an integer"),
        (1, "cat", "not a number"),
        (1, True, "not a number"),
    ],
)
def test_set_validates(store: LabelStore, serial: object, label: object, msg: str) -> None:
    store.set(0, 0)
    before = store.path.read_bytes()
    with pytest.raises(LabelError, match=msg):
        store.set(serial, label)  # type: ignore[arg-type]
    assert store.path.read_bytes() == before
    assert len(log_entries(store)) == 1


def test_set_accepts_integral_floats_and_numpy_ints(store: LabelStore) -> None:
    store.set(np.int64(5), 3.0)  # type: ignore[arg-type]
    store.set("6", "7")  # type: ignore[arg-type]
    assert store.labels_dict() == {5: 3, 6: 7}
    assert all(type(k) is int and type(v) is int for k, v in store.labels_dict().items())


def test_pandas_full_file_with_nan_loads(store: LabelStore) -> None:
    df = pd.DataFrame({"Serial": np.arange(N), "label": np.nan})
    df.loc[[3, 10, 199], "label"] = [4, 0, 9]
    df.to_csv(store.path, index=False)
    text = store.path.read_text()
    assert "3,4.0" in text and "\n0,\n" in text  # really the float/NaN form
    assert store.labels_dict() == {3: 4, 10: 0, 199: 9}
    # the hash only depends on the labelled content, not the file's form
    sparse = LabelStore(store.path.with_name("other.csv"), N, C)
    sparse.set_many({3: 4, 10: 0, 199: 9})
    assert store.hash() == sparse.hash()
    # writing converts to the sparse form
    store.set(11, 1)
    assert store.path.read_text() == "Serial,label\n3,4\n10,0\n11,1\n199,9\n"


def test_pandas_roundtrip_of_our_file(store: LabelStore) -> None:
    store.set_many({5: 1, 6: 2})
    df = pd.read_csv(store.path)
    assert list(df.columns) == ["Serial", "label"] and df["label"].tolist() == [1, 2]


def test_tolerated_forms(store: LabelStore) -> None:
    store.path.write_bytes(b"\xef\xbb\xbfSerial,label\r\n1,2\r\n\r\n 3 , 4 \r\n5,nan\r\n6,1e0\r\n")
    assert store.labels_dict() == {1: 2, 3: 4, 6: 1}


# ---- malformed files -------------------------------------------------------------------------

BAD_FILES = [
    ("bad header", b"serial;label\n1;2\n", 1, "bad header"),
    ("wrong columns", b"Serial,label,extra\n1,2,3\n", 1, "bad header"),
    ("unknown serial", b"Serial,label\n1,2\n200,3\n", 3, "unknown Serial 200"),
    ("negative serial", b"Serial,label\n-4,3\n", 2, "unknown Serial -4"),
    ("non-integer serial", b"Serial,label\n1.5,3\n", 2, "Serial '1.5' is not an integer"),
    ("text serial", b"Serial,label\nabc,3\n", 2, "Serial 'abc' is not a number"),
    ("label 12", b"Serial,label\n1,2\n2,3\n3,12\n", 4, "label 12 for Serial 3 is out of range"),
    ("label 3.5", b"Serial,label\n1,3.5\n", 2, "not an integer"),
    ("text label", b"Serial,label\n1,2\n2,seven\n", 3, "'seven' for Serial 2 is not a number"),
    ("duplicate", b"Serial,label\n1,2\n5,3\n1,2\n", 4, "duplicate Serial 1 (first on line 2)"),
    ("duplicate nan", b"Serial,label\n1,\n1,2\n", 3, "duplicate Serial 1"),
    ("missing field", b"Serial,label\n1\n", 2, "expected 2 fields"),
    ("empty file", b"", 1, "empty file, expected header Serial,label"),
    ("binary junk", b"Serial,label\n1,2\n\x89PNG\r\n\x1a\n\xff\xfe\x00\x01junk", 3, "binary"),
    ("undecodable", b"Serial,label\n1,2\n\xff\xfe,3\n", 3, "not UTF-8"),
    ("random bytes", bytes(random.Random(1).randrange(256) for _ in range(300)), None, ""),
]


@pytest.mark.parametrize("content,line,msg", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_malformed_file_is_reported_and_never_rewritten(
    store: LabelStore, content: bytes, line: int | None, msg: str
) -> None:
    store.path.write_bytes(content)
    for call in (
        store.read,
        store.labels_dict,
        store.stats,
        store.hash,
        lambda: store.set(0, 1),
        lambda: store.clear(1),
        store.undo,
        lambda: store.export("csv", io.StringIO()),
    ):
        with pytest.raises(LabelError) as info:
            call()
        text = str(info.value)
        assert str(store.path) in text and msg in text
        assert ("line " in text) if line is None else (f"line {line}:" in text)
        assert store.path.read_bytes() == content, "a bad file must never be rewritten"
    assert not store.log_path.exists() or log_entries(store) == []


@pytest.mark.parametrize("content,line,msg", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES])
def test_import_of_malformed_input_changes_nothing(
    store: LabelStore, tmp_path: Path, content: bytes, line: int | None, msg: str
) -> None:
    store.set_many({0: 0, 1: 1})
    before, log_before = store.path.read_bytes(), store.log_path.read_bytes()
    bad = tmp_path / "incoming.csv"
    bad.write_bytes(content)
    with pytest.raises(LabelError) as info:
        store.import_csv(bad)
    text = str(info.value)
    assert str(bad) in text and msg in text
    assert ("line " in text) if line is None else (f"line {line}:" in text)
    assert store.path.read_bytes() == before and store.log_path.read_bytes() == log_before
    assert bad.read_bytes() == content


def test_import_is_all_or_nothing_when_last_row_is_bad(store: LabelStore, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("Serial,label\n" + "".join(f"{i},{i % C}\n" for i in range(50)) + "51,99\n")
    with pytest.raises(LabelError, match="line 52"):
        store.import_csv(src)
    assert store.labels_dict() == {} and not store.path.exists()


def test_import_missing_file(store: LabelStore, tmp_path: Path) -> None:
    with pytest.raises(LabelError, match="no such file"):
        store.import_csv(tmp_path / "nope.csv")


# ---- import, undo, change log ----------------------------------------------------------------


def test_import_merges_and_ignores_empty_labels(store: LabelStore, tmp_path: Path) -> None:
    store.set_many({1: 1, 2: 2})
    df = pd.DataFrame({"Serial": [2, 3, 4, 1], "label": [5, 6, np.nan, np.nan]})
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    entry = store.import_csv(src, source="test")
    assert entry is not None and entry["op"] == "import"
    assert entry["changes"] == [{"serial": 2, "old": 2, "new": 5}, {"serial": 3, "old": None, "new": 6}]
    assert store.labels_dict() == {1: 1, 2: 5, 3: 6}
    assert store.import_csv(src) is None, "re-importing changes nothing and logs nothing"


def test_undo_set_clear_import(store: LabelStore, tmp_path: Path) -> None:
    store.set(1, 1)
    store.set(2, 2)
    store.set(1, 5)  # relabel: undo must restore 1, not clear
    store.clear(2)
    src = tmp_path / "in.csv"
    src.write_text("Serial,label\n10,0\n11,1\n1,9\n")
    store.import_csv(src)
    assert store.labels_dict() == {1: 9, 10: 0, 11: 1}

    u = store.undo(source="t")
    assert u is not None and u["op"] == "import" and u["skipped"] == []
    assert store.labels_dict() == {1: 5}
    u = store.undo()
    assert u is not None and u["op"] == "clear"
    assert store.labels_dict() == {1: 5, 2: 2}
    assert store.undo()["op"] == "set"  # type: ignore[index]
    assert store.labels_dict() == {1: 1, 2: 2}
    store.undo()
    store.undo()
    assert store.labels_dict() == {}
    assert store.undo() is None
    ops = [(e["op"], e.get("undoes")) for e in log_entries(store)]
    assert ops == [
        ("set", None),
        ("set", None),
        ("set", None),
        ("clear", None),
        ("import", None),
        ("undo", 5),
        ("undo", 4),
        ("undo", 3),
        ("undo", 2),
        ("undo", 1),
    ]


def test_undo_after_new_change_skips_undone_entries(store: LabelStore) -> None:
    store.set(1, 1)  # id 1
    store.set(2, 2)  # id 2
    store.undo()  # id 3 undoes 2
    store.set(3, 3)  # id 4
    assert store.undo()["undoes"] == 4  # type: ignore[index]
    assert store.undo()["undoes"] == 1  # type: ignore[index]
    assert store.labels_dict() == {}


def test_undo_leaves_rows_changed_outside_the_log(store: LabelStore) -> None:
    store.set_many({1: 1, 2: 2})
    store.path.write_text("Serial,label\n1,1\n2,7\n")  # e.g. edited by hand
    u = store.undo()
    assert u is not None and u["skipped"] == [2]
    assert store.labels_dict() == {2: 7}


def test_change_log_format(store: LabelStore) -> None:
    store.set(4, 2, source="app")
    store.set(4, 3)
    store.clear(4, source="app")
    store.undo(source="cli")
    entries = log_entries(store)
    assert [e["id"] for e in entries] == [1, 2, 3, 4]
    first = entries[0]
    assert list(first) == ["time", "op", "changes", "source", "id"]
    assert first["op"] == "set" and first["source"] == "app"
    assert first["changes"] == [{"serial": 4, "old": None, "new": 2}]
    assert "T" in first["time"] and first["time"].endswith("+00:00")
    assert entries[1]["changes"] == [{"serial": 4, "old": 2, "new": 3}]
    assert entries[2]["changes"] == [{"serial": 4, "old": 3, "new": None}]
    assert entries[3]["op"] == "undo" and entries[3]["undoes"] == 3
    assert entries[3]["changes"] == [{"serial": 4, "old": None, "new": 3}]
    assert store.history() == entries


def test_torn_log_line_is_skipped_and_ids_continue(store: LabelStore) -> None:
    store.set(1, 1)
    store.set(2, 2)
    with open(store.log_path, "ab") as f:
        f.write(b'{"time":"2024-01-01T00:00:00+00:00","op":"se')  # crash mid-append
    fresh = LabelStore(store.path, N, C)
    fresh.set(3, 3)
    entries = [
        json.loads(x) for x in store.log_path.read_text().splitlines() if x.startswith('{"time"') and x.endswith("}")
    ]
    assert [e["id"] for e in entries] == [1, 2, 3]
    assert fresh.undo()["undoes"] == 3  # type: ignore[index]
    assert fresh.undo()["undoes"] == 2  # type: ignore[index]


def test_long_log_reverse_scan(store: LabelStore) -> None:
    # more than one 64 KiB chunk, so undo/next-id must stitch lines across chunk boundaries
    for i in range(200):
        store.set_many({j: (i + j) % C for j in range(12)}, source=f"s{i}")
    assert store.log_path.stat().st_size > 1 << 16
    fresh = LabelStore(store.path, N, C)
    assert [e["id"] for e in fresh.history()] == list(range(1, 201))
    assert fresh.undo()["undoes"] == 200  # type: ignore[index]
    assert fresh.labels_dict() == {j: (198 + j) % C for j in range(12)}


# ---- export, stats, hash, version ------------------------------------------------------------


def test_export_formats(store: LabelStore, tmp_path: Path) -> None:
    store.set_many({9: 1, 3: 0})
    buf = io.StringIO()
    assert store.export("csv", buf) == 2
    assert buf.getvalue() == "Serial,label\n3,0\n9,1\n"
    buf = io.StringIO()
    store.export("jsonl", buf)
    assert [json.loads(x) for x in buf.getvalue().splitlines()] == [
        {"serial": 3, "label": 0},
        {"serial": 9, "label": 1},
    ]
    out = tmp_path / "out.jsonl"
    store.export("jsonl", out)
    assert out.read_text() == buf.getvalue()
    exported = tmp_path / "out.csv"
    store.export("csv", str(exported))
    other = LabelStore(tmp_path / "b" / "labels.csv", N, C)
    other.import_csv(exported)
    assert other.labels_dict() == store.labels_dict()
    with pytest.raises(LabelError, match="unknown export format"):
        store.export("xml", io.StringIO())


def test_stats_and_hash(store: LabelStore) -> None:
    h0 = store.hash()
    store.set_many({0: 1, 1: 1, 2: 9})
    st = store.stats()
    assert st["labelled"] == 3 and st["unlabelled"] == N - 3
    assert st["per_class"][1] == 2 and st["per_class"][9] == 1 and sum(st["per_class"]) == 3
    h1 = store.hash()
    assert h1 != h0 and len(h1) == 64
    store.set(2, 8)
    assert store.hash() != h1
    store.set(2, 9)
    assert store.hash() == h1


def test_version_changes_on_every_write(store: LabelStore) -> None:
    seen = {store.version()}
    for i in range(20):
        store.set(5, i % 2)  # same file size each time, quickly: still a new version
        v = store.version()
        assert v not in seen
        seen.add(v)
    assert store.version() == store.version()


def test_cache_sees_changes_by_other_instances(store: LabelStore) -> None:
    other = LabelStore(store.path, N, C)
    for i in range(20):
        other.set(1, i % C)
        assert store.read()[1] == i % C


def test_label_store_for(tmp_path: Path) -> None:
    s = label_store_for("toy", N, C, root=tmp_path / "data")
    assert s.path == tmp_path / "data" / "toy" / "labels.csv"
    assert s.log_path == tmp_path / "data" / "toy" / "labels.changes.jsonl"
    s.set(1, 2)  # creates the directory
    assert s.path.exists() and s.lock_path.exists()


def test_stale_temp_files_are_removed(store: LabelStore) -> None:
    store.set(1, 1)
    stale = store.path.parent / ".labels.csv.abc123.tmp"
    stale.write_text("Serial,label\n1,")
    store.set(2, 2)
    assert not stale.exists()
    assert sorted(p.name for p in store.path.parent.iterdir()) == [
        "labels.changes.jsonl",
        "labels.csv",
        "labels.csv.lock",
    ]


# ---- concurrency -----------------------------------------------------------------------------

# Writers are spawned, not forked: earlier tests of the session may have loaded JAX, whose threads
# a fork would copy in an unknown state (Python warns about it).
SPAWN = mp.get_context("spawn")


def _writer(path: str, serials: list[int], source: str) -> None:
    s = LabelStore(path, N * 4, C)
    for i in serials:
        s.set(i, i % C, source=source)


def test_two_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "labels.csv")
    procs = [SPAWN.Process(target=_writer, args=(path, list(range(k, 400, 2)), f"p{k}")) for k in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    s = LabelStore(path, N * 4, C)
    assert s.labels_dict() == {i: i % C for i in range(400)}
    entries = s.history()
    assert len(entries) == 400 and sorted(e["id"] for e in entries) == list(range(1, 401))


def test_threads_lose_nothing(tmp_path: Path) -> None:
    shared = LabelStore(tmp_path / "labels.csv", N * 4, C)

    def work(k: int) -> None:
        st = shared if k % 2 else LabelStore(shared.path, N * 4, C)  # same and separate instances
        for i in range(k, 200, 4):
            st.set(i, i % C)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert shared.labels_dict() == {i: i % C for i in range(200)}
    assert sorted(e["id"] for e in shared.history()) == list(range(1, 201))


def _sequential_writer(path: str, writing: Any) -> None:
    s = LabelStore(path, 100_000, C)
    i = len(s.labels_dict())
    writing.set()
    while True:
        s.set(i, i % C, source="victim")
        i += 1


def test_sigkill_mid_write_leaves_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    rng = random.Random(0)
    count = 0
    for kills in range(1, 9):
        writing = SPAWN.Event()
        p = SPAWN.Process(target=_sequential_writer, args=(str(path), writing))
        p.start()
        # a spawned child starts a new interpreter first: kill it while it writes, not while it imports
        assert writing.wait(60)
        time.sleep(rng.uniform(0.05, 0.25))
        p.kill()  # SIGKILL: no cleanup handlers run
        p.join()
        s = LabelStore(path, 100_000, C)
        got = s.labels_dict()  # must parse: never a torn CSV
        # the writer labels 0, 1, 2, ... in order, so the file holds a prefix that only grows
        assert got == {i: i % C for i in range(len(got))}
        assert len(got) >= count
        count = len(got)
        # the log never claims more than the CSV holds; each kill can leave at most the one
        # write in flight applied but unlogged
        logged = {e["changes"][0]["serial"] for e in s.history()}
        assert logged <= set(got) and len(got) - len(logged) <= kills
    assert count > 0
    # the next writer clears temp files a killed writer left behind
    LabelStore(path, 100_000, C).set(99_999, 1)
    assert not list(tmp_path.glob(".labels.csv.*.tmp"))


def test_format_labels_is_canonical() -> None:
    assert format_labels({10: 1, 2: 0}) == "Serial,label\n2,0\n10,1\n"
    assert format_labels({}) == "Serial,label\n"
