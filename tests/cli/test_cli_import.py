"""`latentloop data import`, `data classes`, `label export` with paths, and the bad input of issue 24:
one bad file is skipped with its reason (or fails the import with --strict), exit status 2 only
when nothing importable remains, and every existing dataset stays byte-identical."""

from __future__ import annotations

import io
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentloop.cli import main
from tests.helpers import exit_code, tree_bytes

FAST = ["--size", "8", "--workers", "1", "--no-progress"]


def img(path: Path, seed: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def folders(root: Path, classes: tuple[str, ...] = ("cat", "dog"), n: int = 3) -> Path:
    for c in classes:
        for i in range(n):
            img(root / c / f"{i}.png", zlib.crc32(f"{c}/{i}".encode()))  # distinct: str hashes are salted per process
    return root


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = exit_code(main, list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


# ---- the user's path ----------------------------------------------------------------------------


def test_import_info_classes_export_round_trip(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = folders(tmp_path / "pets")
    code, out = run(capsys, "data", "import", "pets", str(src), *FAST)
    assert code == 0, out
    assert "6 new image(s)" in out and "0=cat 3, 1=dog 3" in out
    code, out = run(capsys, "data", "info", "--dataset", "pets")
    assert code == 0 and "names     0=cat, 1=dog" in out
    assert run(capsys, "data", "classes", "pets", "--rename", "cat=kitten")[1] == "0\tkitten\n1\tdog\n"
    code, out = run(capsys, "data", "classes", "pets", "--rename", "cow=ox")
    assert code == 2 and "no class 'cow'" in out
    for serial, label in ((0, 1), (4, 0), (5, 1)):
        assert main(["label", "set", str(serial), str(label), "--dataset", "pets"]) == 0
    assert main(["label", "accept", "4", "--dataset", "pets"]) == 0
    out_csv = tmp_path / "out" / "labels.csv"
    assert run(capsys, "label", "export", "--dataset", "pets", "-o", str(out_csv))[0] == 0
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "path,label,serial,source"
    assert lines[1] == f"{src / 'cat' / '0.png'},dog,0,human"
    assert lines[2] == f"{src / 'dog' / '1.png'},kitten,4,accepted"
    # the round trip: the export read back as a manifest gives the same labels
    code, out = run(capsys, "data", "import", "back", str(out_csv), *FAST)
    assert code == 0, out
    from engine.datasets import load_dataset
    from engine.datasets.classes import read_class_names
    from engine.datasets.provenance import read_sources, sources_path

    back = load_dataset("back")
    names = read_class_names("back", back.num_classes)
    got = {r.path: names[back.targets[r.serial]] for r in read_sources(sources_path("back"))}
    want = {line.split(",")[0]: line.split(",")[1] for line in lines[1:]}
    assert got == want
    # json and the ImageFolder tree
    code, out = run(capsys, "label", "export", "--dataset", "pets", "--format", "json")
    assert code == 0 and '"label": "kitten"' in out and '"source": "accepted"' in out
    tree = tmp_path / "tree"
    assert run(capsys, "label", "export", "--dataset", "pets", "--format", "folder", "-o", str(tree))[0] == 0
    assert sorted(p.name for p in (tree / "dog").iterdir()) == ["0-0.png", "5-2.png"]
    assert os.readlink(tree / "kitten" / "4-1.png") == str(src / "dog" / "1.png")
    assert run(capsys, "label", "export", "--dataset", "pets", "--format", "folder", "-o", str(tree))[0] == 2
    # a dataset that was not imported keeps Serial,label
    assert main(["label", "set", "0", "3", "--dataset", "synth"]) == 0
    capsys.readouterr()
    assert run(capsys, "label", "export", "--dataset", "synth")[1] == "Serial,label\n0,3\n"


def test_unlabelled_import_refuses_the_oracles(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for i in range(4):
        img(tmp_path / "flat" / f"{i}.png", i)
    code, out = run(capsys, "data", "import", "u", str(tmp_path / "flat"), "--classes", "yes,no", *FAST)
    assert code == 0 and "unlabelled 4" in out
    code, out = run(capsys, "data", "info", "--dataset", "u")
    assert "unknown   4 train, 0 test without a true class" in out
    for argv in (
        ["label", "seed", "--per-class", "1", "--dataset", "u"],
        ["simulate", "--dataset", "u", "--seed-labels", "2", "--rounds", "0"],
        ["experiment", "--name", "x", "--dataset", "u", "--labels-per-class", "1", "--steps", "1"],
    ):
        code, out = run(capsys, *argv)
        assert code == 2 and "needs the true class of every image" in out, (argv, out)
        assert "Traceback" not in out


def test_progress_bar_on_stderr(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = folders(tmp_path / "p", n=2)
    assert main(["data", "import", "p", str(src), "--size", "8", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "4/4" in err and "img/s" in err


# ---- bad input ----------------------------------------------------------------------------------


@dataclass
class Case:
    """A source made by ``make`` (it returns extra arguments), the exit status and a text the
    output must hold."""

    name: str
    make: Callable[[Path], list[str]]
    code: int
    says: str


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 40), (10, 200, 30)).save(buf, "JPEG")
    return buf.getvalue()


def with_bad(name: str, write: Callable[[Path], object]) -> Callable[[Path], list[str]]:
    """Two good class folders plus one bad file written by ``write`` (given the cat folder)."""

    def make(tmp: Path) -> list[str]:
        src = folders(tmp / "src")
        write(src / "cat")
        return [str(src)]

    return make


def manifest(text: str, *extra: str) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        folders(tmp / "m" / "img")
        (tmp / "m" / "list.csv").write_text(text)
        return [str(tmp / "m" / "list.csv"), *extra]

    return make


def _loop(d: Path) -> None:
    os.symlink(d / "loop.png", d / "loop.png")


def _non_utf8(d: Path) -> None:
    fd = os.open(os.fsencode(d) + b"/\xff\xfe.png", os.O_WRONLY | os.O_CREAT)
    os.write(fd, (d / "0.png").read_bytes())
    os.close(fd)


def _mixed(tmp: Path) -> list[str]:
    src = folders(tmp / "src")
    img(src / "cat" / "big.png", 5, size=(300, 40), mode="L")
    Image.new("P", (9, 33)).save(src / "dog" / "pal.gif")
    Image.new("RGBA", (17, 5), (1, 2, 3, 100)).save(src / "dog" / "alpha.webp")
    Image.new("I;16", (20, 20)).save(src / "dog" / "deep.tif")
    return [str(src)]


def _all_bad(tmp: Path) -> list[str]:
    for c in ("a", "b"):
        (tmp / "src" / c).mkdir(parents=True)
        (tmp / "src" / c / "x.png").write_bytes(b"")
    return [str(tmp / "src")]


def _src(extra: list[str], tree: Callable[[Path], Path] = folders) -> Callable[[Path], list[str]]:
    def make(tmp: Path) -> list[str]:
        return [str(tree(tmp / "src")), *extra]

    return make


def _file(path: Path, data: bytes) -> list[str]:
    path.write_bytes(data)
    return [str(path)]


GOOD = "img/cat/0.png,cat\nimg/dog/0.png,dog\n"


def _strict(tmp: Path) -> list[str]:
    return [*with_bad("x", lambda d: (d / "z.png").write_bytes(b""))(tmp), "--strict"]


def _all_test(tmp: Path) -> list[str]:
    folders(tmp / "src" / "test")
    return [str(tmp / "src")]


def _empty(tmp: Path) -> list[str]:
    (tmp / "empty").mkdir(parents=True)
    return [str(tmp / "empty")]


def _one_image_class(tmp: Path) -> list[str]:
    src = folders(tmp / "src")
    img(src / "solo" / "0.png", 99)
    return [str(src)]


CASES = [
    Case("zero-byte", with_bad("x", lambda d: (d / "zero.png").write_bytes(b"")), 0, "cat/zero.png: empty file"),
    Case("truncated-jpeg", with_bad("x", lambda d: (d / "t.jpg").write_bytes(_jpeg_bytes()[:300])), 0, "t.jpg: cannot"),
    Case("text-as-png", with_bad("x", lambda d: (d / "t.png").write_text("hello")), 0, "not an image Pillow can read"),
    Case("symlink-loop", with_bad("x", _loop), 0, "loop.png: cannot read"),
    Case("non-utf8-name", with_bad("x", _non_utf8), 0, "not valid UTF-8"),
    Case("manifest-escape", manifest("img/cat/0.png,cat\nimg/dog/0.png,dog\n../x.png,cat\n"), 0, "leaves the manifest"),
    Case("manifest-missing", manifest("img/cat/0.png,cat\nimg/dog/0.png,dog\nimg/no.png,cat\n"), 0, "no such file"),
    Case("manifest-unknown-class", manifest(GOOD + "img/dog/1.png,cow\n", "--classes", "cat,dog"), 0, "'cow' is not"),
    Case("manifest-bad-split", manifest(GOOD + "img/dog/1.png,dog,val\n"), 0, "split 'val' is not train or test"),
    Case("manifest-twice", manifest("img/cat/0.png,cat\nimg/dog/0.png,dog\nimg/cat/0.png,cat\n"), 0, "listed twice"),
    Case("manifest-no-path", manifest("img/cat/0.png,cat\nimg/dog/0.png,dog\n,cat\n"), 0, "line 3: no path"),
    Case("manifest-not-utf8", lambda t: _file(t / "b.csv", b"\xff\xfe\x00x"), 2, "not UTF-8"),
    Case("one-image-class", _one_image_class, 0, "class(es) with one image: solo"),
    Case("empty-source", _empty, 2, "has no class subfolders"),
    Case("mixed-sizes-modes", _mixed, 0, "10 new image(s)"),
    Case("nothing-importable", _all_bad, 2, "nothing importable: 2 file(s) skipped"),
    Case("strict", _strict, 2, "cat/z.png: empty file (0 bytes) (--strict)"),
    Case("missing-source", lambda t: [str(t / "nope")], 2, "no such folder or manifest"),
    Case("not-a-manifest", lambda t: _file(t / "a.txt", b"x"), 2, "not a folder"),
    Case("flat-without-classes", lambda t: [str(img(t / "f" / "a.png", 1).parent)], 2, "--classes a,b,c"),
    Case("duplicate-class-names", _src(["--classes", "cat,cat"]), 2, "given more than once"),
    Case("bad-class-name", _src(["--classes", "cat,d/og"]), 2, "holds one of"),
    Case("folder-not-in-classes", _src(["--classes", "cat,cow"]), 0, "class 'dog' is not one of"),
    Case("all-in-test", _all_test, 2, "every image is in test/"),
    Case("no-classes-alone", _src(["--no-classes"]), 2, "name the classes with --classes"),
    Case("bad-size", _src(["--size", "30"]), 2, "multiple of 4"),
    Case("same-name-twice", _src([], folders), 2, "already exists"),
    Case("append-not-imported", _src(["--append"]), 2, "was not made by `data import`"),
    Case("append-missing", _src(["--append"]), 2, "does not exist"),
    Case("append-other-size", _src(["--append", "--size", "16"]), 2, "settings"),
    Case("append-other-source", _src(["--append"]), 2, "re-reads that source"),
    Case("force-and-append", _src(["--append", "--force"]), 2, "not allowed with"),
]
TARGET = {"same-name-twice": "pets", "append-not-imported": "synth", "append-other-size": "pets",
          "append-other-source": "pets"}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: Case) -> None:
    """Each case: the status, the reason in the output, no traceback, existing datasets untouched."""
    target = TARGET.get(case.name, "new")
    if target == "pets":  # an existing imported dataset
        assert main(["data", "import", "pets", str(folders(tmp_path / "first")), *FAST]) == 0
        if case.name == "same-name-twice":
            (tmp_path / "first").rename(tmp_path / "first-moved")
    (tmp_path / "case").mkdir()
    argv = case.make(tmp_path / "case")
    if case.name in ("same-name-twice", "append-other-size"):
        argv[0] = str(tmp_path / "first")
        folders(tmp_path / "first")
    capsys.readouterr()
    before = tree_bytes(home / "data")
    size = [] if "--size" in argv else ["--size", "8"]
    code, out = run(capsys, "data", "import", target, *argv, *size, "--workers", "1", "--no-progress")
    assert code == case.code, out
    assert case.says in out
    assert "Traceback" not in out
    after = tree_bytes(home / "data")
    assert {k: v for k, v in after.items() if k in before} == before  # existing files byte-identical
    assert set(before) <= set(after)
    new = {k for k in after if k not in before}
    assert all(k.startswith("new/") for k in new)  # only the new dataset appears, and no staging folder
    assert bool(new) == (case.code == 0)


def test_decompression_bomb(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    from PIL import Image as PILImage

    src = folders(tmp_path / "src")  # 12 x 10 = 120 pixels each
    img(src / "dog" / "bomb.png", 1, size=(40, 40))
    monkeypatch.setattr(PILImage, "MAX_IMAGE_PIXELS", 150)  # twice this is Pillow's hard limit
    before = tree_bytes(home / "data")
    code, out = run(capsys, "data", "import", "b", str(src), *FAST)
    assert code == 0 and "dog/bomb.png: decompression bomb refused" in out
    assert {k: v for k, v in tree_bytes(home / "data").items() if k in before} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = folders(tmp_path / "src")
    locked = img(src / "cat" / "locked.png", 3)
    locked.chmod(0)
    code, out = run(capsys, "data", "import", "u", str(src), *FAST)
    assert code == 0 and "cat/locked.png: cannot read: Permission denied" in out
