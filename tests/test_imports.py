"""The import graph of the project's own packages: who may import whom.

Built statically with ``ast`` from every module in app/, engine/, workers/ and latentloop/, counting
both top-level imports and imports inside functions ("lazy" imports, which still couple the code).

Rules, at two granularities:

- **Packages** (``latentloop``, ``app``, ``workers``, ``engine``), counting lazy imports too: the
  layers are ``latentloop`` (the CLI that registers every command) above ``app`` (the dashboard)
  above ``workers`` (its child processes) above ``engine`` (the framework-neutral core). A package
  only imports packages below it, so the package graph has no cycle and engine/workers never reach
  up into app or latentloop, not even inside a function.
- **Modules**, top-level imports only: no cycle anywhere. Imports under ``if TYPE_CHECKING:`` count
  as lazy ones: they never run, they only name a type for annotations. Lazy imports inside a package are allowed
  to point "back" (e.g. the backend registry in engine.backends.base imports
  engine.backends.torch.backend on demand, which imports base at top level): that is a plugin
  lookup within one layer, not a layering violation, and cannot deadlock at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("latentloop", "app", "workers", "engine")
# Higher layers may import lower ones, never the reverse.
LAYER = {"latentloop": 3, "app": 2, "workers": 1, "engine": 0}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The project module an import refers to (longest known prefix), or None for third party."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in modules:
            return name
        parts.pop()
    return None


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported project module, is_top_level) for every import statement in the module."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under `if`/`try` at module level run at import time too
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            continue  # `if TYPE_CHECKING:` never runs: annotations only, like a lazy import
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the submodule when there is one.
            targets = [
                f"{base}.{a.name}" if _resolve(f"{base}.{a.name}", modules) == f"{base}.{a.name}" else base
                for a in node.names
            ]
        for t in targets:
            mod = _resolve(t, modules)
            if mod is not None and mod != name:
                out.append((mod, id(node) in top_level))
    return out


def _graph() -> dict[str, list[tuple[str, bool]]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle in a directed graph (as a path that ends where it starts), or None."""
    colour: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if colour.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in colour:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = 2
        return None

    for node in sorted(edges):
        if node not in colour:
            found = visit(node)
            if found:
                return found
    return None


def test_every_package_is_scanned() -> None:
    mods = _modules()
    for pkg in PACKAGES:
        assert pkg in mods, f"{pkg}/__init__.py missing"
    assert len(mods) > 40


def test_engine_and_workers_never_import_app_or_the_cli() -> None:
    bad = [
        (m, t, "top-level" if top else "lazy")
        for m, imps in _graph().items()
        if m.split(".")[0] in ("engine", "workers")
        for t, top in imps
        if t.split(".")[0] in ("app", "latentloop")
    ]
    assert not bad, f"engine/workers import app or latentloop: {bad}"


def test_engine_never_imports_workers() -> None:
    bad = [
        (m, t)
        for m, imps in _graph().items()
        if m.startswith("engine")
        for t, _ in imps
        if t.split(".")[0] == "workers"
    ]
    assert not bad, f"engine imports workers: {bad}"


def test_packages_are_layered_including_lazy_imports() -> None:
    edges: dict[str, set[str]] = {}
    upward = []
    for m, imps in _graph().items():
        src = m.split(".")[0]
        for t, _ in imps:
            dst = t.split(".")[0]
            if dst != src:
                edges.setdefault(src, set()).add(dst)
                if LAYER[dst] > LAYER[src]:
                    upward.append(f"{m} -> {t}")
    assert not upward, "imports from a lower layer into a higher one: " + ", ".join(upward)
    assert _find_cycle(edges) is None


def test_no_cycle_among_top_level_imports() -> None:
    edges = {m: {t for t, top in imps if top} for m, imps in _graph().items()}
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_cycles() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None
