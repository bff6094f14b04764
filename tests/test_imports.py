"""The import graph of the project's own packages: who may import whom.

Built statically with ``ast`` from every module in app/, engine/, workers/ and latentloop/, counting
both top-level imports and imports inside functions ("lazy" imports, which still couple the code).

Rules, at two granularities:

- **Packages** (``latentloop``, ``app``, ``workers``, ``engine``), counting lazy imports too: the
  layers are ``latentloop`` (the CLI that registers every command) above ``app`` (the dashboard)
  above ``workers`` (its child processes) above ``engine`` (the framework-neutral core). A package
  only imports packages below it, so the package graph has no cycle and engine/workers never reach
  up into app or latentloop, not even inside a function.
- **Modules**, counting lazy imports too: no cycle anywhere. Imports under ``if TYPE_CHECKING:``
  never run (they only name a type for annotations): they count for the package layers, not for
  module cycles. The backend registry
  (engine/backends/registry.py) finds a backend by a string with ``importlib``: a plugin lookup,
  not an import statement.
- **Rooms inside the app**: the presenter (app/presenter/) sits above the services and the figures;
  services never import figures, the presenter or AppState (app/state.py); layouts never import
  workers/.
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


def _imports(name: str, path: Path, modules: dict[str, Path], types: bool = True) -> list[tuple[str, bool]]:
    """(imported project module, is_top_level) for every import statement in the module; with
    ``types=False`` without those under ``if TYPE_CHECKING:`` (they never run)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    type_only: set[int] = set()
    for node in tree.body:  # imports under `if`/`try` at module level run at import time too
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            type_only |= {id(n) for n in ast.walk(node)}  # never runs: annotations only
            continue
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom))}
    out = []
    for node in ast.walk(tree):
        if not types and id(node) in type_only:
            continue
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


def _graph(types: bool = True) -> dict[str, list[tuple[str, bool]]]:
    modules = _modules()
    return {name: _imports(name, path, modules, types) for name, path in modules.items()}


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


def test_no_cycle_counting_imports_inside_functions() -> None:
    """A lazy import that only dodges a cycle still couples the two modules both ways."""
    edges = {m: {t for t, _ in imps} for m, imps in _graph(types=False).items()}
    cycle = _find_cycle(edges)
    assert cycle is None, "import cycle (lazy imports counted): " + " -> ".join(cycle or [])


def _imports_of(prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(m, t) for m, imps in _graph().items() if m.startswith(prefixes) for t, _ in imps]


def _in(module: str, *rooms: str) -> bool:
    return any(module == r or module.startswith(r + ".") for r in rooms)


FIGURES = ("app.figures", "app.mixture_figures", "app.density_figures", "app.feedback_figures")


def test_services_import_neither_figures_nor_the_presenter_nor_app_state() -> None:
    bad = [(m, t) for m, t in _imports_of(("app.services",)) if _in(t, *FIGURES, "app.presenter", "app.state")]
    assert not bad, f"services import a figure module, the presenter or AppState: {bad}"


def test_the_presenter_is_above_services_and_figures() -> None:
    below = ("app.services", *FIGURES, "app.layouts", "app.cards", "app.viewmodels", "app.colours")
    bad = [(m, t) for m, t in _imports_of(below) if _in(t, "app.presenter")]
    assert not bad, f"a service, figure or layout imports the presenter: {bad}"


def test_layouts_never_import_workers() -> None:
    bad = [(m, t) for m, t in _imports_of(("app.layouts", "app.cards")) if _in(t, "workers")]
    assert not bad, f"layouts import workers/: {bad}"


def test_the_rules_see_lazy_imports(tmp_path: Path) -> None:
    """The graph counts an import inside a function (so a lazy import cannot hide a cycle)."""
    (tmp_path / "m.py").write_text("def f():\n    from engine import errors\n")
    modules = {**_modules(), "m": tmp_path / "m.py"}
    assert ("engine.errors", False) in _imports("m", tmp_path / "m.py", modules)


def test_the_cycle_finder_finds_cycles() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}}) is None
