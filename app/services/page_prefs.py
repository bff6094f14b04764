"""The Label page's per-dataset preferences other than the projection: whether a label advances to
the next candidate (issue 27). They live in the same file as the projection choice
(``data/<dataset>/app.json``, app/services/projection.py SETTINGS_FILE), each under its own key;
a write keeps the file's other keys."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from engine.io import atomic_write_bytes

AUTO_ADVANCE_KEY = "auto_advance"


class PagePrefs:
    """``path``: the dataset's app.json. A missing or malformed file reads as the defaults (the
    projection service reports a malformed one); a failed write sets :attr:`error`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.error = ""
        self._lock = threading.Lock()

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def auto_advance(self) -> bool:
        """After a label, select the next candidate (default: no)."""
        return self._read().get(AUTO_ADVANCE_KEY) is True

    def set_auto_advance(self, on: bool) -> None:
        """Remember the choice for this dataset."""
        with self._lock:
            data = self._read()
            data[AUTO_ADVANCE_KEY] = bool(on)
            try:
                atomic_write_bytes(self.path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
                self.error = ""
            except OSError as err:
                self.error = f"{self.path}: the auto-advance choice could not be saved ({err})"
