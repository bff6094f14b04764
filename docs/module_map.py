"""Write the module map of docs/architecture.md (section 10) from the code: every module of app/,
engine/, workers/ and latentloop/ with its line count and the first sentence of its docstring, and
the files and lines per package. ``python docs/module_map.py`` rewrites the table; ``--check``
exits 1 when the committed one is stale (tests/test_docs.py runs it)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("latentloop", "app", "workers", "engine")
START, END = "<!-- module-map:start -->", "<!-- module-map:end -->"
WIDTH = 150


def _summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    if not first:
        return "package marker" if path.name == "__init__.py" else ""
    end = first.find(". ")
    text = first if end < 0 else first[: end + 1]
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def modules() -> list[Path]:
    """Every Python module of the four packages, sorted by path."""
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def table() -> str:
    """The markdown of section 10's body: packages, then modules."""
    mods = modules()
    per: dict[str, list[int]] = {}
    for p in mods:
        rel = p.relative_to(ROOT)
        key = str(rel.parent) if rel.parts[0] == "engine" or len(rel.parts) > 2 else rel.parts[0]
        per.setdefault(key, []).append(_lines(p))
    out = ["| package | files | lines |", "|---|---:|---:|"]
    out += [f"| `{k}/` | {len(v)} | {sum(v)} |" for k, v in sorted(per.items())]
    total = sum(sum(v) for v in per.values())
    out += [f"| all | {len(mods)} | {total} |", "", "| module | lines | what it is for |", "|---|---:|---|"]
    out += [f"| `{p.relative_to(ROOT)}` | {_lines(p)} | {_summary(p).replace('|', '/')} |" for p in mods]
    return "\n".join(out)


def render(doc: str) -> str:
    """``doc`` with the text between the markers replaced by :func:`table`."""
    head, _, rest = doc.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    doc = DOC.read_text(encoding="utf-8")
    if START not in doc or END not in doc:
        print(f"{DOC}: no {START} ... {END} markers", file=sys.stderr)
        return 2
    new = render(doc)
    if "--check" in argv:
        if new != doc:
            print(f"{DOC}: the module map is stale; run `python docs/module_map.py`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
