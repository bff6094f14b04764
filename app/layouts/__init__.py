"""Layout functions: build components only (no callbacks, no I/O)."""

from app.layouts.page import SHORTCUTS, build_layout

__all__ = ["SHORTCUTS", "build_layout"]
