"""What the Label page's presenter reads: the services the composition root (AppState) built.

A structural type, so the presenter names the services it needs, each with its class, without
pointing up at AppState.
"""

from __future__ import annotations

from typing import Protocol

from app.services.candidates import CandidateQueue
from app.services.density import DensityMap
from app.services.embeddings import EmbeddingCache
from app.services.feedback import FeedbackBoxes
from app.services.holdout import HoldoutSetting
from app.services.label_issues import LabelIssueService
from app.services.labels import LabelReader
from app.services.overlay import LabelOverlay
from app.services.probes import ProbeService
from app.services.projection import ProjectionService
from app.services.sync import ClientSync
from app.services.training import TrainingSession
from app.services.viewer import ViewerModel
from app.services.workers import WorkerHub
from engine.datasets import Dataset
from engine.stores.feedback import FeedbackStore
from engine.stores.labels import LabelStore


class LabelSources(Protocol):
    """The services behind the Label page (AppState has them all)."""

    clients: ClientSync
    labels: LabelStore
    label_reader: LabelReader
    cache: EmbeddingCache
    overlay: LabelOverlay
    density: DensityMap
    queue: CandidateQueue
    issues: LabelIssueService
    viewer: ViewerModel
    dataset: Dataset
    projection: ProjectionService
    session: TrainingSession
    feedback: FeedbackStore
    boxes: FeedbackBoxes
    probes: ProbeService
    hub: WorkerHub | None
    holdout: HoldoutSetting
    n_train: int
    num_classes: int
    class_names: list[str]
