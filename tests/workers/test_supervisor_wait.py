"""WorkerSupervisor.wait_results: the hub's pump sleeps until a worker writes, instead of waking
every few milliseconds to look (each wake took the interpreter lock from the training thread)."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

from workers.supervisor import WorkerSupervisor, _Worker


def _supervisor_with_queue() -> tuple[WorkerSupervisor, object]:
    sup = WorkerSupervisor()
    w = _Worker("w", "unused:target", {})
    w.out_q = mp.get_context("spawn").Queue()
    sup._workers["w"] = w
    return sup, w.out_q


def test_the_wait_ends_when_a_result_arrives_not_at_the_timeout():
    sup, q = _supervisor_with_queue()
    threading.Timer(0.2, lambda: q.put({"type": "xai_result", "n": 1})).start()
    t0 = time.monotonic()
    sup.wait_results(30.0)
    assert time.monotonic() - t0 < 10.0  # woken by the message (the timeout was 30 s)
    deadline = time.monotonic() + 10
    got = []
    while not got and time.monotonic() < deadline:  # the queue's feeder may still be writing
        got = sup.results("w")
    assert got == [{"type": "xai_result", "n": 1}]


def test_with_nothing_to_read_the_wait_lasts_its_timeout():
    sup, _ = _supervisor_with_queue()
    t0 = time.monotonic()
    sup.wait_results(0.3)
    assert time.monotonic() - t0 >= 0.25
    assert sup.results("w") == []
