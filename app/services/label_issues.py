"""Suspicious labels for the page: the label-issue ranking (engine/analysis/label_issues.py) of the current
map version's model, cached until the map, the labels or the accepted labels change.

Feeds the queue strategy "suspicious labels", the sample panel's given-vs-suggested line and the map's
"label quality" colour mode (docs/label-issues.md). Pure numpy + the engine; no Dash.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from app.services.candidates import Candidate, CandidateQueue
from app.services.embeddings import MapVersion
from engine.analysis.label_issues import LabelIssue, LabelIssues, NeighbourhoodIndex, score_labels
from engine.errors import LatentLoopError
from engine.stores.labels import LabelStore

SUSPICIOUS = "suspicious"  # the queue strategy name


class LabelIssueService:
    """``store``: the dataset's LabelStore (for the accepted labels); ``prior_counts``: the tau prior
    of the model's config; ``n_train``: training rows (the only labellable ones); ``names``: the
    class names the reasons use (the numbers by default)."""

    def __init__(
        self, store: LabelStore, prior_counts: np.ndarray, n_train: int, names: Sequence[str] | None = None
    ) -> None:
        self.store = store
        self.names = list(names) if names is not None else None
        self.prior_counts = np.asarray(prior_counts, np.float64)
        self.n_train = int(n_train)
        self.error = ""
        self._lock = threading.Lock()
        self._cache: tuple[int, np.ndarray, tuple[int, ...], LabelIssues] | None = None
        self._index: tuple[int, NeighbourhoodIndex] | None = None  # per map version

    def key(self, v: MapVersion) -> str:
        """Changes whenever :meth:`ranking` may answer differently."""
        return f"{v.version}:{self.store.version()}:{self.store.accepted_version()}"

    def ranking(self, v: MapVersion, labels: np.ndarray) -> LabelIssues:
        """Every labelled sample scored by version ``v``'s model (``labels``: -1 = unlabelled).
        A malformed accepted-labels file sets :attr:`error` and scores as if nothing was accepted."""
        acc_version = self.store.accepted_version()
        with self._lock:
            c = self._cache
            if c is not None and c[0] == v.version and c[1] is labels and c[2] == acc_version:
                return c[3]
        try:
            accepted = self.store.accepted()
            self.error = ""
        except LatentLoopError as err:
            accepted = {}
            self.error = str(err)
        lab = np.asarray(labels[: self.n_train])
        serials = np.flatnonzero(lab >= 0)
        if len(serials) < 2:
            result = LabelIssues([])
        else:
            result = score_labels(
                serials,
                lab[serials],
                v.resp[serials],
                v.mu[serials],
                self.prior_counts,
                accepted,
                index=self._index_of(v),
                labelled=lab >= 0,
            )
        with self._lock:
            self._cache = (v.version, labels, acc_version, result)
        return result

    def _index_of(self, v: MapVersion) -> NeighbourhoodIndex:
        idx = self._index
        if idx is None or idx[0] != v.version:
            idx = (v.version, NeighbourhoodIndex(v.mu[: self.n_train], v.resp[: self.n_train]))
            self._index = idx
        return idx[1]

    def of(self, v: MapVersion, labels: np.ndarray, serial: int) -> LabelIssue | None:
        return self.ranking(v, labels).of(serial)

    def candidates(self, v: MapVersion, labels: np.ndarray, size: int) -> tuple[list[Candidate], str]:
        """The queue: the suspicious labels, most suspicious first, and a one-line source note."""
        ranking = self.ranking(v, labels)
        issues = ranking.issues()
        n_acc = sum(r.accepted for r in ranking.ranked)
        items = [
            Candidate(r.serial, 1.0 - r.quality, r.suggested, r.suggested_prob, r.reason(self.names)) for r in issues
        ]
        if self.error:
            note = f"error: {self.error}"
        elif len(ranking.ranked) < 2:
            note = "suspicious labels: label at least two samples first"
        else:
            note = (
                f"{len(issues)} suspicious of {len(ranking.ranked)} labels (cleanlab on neighbourhood tau, "
                f"map v{v.version})" + (f"; {n_acc} accepted" if n_acc else "") + ". Digit: relabel · a: accept"
            )
        return items[:size], note

    def colours(self, v: MapVersion, labels: np.ndarray) -> dict[str, Any]:
        """The "label quality" colour mode's data: labelled serials and their quality scores."""
        ranking = self.ranking(v, labels)
        rows = [r for r in ranking.ranked if r.serial < v.n_points]
        return {
            "version": v.version,
            "serials": [r.serial for r in rows],
            "quality": [round(r.quality, 3) for r in rows],
        }


def queue_menu() -> list[dict[str, str]]:
    """The queue menu: the candidate queue's strategies, then the suspicious labels."""
    return [
        *CandidateQueue.strategies(),
        {
            "value": SUSPICIOUS,
            "label": "suspicious labels",
            "title": "your labels the model disagrees with, ranked by cleanlab (digit: relabel, a: accept)",
        },
    ]
