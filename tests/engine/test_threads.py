"""engine/threads.py: the switch interval of a run, and the niced background threads."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from engine.threads import lower_this_thread, switch_interval


def test_the_switch_interval_holds_for_the_block_and_comes_back_even_after_an_error():
    before = sys.getswitchinterval()
    with switch_interval(0.0005):
        assert sys.getswitchinterval() == pytest.approx(0.0005)
    assert sys.getswitchinterval() == pytest.approx(before)
    with pytest.raises(RuntimeError), switch_interval(0.001):
        raise RuntimeError("a failed run")
    assert sys.getswitchinterval() == pytest.approx(before)


def test_a_lowered_thread_is_niced_and_the_rest_of_the_process_is_not():
    seen: list[int] = []

    def run() -> None:
        lower_this_thread(3)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    base = os.getpriority(os.PRIO_PROCESS, 0)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == [min(base + 3, 19)]
    assert os.getpriority(os.PRIO_PROCESS, 0) == base
