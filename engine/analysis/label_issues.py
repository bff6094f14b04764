"""Label issues: the given labels the model disagrees with, ranked by cleanlab (docs/label-issues.md).

Confident learning needs *out-of-sample* class probabilities for every labelled sample: a sample's
own label must not have shaped the probabilities it is judged by. The model's route to a class is
``p(y|x) = q(c|x) @ tau`` and tau is a count over the labelled samples, so the leave-one-out tau
(the sample's own responsibilities subtracted from the counts) removes the label's direct vote
exactly, for all samples at once in O(n K C). What it cannot remove is the encoder's training on
that label (the supervised loss pulls the sample's own q towards its given class); the benchmark
(benchmarks/bench_label_issues.py) measures how much that costs. The K-fold probe on the latent
means (cleanlab's standard recipe, :func:`cv_probe_probs`) is the comparison.

cleanlab does the rest: :func:`cleanlab.rank.get_label_quality_scores` orders the samples and
:func:`cleanlab.filter.find_label_issues` flags the ones it considers issues. Pure numpy + cleanlab
+ scikit-learn (no framework).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NEIGHBOURS = 14  # labelled neighbours consulted for a reason's "k of the n nearest say y"
KNN = 20  # unlabelled latent neighbours that make a sample's neighbourhood (chosen on dev seeds 100, 101)


def loo_tau_probs(
    resp: np.ndarray, labels: np.ndarray, prior_counts: np.ndarray, query: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities of labelled samples with leave-one-out tau.

    ``resp`` [n, K]: responsibilities q(c|x) of the n labelled samples (they make the tau counts);
    ``labels`` [n]: their given classes; ``prior_counts`` [K, C]: the tau prior
    (:class:`engine.training.tau.TauClassifier`). Row i is ``query_i @ tau_{-i}``, where tau_{-i} is tau
    counted from every labelled sample but i and ``query_i`` is sample i's own responsibilities
    (default) or any other [K] vector, e.g. its neighbourhood's (:class:`NeighbourhoodIndex`).
    """
    r = np.asarray(resp, np.float64)
    q = r if query is None else np.asarray(query, np.float64)
    prior = np.asarray(prior_counts, np.float64)
    y = np.asarray(labels, np.int64)
    n, k = r.shape
    c = prior.shape[1]
    if prior.shape[0] != k or q.shape != r.shape:
        raise ValueError(f"shapes: resp {r.shape}, query {q.shape}, prior_counts {prior.shape}")
    onehot = np.zeros((n, c))
    onehot[np.arange(n), y] = 1.0
    counts = prior + r.T @ onehot  # [K, C]
    # tau_{-i}[k, y] = (counts[k, y] - r_ik [y == y_i]) / (rowsum_k - r_ik), so
    # p_i = sum_k w_ik counts[k] - (sum_k w_ik r_ik) onehot_i with w_ik = q_ik / (rowsum_k - r_ik)
    w = q / (counts.sum(1)[None, :] - r)
    p = w @ counts - (w * r).sum(1, keepdims=True) * onehot
    p = np.clip(p, 0.0, None)
    total = p.sum(1, keepdims=True)
    return (p / np.where(total > 0, total, 1.0)).astype(np.float32)


