"""kill -9 during checkpoint saves: the store always loads the last completed checkpoint, and
every save that returned (was acknowledged) survives."""

from __future__ import annotations

import os
import random
import select
import signal
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from engine.stores.checkpoints import CheckpointStore

TRIALS = 200


def _arrays(step: int) -> tuple[dict, dict, dict]:
    weights = {"enc.w": np.full((16, 8), step, np.float32), "dec.b": np.arange(5, dtype=np.int64) + step}
    return weights, {"adam.step": np.array(step, np.int64)}, {"tau.counts": np.full(3, float(step))}


def _saver(root: Path, first: int, ack_fd: int) -> None:
    """Child: save steps first, first+1, ... forever; after each save returns, ack its step."""
    store = CheckpointStore(root)
    step = first
    while True:
        w, o, s = _arrays(step)
        store.save("ck", w, o, s, {"step": step})
        os.write(ack_fd, struct.pack("<q", step))
        step += 1


def _fork_saver(root: Path, first: int) -> tuple[int, int]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(r)
            _saver(root, first, w)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    return pid, r


def _read_acks(fd: int, buf: bytearray, want: int, timeout: float) -> None:
    """Read acks into ``buf`` until it holds ``want`` of them, or (want < 0) until the pipe closes."""
    deadline = time.monotonic() + timeout
    while want < 0 or len(buf) < 8 * want:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"the saver made no progress in {timeout} s"
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        buf += chunk


def _acks(buf: bytearray) -> list[int]:
    return [v for (v,) in struct.iter_unpack("<q", bytes(buf[: len(buf) // 8 * 8]))]


# The child only runs numpy, safetensors and os calls, never a framework, so the threads a
# framework imported by an earlier test may have started cannot deadlock it.
@pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning")
def test_kill_9_during_saves_never_loses_an_acknowledged_checkpoint(tmp_path: Path) -> None:
    root = tmp_path / "checkpoints"
    store = CheckpointStore(root)
    t0 = time.perf_counter()
    w, o, s = _arrays(0)
    store.save("ck", w, o, s, {"step": 0})
    save_s = time.perf_counter() - t0
    rng = random.Random(0)
    last_acked, kills_with_progress = 0, 0
    for trial in range(TRIALS):
        pid, ack_fd = _fork_saver(root, last_acked + 1)
        # Let 0-2 saves complete (so a loaded machine still makes progress), then kill anywhere
        # within the next two save times: before, inside or between saves.
        buf = bytearray()
        _read_acks(ack_fd, buf, rng.randrange(3), timeout=60)
        time.sleep(rng.uniform(0, 2 * save_s))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"trial {trial}: child died early"
        _read_acks(ack_fd, buf, -1, timeout=10)
        os.close(ack_fd)
        acks = _acks(buf)
        if acks:
            assert acks == list(range(last_acked + 1, acks[-1] + 1))
            last_acked = acks[-1]
            kills_with_progress += 1

        ck = CheckpointStore(root).load("ck")
        # Saves run one after another, so at most the one after the last ack completed unacked.
        assert last_acked <= ck.step <= last_acked + 1, (trial, ck.step, last_acked)
        want_w, want_o, want_s = _arrays(ck.step)
        for got, want in ((ck.weights, want_w), (ck.optimizer, want_o), (ck.state, want_s)):
            assert got.keys() == want.keys()
            for k in want:
                np.testing.assert_array_equal(got[k], want[k], err_msg=f"trial {trial}: {k}")
        last_acked = ck.step  # the next child continues after what is on disk
        assert CheckpointStore(root).names() == ["ck"]
    leftovers = [p.name for p in root.iterdir() if p.name not in ("ck.ckpt", ".lock")]
    assert kills_with_progress > TRIALS // 4
    # A writer killed mid-save may leave its temp dir; the next writer or a recovery removes it.
    assert all(".tmp-" in n or ".old-" in n for n in leftovers), leftovers
