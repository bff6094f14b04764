"""The docs that are generated from the code stay generated: a stale module map fails here."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import ROOT


def test_the_module_map_is_current() -> None:
    run = subprocess.run(
        [sys.executable, "docs/module_map.py", "--check"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert run.returncode == 0, run.stderr


def test_the_check_sees_a_stale_map(tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import module_map
    finally:
        sys.path.pop(0)
    doc = tmp_path / "architecture.md"
    doc.write_text(f"# x\n{module_map.START}\n| old | 1 | x |\n{module_map.END}\n")
    monkeypatch.setattr(module_map, "DOC", doc)
    assert module_map.main(["--check"]) == 1
    assert module_map.main([]) == 0 and module_map.main(["--check"]) == 0
    assert "`engine/config.py`" in doc.read_text()
