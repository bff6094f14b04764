"""Layout functions: build components only (no callbacks, no I/O). One module per card holds its
skeleton and its redraw; the presenter (app/presenter/) decides when a redraw is sent."""

from app.layouts.page import SHORTCUTS, build_layout

__all__ = ["SHORTCUTS", "build_layout"]
