"""Errors a user can cause. The CLI prints their message and exits with status 2."""


class LatentLoopError(Exception):
    """Base class: a clear, user-facing problem (bad input, missing file, ...)."""


class DatasetError(LatentLoopError):
    pass


class LabelError(LatentLoopError):
    pass


class CheckpointError(LatentLoopError):
    pass


class SaliencyUnavailable(LatentLoopError, ValueError):
    """The model has no such saliency primitive (Grad-CAM of a dense encoder)."""


class DatasetMismatchError(CheckpointError):
    """A checkpoint was trained on another dataset (or another version of it)."""


class DeviceUnavailable(LatentLoopError, RuntimeError):
    """The device asked for (``--device cuda``) is not there."""
