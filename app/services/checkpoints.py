"""Checkpoints from the page: list, save, load and fork through the same store as the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

from app.services.refresh import RefreshPump
from engine.errors import LatentLoopError


class CheckpointService:
    """``store``: the engine's CheckpointStore; ``session``: the TrainingSession owning the trainer;
    ``snapshots()``: whether the XAI worker reads snapshots (then a load rewrites them)."""

    def __init__(self, store: Any, session: Any, pump: RefreshPump, snapshots: Callable[[], bool]) -> None:
        self.store = store
        self.session = session
        self.pump = pump
        self.snapshots = snapshots

    def list(self) -> list[dict[str, Any]]:
        """The stored checkpoints (empty when the store cannot be read)."""
        try:
            return self.store.list()
        except LatentLoopError:
            return []

    def save(self, name: str) -> str:
        from engine.checkpoints import check_name

        check_name(name)
        return self.session.save_checkpoint(name)

    def fork(self, src: str, dst: str) -> str:
        path = self.store.fork(src, dst)
        return f"forked {src!r} to {dst!r} ({path.name})"

    def load(self, name: str) -> str:
        """Load weights and state (training must be stopped); the map follows through the pump."""
        sess = self.session

        def load(tr: Any) -> str:
            meta = tr.load_checkpoint(name, store=self.store)
            if self.snapshots() and tr.snapshot_dir is not None:
                # Snapshots are ordered by step: a checkpoint at an earlier step must not lose to
                # the snapshots of the model it replaces.
                for old in tr.snapshot_dir.glob("step_*"):
                    shutil.rmtree(old, ignore_errors=True)
                tr.write_snapshot()
            sess.step = sess.target = sess.run_start = tr.step
            sess.phase = tr.phase
            sess.last_eval = dict(tr.last_eval or {})
            sess.trained = True
            tr.embed()  # the session's listener hands the embeddings to the pump
            return f"loaded checkpoint {name!r} (step {meta.get('step')})"

        msg = sess.exclusive(load)
        sess.checkpoint = name
        self.pump.wait()  # the caller reports the new map version
        return msg
