"""The forecaster: per-sample risk features over a short history of refreshes, their fitted
logistic combination, the gates of the review window and a one-line reason per candidate (pure numpy)."""

from __future__ import annotations

import collections
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.analysis.acquisition import entropy as _entropy
from workers.forecast.messages import ForecastResult

#: Logistic combination of the per-sample features (see :meth:`Forecaster.features`):
#: risk = sigmoid(bias + sum_f w_f * feature_f), an estimate of P(misclassified at the next refresh).
#: Fitted with ``benchmarks/bench_forecast.py --fit`` on one MNIST run (seed 0: default config, 100
#: oracle labels, a refresh every 250 steps to 3000, all 59,900 unlabelled training images; positives:
#: misclassified at refresh t+1) and checked on another run (seed 1). Features the measurement found
#: no held-out gain for (margin trend, tau disagreement, latent distance to labelled samples) have
#: weight 0: they are still computed and quoted in the reasons. Numbers: docs/forecast.md.
RISK_WEIGHTS: dict[str, float] = {"bias": -3.76, "entropy": 1.17, "ens_entropy": 2.72, "flips": 0.18}

#: The logistic output is over-confident at the top (the most uncertain samples are genuinely
#: ambiguous: about 2 in 3 of them end up wrong, not 19 in 20), so the reported risk maps it through
#: the observed rate of misclassification per bin on the fit run (piecewise linear, monotone; the
#: ranking uses the uncalibrated score). On the held-out runs, samples reported at 0.6-0.7 (mean
#: 0.64) were wrong 60% (seed 1) and 52% (seed 2) of the time, at 0.3-0.5 38% and 31%.
#: (raw, observed) pairs from ``bench_forecast.py --fit``:
RISK_CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.0, 0.0),
    (0.027, 0.022),
    (0.182, 0.269),
    (0.383, 0.398),
    (0.591, 0.484),
    (0.786, 0.556),
    (0.922, 0.662),
    (0.963, 0.69),
    (1.0, 0.69),
)

#: Every feature :meth:`Forecaster.features` returns (all [N] float32; larger = riskier except margin).
FEATURES = ("entropy", "ens_entropy", "flips", "margin", "margin_drop", "tau_disagree", "knn_disagree", "knn_dist")
#: The ones the fitted combination uses.
FIT_FEATURES = ("entropy", "ens_entropy", "flips")


@dataclass
class GateConfig:
    """When the review window opens. Every gate must pass; defaults are justified in docs/forecast.md.

    - ``min_steps``: trained at least this many steps (the default curriculum's warm-up is 200
      reconstruction-only steps; predictions before that mean nothing). Refreshes before it are not
      kept in the history either.
    - ``chance_margin``: held-out accuracy >= 1/C + this (mean max-probability of the unlabelled
      samples stands in when no test accuracy is known).
    - ``min_history``: refreshes in the history (flips and trends need two).
    - ``plateau_changed``: at most this fraction of unlabelled predictions changed between the last
      two refreshes. On MNIST a still-learning model changed 17% of them between refreshes, a
      settled one keeps churning 3-7% (SGD noise) however long it trains: 8% lies between.
      ``plateau_cap``: after this many refreshes in the history it counts as a plateau anyway (a
      noisy model must not keep the window closed forever), and so does a finished run
      (``step >= steps_total``).
    """

    min_steps: int = 300
    chance_margin: float = 0.1
    min_history: int = 2
    plateau_changed: float = 0.08
    plateau_cap: int = 4


@dataclass
class _Refresh:
    step: int
    pred: np.ndarray  # int16 [N]
    probs: np.ndarray  # float16 [N, C] (70,000 x 10: 1.4 MB per refresh)


