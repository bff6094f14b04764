"""The app's layers, counting lazy imports: callbacks on top, then the presenter (what a tab is sent),
then the figures and the cards' layouts, then the services. Built on tests/test_imports.py's graph."""

from __future__ import annotations

from tests.test_imports import _graph

FIGURES = ("app.figures", "app.density_figures", "app.mixture_figures", "app.feedback_figures")
ABOVE_SERVICES = (*FIGURES, "app.presenter", "app.layouts", "app.callbacks", "app.state", "app.server")


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(importers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{name} imports {target}"
        for name, imports in sorted(_graph().items())
        if _within(name, importers)
        for target, _top_level in imports
        if _within(target, forbidden)
    ]


def test_services_import_neither_figures_nor_the_presenter_nor_appstate() -> None:
    assert _violations(("app.services",), ABOVE_SERVICES) == []


def test_layouts_never_import_workers_the_presenter_or_appstate() -> None:
    assert _violations(("app.layouts",), ("workers", "app.presenter", "app.state", "app.callbacks")) == []


def test_the_presenter_sits_below_the_callbacks_and_never_reaches_appstate() -> None:
    assert _violations(("app.presenter",), ("app.state", "app.callbacks", "app.server")) == []


def test_figures_sit_below_the_presenter() -> None:
    assert (
        _violations(
            (*FIGURES, "app.colours", "app.arrays"), ("app.presenter", "app.layouts", "app.callbacks", "app.state")
        )
        == []
    )


def test_the_rules_see_a_violation() -> None:
    assert _violations(("app.presenter",), ("app.services",)) != []  # the presenter does import services
