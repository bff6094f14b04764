"""Checkpoints from the page: list, save, load and fork through the same store as the CLI."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from app.services.refresh import RefreshPump
from app.services.training import TrainingSession
from engine.config import Config
from engine.errors import LatentLoopError

if TYPE_CHECKING:  # annotations only
    from engine.stores.checkpoints import CheckpointStore
    from engine.training.trainer import Trainer


class CheckpointService:
    """``store``: the engine's CheckpointStore; ``session``: the TrainingSession owning the trainer;
    ``snapshots()``: whether the XAI worker reads snapshots (then a load rewrites them);
    ``config``: the config of the model the app holds (:attr:`config` follows a loaded branch's);
    ``followers``: called with a loaded branch's config (the viewer's model and the panels follow it)."""

    def __init__(
        self,
        store: CheckpointStore,
        session: TrainingSession,
        pump: RefreshPump,
        snapshots: Callable[[], bool],
        config: Config,
        followers: Sequence[Callable[[Config], None]] = (),
    ) -> None:
        self.store = store
        self.session = session
        self.pump = pump
        self.snapshots = snapshots
        self.config = config
        self.followers = tuple(followers)

    def list(self) -> list[dict[str, Any]]:
        """The stored checkpoints (empty when the store cannot be read)."""
        try:
            return self.store.list()
        except LatentLoopError:
            return []

    def save(self, name: str) -> str:
        from engine.stores.checkpoints import check_name

        check_name(name)
        return self.session.save_checkpoint(name)

    def fork(self, src: str, dst: str, changes: str = "") -> str:
        """Branch ``src`` into ``dst`` with ``changes`` (``KEY=VALUE`` lines, as ``ckpt fork --set``)
        and load the branch, so Start continues training it."""
        from engine.config import from_dict
        from engine.training.fork import apply_sets, checkpoint_config, fork_branch

        sets = [line.strip() for line in (changes or "").splitlines() if line.strip()]
        if sets:
            cfg = from_dict(apply_sets(checkpoint_config(self.store, src), sets))
            record = fork_branch(self.store, src, dst, cfg)[1]
        else:  # a plain copy: also of a checkpoint that records no config
            self.store.fork(src, dst)
            record = self.store.load(dst).meta["fork"]
        diff = "; ".join(f"{k}: {v['from']} -> {v['to']}" for k, v in record["diff"].items()) or "same config"
        loaded = self.load(dst)
        return f"branched {src!r} at step {record['step']} into {dst!r} ({diff}); {loaded}: Start continues it"

    def load(self, name: str) -> str:
        """Load weights and state (training must be stopped); the map follows through the pump."""
        sess = self.session

        def load(tr: Trainer) -> str:
            cfg = _config_of(self.store, name, tr.cfg)
            if cfg != tr.cfg:
                tr.reconfigure(cfg)
                self._adopt_config(cfg)
            meta = tr.load_checkpoint(name, store=self.store)
            if self.snapshots() and tr.snapshot_dir is not None:
                # Snapshots are ordered by step: a checkpoint at an earlier step must not lose to
                # the snapshots of the model it replaces.
                for old in tr.snapshot_dir.glob("step_*"):
                    shutil.rmtree(old, ignore_errors=True)
                tr.write_snapshot()
            sess.adopt_loaded()
            tr.embed()  # the session's listener hands the embeddings to the pump
            return f"loaded checkpoint {name!r} (step {meta.get('step')})"

        msg = sess.exclusive(load)
        sess.use_checkpoint(name)
        self.pump.wait()  # the caller reports the new map version
        return msg

    def _adopt_config(self, cfg: Config) -> None:
        """A loaded checkpoint's config (a branch): the viewer's model and the panels follow it."""
        self.config = cfg
        for follow in self.followers:
            follow(cfg)


def _config_of(store: CheckpointStore, name: str, current: Config) -> Config:
    """The config checkpoint ``name`` was trained with, keeping this app's data and device settings
    (the current config when the checkpoint records none)."""
    from engine.config import ConfigError, config_to_dict, from_dict
    from engine.errors import CheckpointError

    raw = store.load(name).meta.get("config")
    if not isinstance(raw, dict) or not raw:
        return current
    raw = {**raw, "data": config_to_dict(current)["data"], "device": current.device, "threads": current.threads}
    try:
        return from_dict(raw)
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {name!r}: its config is invalid: {err}") from None
