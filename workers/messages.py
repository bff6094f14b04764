"""Messages between the Dash process and its child workers (docs/architecture.md section 6).

Frozen dataclasses with a ``type`` tag, JSON-compatible, encoded like the trainer's messages
(engine.events ``to_dict``) and decoded by :func:`from_dict`.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from engine.events import Message, decode, to_dict, type_registry

__all__ = ["XAI_METHODS", "WorkerError", "WorkerStatus", "XaiRequest", "XaiResult", "from_dict", "to_dict"]

XAI_METHODS = ("gradcam", "smoothgrad", "consensus")


class XaiRequest(Message, tag="xai_request"):
    """Saliency for one sample. ``target``: "pred", "true" or a class index."""

    request_id: int
    sample_idx: int
    target: str | int = "pred"
    methods: tuple[str, ...] = XAI_METHODS
    smoothgrad_samples: int = 16
    smoothgrad_noise: float = 0.15


class XaiResult(Message, tag="xai_result"):
    request_id: int
    sample_idx: int
    snapshot_step: int
    target: int
    target_kind: str
    top_k: list[dict[str, float]]  # [{"class": c, "p": p}, ...]
    maps: dict[str, list[list[float]]]  # method -> [H][W] in [0, 1]
    agreement: dict[str, float]  # {"correlation": r, "top_overlap": iou}
    focus_bbox: list[float] | None  # normalised [x0, y0, x1, y1] or None when nothing stands out
    overlay_png_b64: str
    ms: float
    cached: bool = False


class WorkerError(Message, tag="worker_error"):
    worker: str
    message: str
    request_id: int | None = None


WorkerState = Literal["starting", "running", "restarting", "stopped", "failed"]


class WorkerStatus(Message, tag="worker_status"):
    """What the supervisor shows in the page for one child process."""

    name: str
    state: WorkerState
    pid: int | None = None
    restarts: int = 0
    last_error: str = ""
    since: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


_TYPES = type_registry(XaiRequest, XaiResult, WorkerError, WorkerStatus)


def from_dict(d: dict[str, Any]) -> Any:
    """Inverse of :func:`to_dict` for worker messages; ValueError on unknown type or fields."""
    return decode(d, _TYPES)