def _top2_margin(p: np.ndarray) -> np.ndarray:
    """p_top1 - p_top2 per row (engine.analysis.acquisition.margin is 1 minus this)."""
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def nearest_labelled(mu: np.ndarray, lab_idx: np.ndarray, block: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(Euclidean distance, index into ``lab_idx``) of each row's nearest labelled row of ``mu``.

    A labelled row finds itself (distance 0). Blocked so memory stays at ``block * L`` floats."""
    n = len(mu)
    if len(lab_idx) == 0:
        return np.full(n, np.inf, np.float32), np.full(n, -1, np.int64)
    x = np.asarray(mu, np.float32)
    c = x[lab_idx]
    c_sq = np.einsum("ij,ij->i", c, c)
    dist = np.empty(n, np.float32)
    arg = np.empty(n, np.int64)
    for s in range(0, n, block):
        xb = x[s : s + block]
        d = xb @ (-2.0 * c.T)
        d += c_sq
        j = d.argmin(axis=1)
        arg[s : s + block] = j
        dist[s : s + block] = d[np.arange(len(xb)), j] + np.einsum("ij,ij->i", xb, xb)
    return np.sqrt(np.maximum(dist, 0.0)), arg


class Forecaster:
    """Per-sample history over the last ``history`` refreshes and the risk ranking. Pure numpy.

    Call :meth:`update` once per refresh (in step order). After it, ``self.score`` [N] holds every
    sample's ranking score, ``self.risk`` [N] the calibrated risk and ``self.last_features`` the
    features they came from (the benchmark reads them).
    A refresh at a smaller step than the previous one (another checkpoint was loaded) or with a
    different N starts a new history; one at the same step replaces the newest entry.
    """

    def __init__(
        self,
        history: int = 5,
        k: int = 10,
        gates: GateConfig | None = None,
        weights: dict[str, float] | None = None,
        calibration: tuple[tuple[float, float], ...] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        if history < 2:
            raise ValueError("history must be >= 2 (flips need two refreshes)")
        self.history = int(history)
        self.k = int(k)
        self.gates = gates or GateConfig()
        self.weights = dict(RISK_WEIGHTS if weights is None else weights)
        # the calibration belongs to RISK_WEIGHTS: other weights report their raw logistic output
        cal = calibration if calibration is not None else RISK_CALIBRATION if weights is None else None
        self.calibration = None if cal is None else (np.array([a for a, _ in cal]), np.array([b for _, b in cal]))
        self._hist: collections.deque[_Refresh] = collections.deque(maxlen=self.history)
        self._changed: collections.deque[float] = collections.deque(maxlen=self.history)
        self.score: np.ndarray | None = None  # logistic output [N], ranks the samples
        self.risk: np.ndarray | None = None  # calibrated score [N], reported as "risk"
        self._mean_probs: np.ndarray | None = None
        self._nn_label = np.zeros(0, np.int64)
        self._span = 1  # refreshes the newest features looked at (history + the current one)
        self.last_features: dict[str, np.ndarray] = {}
        self.names = list(names) if names else []  # the class names the reasons use (the numbers where empty)

    def _name(self, c: int) -> str:
        return self.names[c] if 0 <= c < len(self.names) else str(c)

    def reset(self) -> None:
        self._hist.clear()
        self._changed.clear()

    @property
    def n_history(self) -> int:
        return len(self._hist)

    # -- features --------------------------------------------------------------------------------
    def features(
        self,
        probs: np.ndarray,
        labels: np.ndarray,
        tau_pred: np.ndarray | None,
        mu: np.ndarray | None,
        pred: np.ndarray,
        margin: np.ndarray,
    ) -> dict[str, np.ndarray]:
        """Per-sample features [N] (float32) over the *window*: the stored history (which must not yet
        contain the current refresh) cut to the last ``history - 1`` refreshes, plus the current one.

        - ``entropy``: predictive entropy now (nats; engine.analysis.acquisition.entropy);
        - ``ens_entropy``: entropy of the window's mean probabilities (a snapshot ensemble over time:
          high when the sample is unsure now *or* its prediction moved between refreshes);
        - ``flips``: changes of the predicted class between consecutive refreshes of the window;
        - ``margin``: top-1 minus top-2 probability now; ``margin_drop``: how far it fell below its
          mean over the earlier refreshes (>= 0);
        - ``tau_disagree``: the tau route's hard prediction differs from the classifier's;
        - ``knn_disagree``: the nearest labelled sample in latent space has another class;
        - ``knn_dist``: log of that distance over its median across samples, floored at 0.
        """
        n = len(probs)
        past = list(self._hist)[-(self.history - 1) :]
        self._span = len(past) + 1
        total = probs.astype(np.float32, copy=True)
        for h in past:
            total += h.probs
        mean_p = total / np.float32(len(past) + 1)
        self._mean_probs = mean_p
        f: dict[str, np.ndarray] = {
            "entropy": _entropy(probs).astype(np.float32),
            "ens_entropy": _entropy(mean_p).astype(np.float32),
        }
        flips = np.zeros(n, np.float32)
        seq = [h.pred for h in past] + [pred]
        for a, b in itertools.pairwise(seq):
            flips += a != b
        f["flips"] = flips
        f["margin"] = margin.astype(np.float32)
        if past:
            prev_m = np.mean([_top2_margin(h.probs.astype(np.float32)) for h in past], axis=0)
            f["margin_drop"] = np.maximum(prev_m - margin, 0.0).astype(np.float32)
        else:
            f["margin_drop"] = np.zeros(n, np.float32)
        f["tau_disagree"] = np.zeros(n, np.float32) if tau_pred is None else (tau_pred != pred).astype(np.float32)
        lab = np.flatnonzero(labels >= 0)
        self._nn_label = np.full(n, -1, np.int64)
        if mu is not None and len(lab):
            dist, j = nearest_labelled(mu, lab)
            self._nn_label = labels[lab][j]
            f["knn_disagree"] = (self._nn_label != pred).astype(np.float32)
            typical = float(np.median(dist)) or 1.0
            f["knn_dist"] = np.maximum(np.log(np.maximum(dist, 1e-6) / typical), 0.0).astype(np.float32)
        else:
            f["knn_disagree"] = np.zeros(n, np.float32)
            f["knn_dist"] = np.zeros(n, np.float32)
        return f

    def combine(self, f: dict[str, np.ndarray]) -> np.ndarray:
        """Score in [0, 1]: the logistic combination :data:`RISK_WEIGHTS` of the features."""
        w = self.weights
        z = np.full(len(f["entropy"]), w.get("bias", 0.0), np.float64)
        for name, x in f.items():
            if w.get(name):
                z += w[name] * x
        return 1.0 / (1.0 + np.exp(-z))

    # -- gates -----------------------------------------------------------------------------------
    def _gates(
        self,
        step: int,
        num_classes: int,
        test_acc: float | None,
        mean_conf: float,
        steps_total: int | None,
        acc_split: str = "test",
    ) -> tuple[dict[str, dict[str, Any]], bool, str]:
        g = self.gates
        gates: dict[str, dict[str, Any]] = {}
        gates["min_steps"] = {"passed": step >= g.min_steps, "value": float(step), "threshold": float(g.min_steps)}
        chance = 1.0 / num_classes + g.chance_margin
        have_acc = test_acc is not None and math.isfinite(test_acc)
        acc = float(test_acc) if test_acc is not None and have_acc else mean_conf
        gates["better_than_chance"] = {
            "passed": acc >= chance,
            "value": round(acc, 4),
            "threshold": round(chance, 4),
            "source": ("test_acc" if acc_split == "test" else f"{acc_split}_acc") if have_acc else "mean_max_prob",
        }
        nh = len(self._hist)
        gates["history"] = {"passed": nh >= g.min_history, "value": float(nh), "threshold": float(g.min_history)}
        changed = self._changed[-1] if len(self._changed) and nh >= 2 else None
        finished = steps_total is not None and step >= steps_total
        capped = nh >= g.plateau_cap
        settled = changed is not None and changed <= g.plateau_changed
        gates["plateau"] = {
            "passed": bool(settled or capped or finished),
            "value": None if changed is None else round(float(changed), 4),
            "threshold": g.plateau_changed,
            "by": "changed" if settled else "cap" if capped else "finished" if finished else None,
        }
        closed = next((name for name, v in gates.items() if not v["passed"]), None)
        if closed is None:
            by = gates["plateau"]["by"]
            how = (
                f"{changed:.1%} of predictions changed since the last refresh (<= {g.plateau_changed:.0%})"
                if by == "changed"
                else f"{nh} refreshes of history (plateau cap)"
                if by == "cap"
                else "the training run has finished"
            )
            src = f"{acc_split} accuracy" if have_acc else "mean confidence"
            return gates, True, f"open: step {step}, {src} {acc:.2f} > chance, {how}"
        v = gates[closed]
        if closed == "min_steps":
            reason = f"closed by min_steps: step {step} < {g.min_steps} (too early to judge)"
        elif closed == "better_than_chance":
            what = f"{acc_split} accuracy" if have_acc else f"mean confidence (no {acc_split} accuracy yet)"
            reason = f"closed by better_than_chance: {what} {acc:.2f} < {chance:.2f}"
        elif closed == "history":
            reason = f"closed by history: {nh} refresh(es) since step {g.min_steps}, need {g.min_history}"
        elif v["value"] is None:
            reason = (
                f"closed by plateau: no two refreshes to compare yet; opens at the latest after "
                f"{g.plateau_cap} refreshes"
            )
        else:
            reason = (
                f"closed by plateau: {v['value']:.1%} of predictions changed since the last refresh "
                f"(> {g.plateau_changed:.0%}); opens at the latest after {g.plateau_cap} refreshes"
            )
        return gates, False, reason

    # -- one refresh -------------------------------------------------------------------------------
    def update(
        self,
        probs: np.ndarray,
        labels: np.ndarray,
        tau_pred: np.ndarray | None = None,
        mu: np.ndarray | None = None,
        *,
        version: int = 0,
        step: int = 0,
        test_acc: float | None = None,
        steps_total: int | None = None,
        acc_split: str = "test",
    ) -> ForecastResult:
        """Add one refresh and rank. ``labels`` int [M <= N] (-1 unlabelled); only unlabelled rows
        below M are candidates."""
        probs = np.asarray(probs, np.float32)
        if probs.ndim != 2 or probs.shape[1] < 2 or len(probs) == 0:
            raise ValueError(f"probs must be [N, C >= 2] with N >= 1, got {probs.shape}")
        if not np.all(np.isfinite(probs)):
            raise ValueError("probs contains NaN or infinite values")
        n, c = probs.shape
        labels = np.asarray(labels, np.int64)
        if labels.ndim != 1 or len(labels) > n:
            raise ValueError(f"labels must be [M <= {n}], got {labels.shape}")
        if len(labels) and (labels.max() >= c or labels.min() < -1):
            raise ValueError(f"labels must be -1 or in [0, {c})")
        full_labels = np.full(n, -1, np.int64)
        full_labels[: len(labels)] = labels
        pool = np.zeros(n, bool)
        pool[: len(labels)] = labels < 0
        if tau_pred is not None:
            tau_pred = np.asarray(tau_pred)
            if tau_pred.shape != (n,):
                raise ValueError(f"tau_pred must be [{n}], got {tau_pred.shape}")
        if mu is not None:
            mu = np.asarray(mu, np.float32)
            if mu.ndim != 2 or len(mu) != n or not np.all(np.isfinite(mu)):
                raise ValueError(f"mu must be finite [{n}, D], got {mu.shape}")

        if self._hist and (len(self._hist[-1].pred) != n or step < self._hist[-1].step):
            self.reset()  # another dataset or an older checkpoint: the history no longer applies
        if self._hist and step == self._hist[-1].step:
            self._hist.pop()  # same weights re-embedded (labels changed): replace, do not double count
            if self._changed:
                self._changed.pop()

        pred = probs.argmax(1).astype(np.int16)
        margin = _top2_margin(probs)
        keep = step >= self.gates.min_steps
        f = self.features(probs, full_labels, tau_pred, mu, pred, margin)
        score = self.combine(f)
        risk = score if self.calibration is None else np.interp(score, *self.calibration)
        if keep:
            if self._hist:
                unl = pool if pool.any() else np.ones(n, bool)
                self._changed.append(float((self._hist[-1].pred[unl] != pred[unl]).mean()))
            self._hist.append(_Refresh(int(step), pred, probs.astype(np.float16)))
        self.score, self.risk, self.last_features = score, risk, f

        conf = float(probs[pool].max(1).mean()) if pool.any() else float(probs.max(1).mean())
        gates, is_open, reason = self._gates(int(step), c, test_acc, conf, steps_total, acc_split)
        cand = np.flatnonzero(pool)
        k = min(self.k, len(cand))
        top = cand[np.argsort(-score[cand], kind="stable")[:k]] if k else np.empty(0, np.int64)
        candidates = tuple(
            {
                "sample_idx": int(i),
                "risk": round(float(risk[i]), 4),
                "predicted": int(pred[i]),
                "certainty": round(float(probs[i, pred[i]]), 4),
                "why": self.why(int(i), f, tau_pred),
            }
            for i in top
        )
        return ForecastResult(int(version), int(step), bool(is_open), reason, gates, candidates)

    # -- explanations --------------------------------------------------------------------------------
    def why(self, i: int, f: dict[str, np.ndarray], tau_pred: np.ndarray | None) -> str:
        """One human sentence for sample ``i``: what drives its risk (largest contribution first),
        then at most one piece of context from the zero-weight features."""
        w = self.weights
        span = self._span
        drivers: list[tuple[float, str]] = []
        flips = int(f["flips"][i])
        if flips:
            drivers.append((w.get("flips", 0.0) * flips, f"prediction flipped {flips}x in the last {span} refreshes"))
        mp = self._mean_probs[i] if self._mean_probs is not None else None
        if mp is not None:
            a, b = np.argsort(-mp)[:2]
            over = f" over {span} refreshes" if span > 1 else ""
            drivers.append(
                (
                    w.get("ens_entropy", 0.0) * float(f["ens_entropy"][i])
                    + w.get("entropy", 0.0) * float(f["entropy"][i]),
                    f"unsure between {self._name(int(a))} and {self._name(int(b))} ({mp[a]:.2f} vs {mp[b]:.2f}{over})",
                )
            )
        drivers.sort(key=lambda t: -t[0])
        parts = [p for _, p in drivers]
        m, drop = float(f["margin"][i]), float(f["margin_drop"][i])
        if drop >= 0.05:
            parts.append(f"margin {m:.2f} and shrinking")
        elif f["tau_disagree"][i] and tau_pred is not None:
            parts.append(f"the tau route says {self._name(int(tau_pred[i]))}")
        elif f["knn_disagree"][i] and len(self._nn_label) > i:
            parts.append(f"its nearest labelled sample is a {self._name(int(self._nn_label[i]))}")
        elif f["knn_dist"][i] > 0.5:
            parts.append(f"far from labelled samples ({math.exp(float(f['knn_dist'][i])):.1f}x typical)")
        return "; ".join(parts[:3])
