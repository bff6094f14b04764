"""The candidate queue: which samples to label next, best first.

Two kinds of source, chosen by the strategy name the page asks for:

- an engine acquisition strategy (:mod:`engine.analysis.acquisition`) over the current embeddings,
  recomputed when the strategy or the embedding version changes;
- ``"forecast"`` (:data:`EXTERNAL`): the ranked list pushed through :meth:`set_external` by the
  forecast worker (samples likely to be wrong at the next refresh, with a reason each,
  docs/architecture.md section 6), or a note saying why there is none (the review window is closed).

Whatever the source, already-labelled samples drop out when the queue is read. Pure numpy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.analysis.acquisition import STRATEGIES, describe
from engine.analysis.ranking import MC_POOL, RANK_DEPTH, rank_unlabelled

EXTERNAL = "forecast"  # the strategy name under which the pushed list is shown
# Strategies that cluster the latent means (a second or two on 60,000 samples): after a map
# refresh the page keeps showing the last ranking until the new one, computed in a thread, lands.
BACKGROUND = frozenset({"auto", "typical", "mixture"})


@dataclass(frozen=True)
class Candidate:
    serial: int
    score: float
    predicted: int
    certainty: float  # max class probability in [0, 1]
    why: str = ""
    runner_up: int = -1  # the second most probable class (-1: not known), for "cat 0.52 vs dog"


McFn = Callable[[np.ndarray], np.ndarray]  # pool serials -> probs_mc [T, len(pool), C]


class CandidateQueue:
    """Ranked candidates over the training samples (Serials 0..n_train-1).

    ``size``: how many the page shows; ``pool``: how many are ranked at once (labelling drains
    the ranking, it is recomputed when fewer than ``size`` unlabelled remain); ``mc_pool``: the
    MC-dropout strategies score only this many most-entropic samples (MC passes over 60,000
    images would take the page several seconds). The ranking is :func:`engine.analysis.ranking.rank_unlabelled`,
    the same as ``latentloop suggest``'s.
    """

    def __init__(
        self, n_train: int, size: int = 20, pool: int = RANK_DEPTH, mc_pool: int = MC_POOL, seed: int = 0
    ) -> None:
        self.n_train = int(n_train)
        self.size = int(size)
        self.pool = int(pool)
        self.mc_pool = int(mc_pool)
        self.seed = int(seed)
        self._lock = threading.Lock()
        self._ranked: list[Candidate] = []
        self._ranked_key: tuple[Any, ...] | None = None
        self._external: list[Candidate] = []
        self._external_note = "no forecast yet (the forecast worker reports at every map refresh)"
        self._external_rev = 0
        self._rank_rev = 0  # bumped when a ranking computed in the background lands
        self._pending: tuple[str, int] | None = None  # the key being ranked in the background

    @staticmethod
    def strategies() -> list[dict[str, str]]:
        """Dropdown options: every engine strategy with its one-line description, then the forecast."""
        return [{"value": s, "label": s, "title": describe(s)} for s in STRATEGIES] + [
            {
                "value": EXTERNAL,
                "label": "forecast: likely wrong next",
                "title": "samples the forecast worker expects to be misclassified at the next refresh",
            }
        ]

    # -- external input (forecast worker) ---------------------------------------------------------
    def set_external(self, candidates: Iterable[Candidate | Mapping[str, Any]], note: str = "") -> None:
        """Replace the externally ranked list (best first). Dicts need ``serial`` (or ``sample_idx``),
        and may carry ``score``/``risk``, ``predicted``, ``certainty``, ``why``. ``note``: one line
        the page shows above the list (e.g. the review window's state)."""
        items: list[Candidate] = []
        for c in candidates:
            if isinstance(c, Candidate):
                items.append(c)
                continue
            serial = int(c.get("serial", c.get("sample_idx", -1)))
            if not 0 <= serial < self.n_train:
                raise ValueError(f"external candidate {serial} is not a training sample (0..{self.n_train - 1})")
            items.append(
                Candidate(
                    serial,
                    float(c.get("score", c.get("risk", 0.0))),
                    int(c.get("predicted", -1)),
                    float(c.get("certainty", float("nan"))),
                    str(c.get("why", "")),
                )
            )
        with self._lock:
            self._external = items
            self._external_note = note
            self._external_rev += 1

    # -- reading -----------------------------------------------------------------------------------
    def items(
        self,
        strategy: str,
        version: int,
        probs: np.ndarray,
        features: np.ndarray,
        labels: np.ndarray,
        mc: McFn | None = None,
        resp: np.ndarray | None = None,
    ) -> list[Candidate]:
        """The next ``size`` unlabelled candidates. ``probs``/``features`` cover the training rows
        of embedding ``version`` (``resp``: its responsibilities); ``labels`` is the label array (-1 = unlabelled)."""
        labelled = labels[: self.n_train] >= 0
        if strategy == EXTERNAL:
            with self._lock:
                return [c for c in self._external if not labelled[c.serial]][: self.size]
        key = (strategy, version)
        enough = min(self.size, int((~labelled).sum()))
        with self._lock:
            ranked = self._ranked if self._ranked_key == key else None
            stale = self._ranked if self._ranked_key is not None and self._ranked_key[0] == strategy else None
        if ranked is not None:
            left = [c for c in ranked if not labelled[c.serial]]
            if len(left) >= enough:
                return left[: self.size]
        elif stale is not None and strategy in BACKGROUND:
            # a new map version: show the last ranking (its labelled samples dropped) while the new
            # one is computed off the page's request thread; key() changes when it lands
            left = [c for c in stale if not labelled[c.serial]]
            if len(left) >= enough:
                self._rank_later(key, probs, features, labelled, mc, resp)
                return left[: self.size]
        ranked = self._rank(strategy, probs, features, labelled, mc, resp)
        with self._lock:
            self._ranked, self._ranked_key = ranked, key
        return ranked[: self.size]

    def _rank_later(
        self,
        key: tuple[str, int],
        probs: np.ndarray,
        features: np.ndarray,
        labelled: np.ndarray,
        mc: McFn | None,
        resp: np.ndarray | None,
    ) -> None:
        """Rank for ``key`` in a thread (one at a time; a newer key waits for the next call)."""
        with self._lock:
            if self._pending is not None:
                return
            self._pending = key

        def work() -> None:
            try:
                ranked = self._rank(key[0], probs, features, labelled, mc, resp)
                with self._lock:
                    self._ranked, self._ranked_key = ranked, key
                    self._rank_rev += 1
            finally:
                with self._lock:
                    self._pending = None

        threading.Thread(target=work, name="queue-rank", daemon=True).start()

    def key(self, strategy: str, version: int) -> tuple[Any, ...]:
        """Changes whenever :meth:`items` may return a different ranking (labels aside)."""
        if strategy == EXTERNAL:
            with self._lock:
                return ("external", self._external_rev)
        with self._lock:
            return ("strategy", strategy, version, self._rank_rev)

    def describe_source(self, strategy: str) -> str:
        if strategy == EXTERNAL:
            with self._lock:
                return self._external_note
        return describe(strategy)

    def _rank(
        self,
        strategy: str,
        probs: np.ndarray,
        features: np.ndarray,
        labelled: np.ndarray,
        mc: McFn | None,
        resp: np.ndarray | None = None,
    ) -> list[Candidate]:
        probs = probs[: self.n_train]
        sel = rank_unlabelled(
            strategy,
            self.pool,
            probs=probs,
            features=features[: self.n_train],
            labelled=labelled,
            resp=None if resp is None else resp[: self.n_train],
            mc=mc,
            mc_pool=self.mc_pool,
            seed=self.seed,
        )
        top2 = np.argsort(-probs[sel.indices], axis=1, kind="stable")[:, :2]
        return [
            Candidate(int(s), float(sc), int(t[0]), float(pr[t[0]]), runner_up=int(t[1]) if len(t) > 1 else -1)
            for s, sc, pr, t in zip(sel.indices, sel.scores, probs[sel.indices], top2, strict=True)
        ]
