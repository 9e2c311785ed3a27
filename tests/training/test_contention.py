"""Other processes' share of the CPUs, read from /proc/stat: a real neighbour is seen, our own work is not."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