def cv_probe_probs(
    features: np.ndarray, labels: np.ndarray, num_classes: int, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """cleanlab's standard recipe: out-of-fold probabilities of a logistic regression on ``features``.

    Stratified folds when every class has at least ``folds`` samples, shuffled plain folds otherwise;
    a class missing from a fold's training part gets probability 0 there.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(features, np.float64)
    y = np.asarray(labels, np.int64)
    classes = np.unique(y)
    counts = np.bincount(y)
    n_splits = max(2, min(folds, len(y)))
    if counts[classes].min() >= n_splits:
        cv: KFold | StratifiedKFold = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    else:
        cv = KFold(n_splits, shuffle=True, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny folds: sklearn warns about missing classes per fold
        part = cross_val_predict(model, x, y, cv=cv, method="predict_proba")
    out = np.zeros((len(y), num_classes), np.float32)
    out[:, classes] = part
    return out


class NeighbourhoodIndex:
    """The unlabelled neighbourhood of any training sample in latent space: a k-d tree over the latent
    means ``mu`` [n, D] of the training samples, with their responsibilities ``resp`` [n, K].

    Built once per model version (well under a second for 60,000 samples); the labels only filter
    the answers, so a label change does not rebuild it."""

    def __init__(self, mu: np.ndarray, resp: np.ndarray) -> None:
        from sklearn.neighbors import NearestNeighbors

        self.mu = np.asarray(mu, np.float32)
        self.resp = np.asarray(resp, np.float32)
        self._nn = NearestNeighbors().fit(self.mu)

    def resp_of(self, serials: np.ndarray, labelled: np.ndarray, k: int = KNN) -> np.ndarray:
        """[len(serials), K]: the mean responsibilities of each sample's ``k`` nearest *unlabelled*
        samples (``labelled``: bool [n]). Training fits a labelled sample's own q(c|x) to its given
        label, wrong or not; its unlabelled neighbours were never told that label."""
        serials = np.asarray(serials, np.int64)
        out = np.zeros((len(serials), self.resp.shape[1]), np.float32)
        if not len(serials):
            return out
        want = min(len(self.mu), 4 * k + 1)  # labels are sparse: k unlabelled ones are nearly always among them
        _, idx = self._nn.kneighbors(self.mu[serials], n_neighbors=want)
        for row, near in enumerate(idx):
            free = near[~labelled[near]][:k]
            # everything around is labelled: fall back on the sample's own responsibilities
            out[row] = self.resp[free].mean(0) if len(free) else self.resp[serials[row]]
        return out


@dataclass(frozen=True)
class LabelIssue:
    """One labelled sample as the label-issue ranking sees it."""

    serial: int
    given: int
    suggested: int  # the class the out-of-sample probabilities favour
    suggested_prob: float
    given_prob: float
    quality: float  # cleanlab's label quality score in [0, 1]; low = suspicious
    flagged: bool  # cleanlab.filter.find_label_issues calls it an issue
    accepted: bool  # the user said this label is right (labels.accepted.csv)
    neighbours: int  # nearest labelled neighbours consulted
    neighbours_say: int  # of them, how many carry the suggested label

    @property
    def suspicious(self) -> bool:
        """Flagged by cleanlab, or the model suggests another class."""
        return self.flagged or self.suggested != self.given

    def reason(self, names: Sequence[str] | None = None) -> str:
        """One line for the queue, e.g. "labelled 4; model says 9 (0.97); 12 of the 14 nearest
        labelled neighbours say 9" (``names``: the class names, the numbers by default)."""
        given, suggested = (str(c) if names is None else names[c] for c in (self.given, self.suggested))
        if self.suggested == self.given:
            text = f"labelled {given}; model agrees only weakly ({self.given_prob:.2f})"
        else:
            text = f"labelled {given}; model says {suggested} ({self.suggested_prob:.2f})"
        if self.neighbours:
            text += f"; {self.neighbours_say} of the {self.neighbours} nearest labelled neighbours say {suggested}"
        return text


@dataclass(frozen=True)
class LabelIssues:
    """Every labelled sample scored, most suspicious first (ascending quality)."""

    ranked: list[LabelIssue]

    def issues(self, include_all: bool = False, include_accepted: bool = False) -> list[LabelIssue]:
        """The ranking without accepted labels; unless ``include_all``, only the suspicious ones:
        flagged by cleanlab, or given a label other than the one the model suggests."""
        return [r for r in self.ranked if (include_accepted or not r.accepted) and (include_all or r.suspicious)]

    def of(self, serial: int) -> LabelIssue | None:
        for r in self.ranked:
            if r.serial == serial:
                return r
        return None


def neighbour_votes(features: np.ndarray, labels: np.ndarray, num_classes: int, k: int = NEIGHBOURS) -> np.ndarray:
    """[n, num_classes] counts of each class among every labelled sample's ``k`` nearest labelled neighbours
    (Euclidean, in ``features``; the sample itself excluded)."""
    from sklearn.neighbors import NearestNeighbors

    y = np.asarray(labels, np.int64)
    n = len(y)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros((n, num_classes), np.int64)
    nn = NearestNeighbors(n_neighbors=k + 1).fit(np.asarray(features, np.float32))
    _, idx = nn.kneighbors(np.asarray(features, np.float32))
    # drop each row's own index (usually first, but exact duplicates may come in another order)
    rows = [row[row != i][:k] for i, row in enumerate(idx)]
    votes = np.zeros((n, num_classes), np.int64)
    for i, row in enumerate(rows):
        np.add.at(votes[i], y[row], 1)
    return votes


def rank_label_issues(
    serials: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    features: np.ndarray | None = None,
    accepted: Mapping[int, int] | None = None,
    neighbours: int = NEIGHBOURS,
) -> LabelIssues:
    """Score the labelled samples ``serials`` with given ``labels`` by their out-of-sample ``probs``
    [n, C]; ``features`` (latent means) feed the reasons' neighbour vote. A sample in ``accepted``
    with the same label is marked accepted (kept in the ranking, left out of :meth:`LabelIssues.issues`).
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    serials = np.asarray(serials, np.int64)
    y = np.asarray(labels, np.int64)
    p = np.asarray(probs, np.float64)
    n = len(y)
    if n == 0:
        return LabelIssues([])
    p = p / p.sum(1, keepdims=True)
    quality = get_label_quality_scores(y, p)
    flagged = np.zeros(n, bool)
    # cleanlab flags nothing in a class with fewer than 2 labels and warns about it, from whatever
    # thread; ``catch_warnings`` cannot silence that reliably (it swaps the process-wide filter list,
    # so another thread leaving its own block un-silences this one). So such classes' rows and
    # columns are left out of the flagging, which gives cleanlab nothing to warn about.
    counts = np.bincount(y, minlength=p.shape[1])
    kept = counts >= 2
    if kept.sum() >= 2:
        rows = np.flatnonzero(kept[y])
        sub = p[rows][:, kept]
        sub = sub / np.maximum(sub.sum(1, keepdims=True), 1e-12)
        remap = np.cumsum(kept) - 1
        flagged[rows[find_label_issues(remap[y[rows]], sub, n_jobs=1)]] = True
    votes = (
        neighbour_votes(features, y, p.shape[1], neighbours)
        if features is not None and n > 1
        else np.zeros((n, p.shape[1]), np.int64)
    )
    n_votes = votes.sum(1)
    suggested = p.argmax(1)
    accepted = accepted or {}
    order = np.argsort(quality, kind="stable")
    ranked = [
        LabelIssue(
            serial=int(serials[i]),
            given=int(y[i]),
            suggested=int(suggested[i]),
            suggested_prob=float(p[i, suggested[i]]),
            given_prob=float(p[i, y[i]]),
            quality=float(quality[i]),
            flagged=bool(flagged[i]),
            accepted=accepted.get(int(serials[i])) == int(y[i]),
            neighbours=int(n_votes[i]),
            neighbours_say=int(votes[i, suggested[i]]),
        )
        for i in order
    ]
    return LabelIssues(ranked)


METHODS = ("neighbourhood", "tau_loo", "logreg_cv")


def score_labels(
    serials: np.ndarray,
    given: np.ndarray,
    resp: np.ndarray,
    mu: np.ndarray,
    prior_counts: np.ndarray,
    accepted: Mapping[int, int] | None = None,
    method: str = "neighbourhood",
    index: NeighbourhoodIndex | None = None,
    labelled: np.ndarray | None = None,
) -> LabelIssues:
    """The label-issue ranking of the labelled samples ``serials`` (given labels ``given``), from
    the model's responsibilities ``resp`` and latent means ``mu`` of those samples (rows aligned
    with ``serials``). ``method`` (see the module doc): ``neighbourhood`` (default; needs ``index``
    over the training samples and ``labelled``, a bool mask over them), ``tau_loo`` or ``logreg_cv``."""
    num_classes = int(np.asarray(prior_counts).shape[1])
    if method == "neighbourhood":
        if index is None or labelled is None:
            raise ValueError("method neighbourhood needs the index and the labelled mask")
        probs = loo_tau_probs(resp, given, prior_counts, query=index.resp_of(serials, labelled))
    elif method == "tau_loo":
        probs = loo_tau_probs(resp, given, prior_counts)
    elif method == "logreg_cv":
        probs = cv_probe_probs(mu, given, num_classes)
    else:
        raise ValueError(f"unknown method {method!r} (use one of {', '.join(METHODS)})")
    return rank_label_issues(serials, given, probs, mu, accepted)
