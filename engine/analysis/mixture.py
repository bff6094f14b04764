"""What the mixture model has learned, as plain numbers: per-component statistics of the tau
matrix and the responsibilities, the samples a component owns, latent traversals and
interpolations to decode, and the calibration of the class probabilities.

Pure numpy, shared by the dashboard's Model page and the experiment reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SURE = 0.8  # a component is "sure" of a class when its tau row's max is at least this


@dataclass(frozen=True)
class ComponentStats:
    component: int
    tau_class: int  # argmax of the component's tau row
    certainty: float  # max of the tau row (rows are normalised per component)
    usage: float  # mean responsibility over the given samples
    labelled: int  # labelled samples whose dominant (argmax) component is this one
    dead: bool  # usage < 1 / (4 K)
    redundant: bool  # another component is also sure (>= SURE) of the same class


def component_stats(tau: np.ndarray, resp: np.ndarray, labels: np.ndarray) -> list[ComponentStats]:
    """One :class:`ComponentStats` per component, in component order.

    ``tau [K, C]`` is row-normalised (e.g. ``TauClassifier.matrix``), ``resp [N, K]`` the
    responsibilities of the samples and ``labels [N]`` their labels (-1 = unlabelled).
    """
    tau = np.asarray(tau, np.float64)
    resp = np.asarray(resp, np.float64)
    labels = np.asarray(labels)
    k = tau.shape[0]
    if resp.ndim != 2 or resp.shape[1] != k or len(labels) != len(resp):
        raise ValueError(f"tau {tau.shape}, resp {resp.shape} and labels {labels.shape} do not fit")
    cls = tau.argmax(1)
    cert = tau.max(1)
    usage = resp.mean(0) if len(resp) else np.zeros(k)
    owner = resp[labels >= 0].argmax(1)
    labelled = np.bincount(owner, minlength=k)
    sure = cert >= SURE
    sure_per_class = np.bincount(cls[sure], minlength=tau.shape[1])
    return [
        ComponentStats(
            component=c,
            tau_class=int(cls[c]),
            certainty=float(cert[c]),
            usage=float(usage[c]),
            labelled=int(labelled[c]),
            dead=bool(usage[c] < 1.0 / (4 * k)),
            redundant=bool(sure[c] and sure_per_class[cls[c]] > 1),
        )
        for c in range(k)
    ]


def dominant(resp: np.ndarray, component: int) -> np.ndarray:
    """Row indices whose most responsible component is ``component``, by that responsibility,
    highest first (ties: lower index first)."""
    resp = np.asarray(resp)
    rows = np.flatnonzero(resp.argmax(1) == component)
    return rows[np.argsort(-resp[rows, component], kind="stable")]


def top_responsibility(resp: np.ndarray, component: int, k: int = 16) -> np.ndarray:
    """The ``k`` rows with the highest responsibility for ``component``, highest first (ties:
    lower index first)."""
    col = np.asarray(resp)[:, component]
    return np.argsort(-col, kind="stable")[:k]


def mixture_metrics(resp: np.ndarray, tau: np.ndarray) -> dict[str, Any]:
    """How evenly the components are used and how sure they are of their classes.

    ``resp_entropy`` is the entropy (nats) of the mean responsibilities, at most ``resp_entropy_max``
    = log K when every component is used equally; ``tau_certainty`` the mean over components of
    the max of their tau row; ``usage`` the mean responsibility per component.
    """
    resp = np.asarray(resp, np.float64)
    tau = np.asarray(tau, np.float64)
    usage = resp.mean(0) if len(resp) else np.zeros(tau.shape[0])
    p = usage[usage > 0]
    return {
        "resp_entropy": float(-(p * np.log(p)).sum()),
        "resp_entropy_max": float(np.log(tau.shape[0])),
        "tau_certainty": float(tau.max(1).mean()),
        "usage": [float(u) for u in usage],
    }


def traversal_latents(mu: np.ndarray, logvar: np.ndarray, steps: int = 7, span: float = 2.0) -> np.ndarray:
    """Latents that walk each dimension of one sample's posterior, to decode as a grid.

    Returns ``[D * steps, D]``: row ``d * steps + j`` is ``mu`` with dimension ``d`` set to
    ``mu_d + t_j * sigma_d``, ``t`` evenly from ``-span`` to ``+span``, ``sigma = exp(logvar / 2)``.
    """
    mu = np.asarray(mu, np.float64).reshape(-1)
    sigma = np.exp(np.asarray(logvar, np.float64).reshape(-1) / 2)
    d = len(mu)
    t = np.linspace(-span, span, steps)
    out = np.repeat(mu[None, :], d * steps, axis=0)
    for i in range(d):
        out[i * steps : (i + 1) * steps, i] = mu[i] + t * sigma[i]
    return out.astype(np.float32)


def interpolation(
    z_a: np.ndarray, z_b: np.ndarray, q_a: np.ndarray, q_b: np.ndarray, steps: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """Linear path from sample a to sample b, both ends included: ``z [steps, D]`` and the
    component weights ``q [steps, K]`` (each row sums to 1)."""
    w = np.linspace(0.0, 1.0, steps)[:, None]
    za, zb = np.asarray(z_a, np.float64).reshape(1, -1), np.asarray(z_b, np.float64).reshape(1, -1)
    qa, qb = np.asarray(q_a, np.float64).reshape(1, -1), np.asarray(q_b, np.float64).reshape(1, -1)
    z = (1 - w) * za + w * zb
    q = (1 - w) * qa + w * qb
    q /= q.sum(1, keepdims=True)
    return z.astype(np.float32), q.astype(np.float32)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> tuple[float, dict]:
    """Expected calibration error of class probabilities ``probs [N, C]`` against targets ``y``.

    Confidence (the max probability) falls in equal-width bins over [0, 1] (a bin holds
    (lo, hi], the first also 0); the ECE is the sample-weighted mean of |accuracy - confidence|
    over the bins. The dict holds, per bin, ``edges`` (bins + 1), ``count``, ``confidence`` (mean)
    and ``accuracy``; an empty bin has count 0 and confidence and accuracy 0.
    """
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y)
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    safe = np.maximum(count, 1)
    mean_conf = np.bincount(which, conf, minlength=bins) / safe
    acc = np.bincount(which, correct, minlength=bins) / safe
    ece = float((count * np.abs(acc - mean_conf)).sum() / len(y)) if len(y) else 0.0
    return ece, {
        "edges": edges.tolist(),
        "count": count.tolist(),
        "confidence": mean_conf.tolist(),
        "accuracy": acc.tolist(),
    }
