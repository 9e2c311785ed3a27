"""How much of the CPUs other processes took while a block ran, read from /proc/stat.

A speed probe timed beside other work measures that moment's contention, not the machine (a neighbour can
turn bf16's win into a loss: docs/results/busy/), so speed.choose keeps such a verdict for its run only.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType

# Others' share of all CPUs' time above which a probe's timings describe the load, not the machine. A
# neighbour with one busy thread on 2 cores takes about a third; system daemons take a few percent.
BUSY_SHARE = 0.2
MIN_WINDOW_S = 0.5  # /proc/stat counts in 10 ms ticks: a shorter block cannot be judged, and counts as quiet


def busy_cpu_seconds() -> float | None:
    """Seconds all CPUs together have been busy since boot (user, nice, system, irq, softirq and the
    hypervisor's steal), or None where /proc/stat cannot be read (not Linux)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    except (OSError, ValueError, IndexError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """User and system seconds of this process, all its threads."""
    times = os.times()
    return times.user + times.system


class OthersShare:
    """`with OthersShare() as others:` ... `others.share`: the fraction of all CPUs' time during the block that
    went to other processes (and steal); 0.0 where it cannot be read."""

    share = 0.0

    def __enter__(self) -> OthersShare:
        self.started = (time.perf_counter(), busy_cpu_seconds(), own_cpu_seconds())
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        wall_start, busy_start, own_start = self.started
        busy, wall = busy_cpu_seconds(), time.perf_counter() - wall_start
        if busy is None or busy_start is None or wall < MIN_WINDOW_S:
            return
        others = busy - busy_start - (own_cpu_seconds() - own_start)
        self.share = max(0.0, others / (wall * (os.cpu_count() or 1)))

    @property
    def busy(self) -> bool:
        return self.share > BUSY_SHARE
