"""How much of the CPUs other processes took while a block ran, read from /proc/stat.

A speed probe timed beside other work measures that moment's contention, not the machine (a neighbour can
turn bf16's win into a loss: docs/results/busy/), so speed.choose keeps such a verdict for its run only;
and training beside other work runs on the cores they leave it (ThreadShare).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import torch

log = logging.getLogger(__name__)

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


class ThreadShare:
    """Training's CPU threads follow the cores other processes leave it, checked every CHECK_S seconds.

    Two programs that each run a thread per core on the same cores make every parallel region wait for a
    thread the other holds off its core: a bf16 step then runs at a tenth of its lone speed, whatever the
    OpenMP wait policy (docs/results/busy/). While others take over BUSY_SHARE of the CPUs, training runs on
    the cores they leave (at least one), and on all its threads again once they are gone.
    """

    CHECK_S = 2.0  # seconds of training between looks at /proc/stat: 200 of its 10 ms ticks, and quick to react

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.full = torch.get_num_threads()
        self.cores = os.cpu_count() or 1
        self.clock = clock
        self.window: OthersShare | None = None
        self.started = 0.0

    def step(self) -> None:
        """After a training step: each CHECK_S, the thread count for the others' share of the last window."""
        now = self.clock()
        if self.window is not None:
            if now - self.started < self.CHECK_S:
                return
            self.window.__exit__(None, None, None)
            self.follow(self.window.share)
        self.window, self.started = OthersShare().__enter__(), now

    def follow(self, share: float) -> None:
        wanted = max(1, min(self.full, round(self.cores * (1 - share)))) if share > BUSY_SHARE else self.full
        if wanted != torch.get_num_threads():
            log.info(
                "other processes took %.0f%% of the CPUs: training on %d of %d threads", 100 * share, wanted, self.full
            )
            torch.set_num_threads(wanted)

    def close(self) -> None:
        """All its threads again, for whatever runs next in this process."""
        torch.set_num_threads(self.full)
