"""The Model page's model: the mixture of the shown map version and how it moved over time.

Per map version (computed once, on the refresh pump's thread): the tau matrix the trainer used (the
``tau`` buffer of the weights copied at that refresh, i.e. :class:`engine.training.tau.TauClassifier`'s
matrix), each component's certainty, usage and labelled count with the dead and redundant flags
(:mod:`engine.analysis.mixture`), and one row of the metrics history (entropy of the mean responsibilities,
mean tau certainty, usage per component). On request: the members of a component, the component
lenses (decoded prior mean and top-16 gallery) and the latent microscope of a sample (traversal,
reconstruction, interpolation), decoded by the viewer model. Pure numpy; no Dash (docs/model-page.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.services.embeddings import MapVersion
from app.services.images import png_data_uri
from app.services.viewer import ViewerModel
from engine.analysis.mixture import (
    ComponentStats,
    component_stats,
    dominant,
    interpolation,
    mixture_metrics,
    top_responsibility,
    traversal_latents,
)
from engine.images import mosaic

GALLERY = 16  # images per component lens
MEMBERS = 48  # samples a tau-cell click shows in the gallery
TRAVERSAL_STEPS = 7  # columns of the traversal grid: -2 sigma .. +2 sigma
INTERPOLATION_STEPS = 8


@dataclass(frozen=True)
class MixtureState:
    """The mixture of one map version."""

    version: int
    step: int
    tau: np.ndarray  # [K, C], rows normalised: the trainer's TauClassifier matrix at that refresh
    stats: list[ComponentStats]
    metrics: dict[str, Any]  # engine.analysis.mixture.mixture_metrics


@dataclass(frozen=True)
class Lens:
    """One component seen through its prototype and its most typical training images."""

    stats: ComponentStats
    prototype: str | None  # PNG data URI of the decoded prior mean (None: no decoder yet)
    gallery: str  # PNG data URI: the GALLERY highest-responsibility training images, one row


@dataclass
class Microscope:
    """The latent microscope of one sample."""

    serial: int
    traversal: str  # PNG data URI: one row per latent dimension, -2 sigma .. +2 sigma
    dims: int
    recon: str
    image: str
    error: float  # mean squared error of the reconstruction, per pixel
    strip: str | None = None  # interpolation from ``other`` to ``serial``
    other: int | None = None


class MixtureView:
    """``images``: uint8 [N, H, W] of the dataset; ``targets``: true classes; ``viewer``: the
    viewer model (decoder and encoder of the shown version)."""

    def __init__(self, images: np.ndarray, targets: np.ndarray, n_train: int, viewer: ViewerModel) -> None:
        self.images = images
        self.targets = np.asarray(targets)
        self.n_train = int(n_train)
        self.viewer = viewer
        self.history: list[dict[str, Any]] = []  # one row per map version: step and mixture metrics
        self._state: MixtureState | None = None
        self._lock = threading.Lock()
        self._lenses: tuple[int, list[Lens]] | None = None

    def update(self, v: MapVersion, tau: np.ndarray | None, labels: np.ndarray) -> MixtureState | None:
        """The refresh pump's hook: summarise version ``v`` (``tau`` from its weights)."""
        if tau is None:
            return None
        resp = v.resp[: self.n_train]
        tau = np.asarray(tau, np.float32)
        state = MixtureState(
            v.version, v.step, tau, component_stats(tau, resp, labels[: self.n_train]), mixture_metrics(resp, tau)
        )
        with self._lock:
            self._state = state
            row = {
                "step": v.step,
                **{k: state.metrics[k] for k in ("resp_entropy", "resp_entropy_max", "tau_certainty", "usage")},
            }
            if self.history and self.history[-1]["step"] == v.step:
                self.history[-1] = row  # the same weights again (e.g. a reload): one point per step
            else:
                self.history.append(row)
        return state

    @property
    def state(self) -> MixtureState | None:
        return self._state

    @property
    def against(self) -> str:
        """What :meth:`members` checks a prediction against, in words."""
        return "the true class" if bool((self.targets >= 0).all()) else "your label"

    def members(
        self, v: MapVersion, component: int, labels: np.ndarray | None = None, limit: int = MEMBERS
    ) -> tuple[np.ndarray, np.ndarray]:
        """Training samples whose dominant component is ``component`` (most responsible first, at
        most ``limit``) and whether each one's prediction is right: int8, 1 or 0 against the true
        class; where the dataset does not know it (unknown targets), against the user's label in
        ``labels``, and -1 (unknown) for a sample without either."""
        serials = dominant(v.resp[: self.n_train], component)[:limit]
        ref = self.targets[serials].astype(np.int64)
        if labels is not None:
            lab = np.asarray(labels)[serials]
            ref = np.where(ref >= 0, ref, lab)
        ok = (v.probs[serials].argmax(1) == ref).astype(np.int8)
        ok[ref < 0] = -1
        return serials, ok

    def member_count(self, v: MapVersion, component: int) -> int:
        return int((v.resp[: self.n_train].argmax(1) == component).sum())

    def lenses(self, v: MapVersion) -> list[Lens]:
        """Every component's lens, most used first (cached per version)."""
        state = self._state
        with self._lock:
            if self._lenses is not None and self._lenses[0] == v.version:
                return self._lenses[1]
        if state is None:
            return []
        protos = self._prototypes(len(state.stats))
        out = []
        for st in sorted(state.stats, key=lambda s: -s.usage):
            top = top_responsibility(v.resp[: self.n_train], st.component, GALLERY)
            out.append(
                Lens(
                    st,
                    png_data_uri(protos[st.component]) if protos is not None else None,
                    png_data_uri(mosaic(self.images[top], GALLERY)),
                )
            )
        with self._lock:
            self._lenses = (v.version, out)
        return out

    def _prototypes(self, k: int) -> np.ndarray | None:
        means = self.viewer.prior_means()
        if means is None:
            return None
        try:
            return self.viewer.decode(means, np.eye(k, dtype=np.float32))
        except Exception:  # a backend that cannot decode yet: the lens shows its gallery only
            return None

    def microscope(self, serial: int, other: int | None = None) -> Microscope | None:
        """Traversal grid, reconstruction and its error for ``serial``; with ``other``, the decoded
        interpolation from ``other`` to ``serial``. None when the model cannot answer."""
        from engine.backends.base import Out

        serials = np.array([serial] if other is None or other == serial else [serial, other])
        out = self.viewer.outputs(serials)
        if out is None:
            return None
        mu, logvar, resp = out[Out.MU], out[Out.LOGVAR], out[Out.RESP]
        z = traversal_latents(mu[0], logvar[0], TRAVERSAL_STEPS)
        grid = self.viewer.decode(z, np.repeat(resp[:1], len(z), axis=0))
        recon = out[Out.RECON][0]
        image = self.images[serial].astype(np.float32) / 255.0
        m = Microscope(
            serial,
            png_data_uri(mosaic(grid, TRAVERSAL_STEPS)),
            int(mu.shape[1]),
            png_data_uri(recon),
            png_data_uri(image),
            float(np.mean((recon - image) ** 2)),
        )
        if len(serials) == 2:
            zs, qs = interpolation(mu[1], mu[0], resp[1], resp[0], INTERPOLATION_STEPS)
            m.strip = png_data_uri(mosaic(self.viewer.decode(zs, qs), INTERPOLATION_STEPS))
            m.other = int(serials[1])
        return m
