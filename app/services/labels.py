"""The label store as the page reads it: the current labels cached by the store's version, the
last good labels when labels.csv is broken, and the change log's facts (engine/stores/labels.py parses it)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from engine.errors import LatentLoopError
from engine.stores.labels import LabelStore


class LabelReader:
    """``store``: the engine's LabelStore; ``n_train``: the length of the label array."""

    def __init__(self, store: LabelStore, n_train: int) -> None:
        self.store = store
        self.n_train = n_train
        self.error = ""
        self._cache: tuple[Any, np.ndarray] | None = None
        self._lock = threading.Lock()

    def read(self) -> np.ndarray:
        """Current labels (-1 = none, read-only). A broken labels.csv (edited by hand while the app
        runs) keeps the last good labels and sets :attr:`error`."""
        key = self.store.version()
        with self._lock:
            if self._cache is not None and self._cache[0] == key:
                self.error = ""  # the file is back in the state it was last read well in
                return self._cache[1]
        try:
            arr = self.store.read()
        except LatentLoopError as e:
            with self._lock:
                self.error = str(e)
                return self._cache[1] if self._cache else np.full(self.n_train, -1, np.int64)
        arr.flags.writeable = False
        with self._lock:
            self._cache = (key, arr)
            self.error = ""
        return arr

    def log_position(self) -> int:
        """Id of the newest change-log entry (0 if none): a page's starting point."""
        ids: list[int] = [e["id"] for e in self.store.history() if isinstance(e.get("id"), int)]
        return max(ids) if ids else 0

    def cli_added_since(self, start_id: int) -> int:
        """Labels set by anyone but the app (the CLI) after change-log entry ``start_id``."""
        return self.store.added_since(start_id, exclude_source="app")
