"""Other processes' share of the CPUs, read from /proc/stat: a real neighbour is seen, our own work is not."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vaegan.training.contention import BUSY_SHARE, OthersShare

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc/stat")


def test_a_neighbour_spinning_on_a_core_is_seen() -> None:
    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 3\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)  # the neighbour is up and spinning
        with OthersShare() as others:
            time.sleep(1.0)
    finally:
        spin.kill()
        spin.wait()
    assert others.share * (os.cpu_count() or 1) > 0.5  # of the one core it spins on, at least half is seen


def test_this_process_computing_is_not_counted_as_others() -> None:
    """Against the share seen while this process sleeps: whatever else the machine runs shows in both."""
    with OthersShare() as resting:
        time.sleep(1.0)
    with OthersShare() as computing:
        end = time.perf_counter() + 1.0
        while time.perf_counter() < end:
            sum(range(1000))
    assert computing.share < resting.share + BUSY_SHARE / 2  # a core of our own would add a half on 2 cores


def test_a_block_too_short_to_judge_counts_as_quiet() -> None:
    with OthersShare() as others:
        pass
    assert others.share == 0.0


def test_training_runs_on_the_cores_others_leave_and_on_all_once_they_are_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ThreadShare with the others' share of each window scripted: half the CPUs taken leaves one of two
    cores; a quiet window gives both back; close() restores the count whatever the last window said."""
    from vaegan.training import contention

    shares = iter([0.5, 0.6, 0.05, 0.9])

    class Scripted:
        share = 0.0

        def __enter__(self) -> "Scripted":
            return self

        def __exit__(self, *exc: object) -> None:
            self.share = next(shares)

    monkeypatch.setattr(contention, "BUSY_SHARE", BUSY_SHARE)  # the suite's conftest raises it
    monkeypatch.setattr(contention, "OthersShare", Scripted)
    monkeypatch.setattr(contention.os, "cpu_count", lambda: 2)
    torch.set_num_threads(2)
    now = [0.0]
    threads = contention.ThreadShare(clock=lambda: now[0])
    seen = []
    for now[0] in (0.0, 1.0, 2.5, 4.0, 5.0, 7.5, 10.0):
        threads.step()
        seen.append(torch.get_num_threads())
    # windows end at 2.5 (half taken), 5.0 (0.6), 7.5 (quiet), 10.0 (0.9: still one thread, never none)
    assert seen == [2, 2, 1, 1, 1, 2, 1]
    threads.close()
    assert torch.get_num_threads() == 2


def test_a_real_neighbour_spinning_on_a_core_takes_training_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc/stat as it is, on two cores as this test counts them: a neighbour spinning on one of them leaves
    training one."""
    from vaegan.training import contention

    monkeypatch.setattr(contention, "BUSY_SHARE", BUSY_SHARE)
    monkeypatch.setattr(contention.os, "cpu_count", lambda: 2)
    torch.set_num_threads(2)
    spin = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 4\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.5)
        threads = contention.ThreadShare()
        threads.step()
        time.sleep(threads.CHECK_S + 0.2)
        threads.step()
        assert torch.get_num_threads() == 1
    finally:
        spin.kill()
        spin.wait()
    threads.close()
    assert torch.get_num_threads() == 2
