"""Training checks its own pace against the speed probe's figure once per stage, and measures again if they disagree.

A probe lasts seconds and a verdict is cached for weeks (speed.py): a machine busy or idle then, or changed
since, can leave a verdict that this run's steps contradict. After PACE_STEPS steps the run compares its
seconds per step with the probe's figure for the setting it runs; REDECIDE_RATIO off either way, rank 0
probes again (the cache aside) and every rank switches to a new clear verdict (TrainingRun.check_pace).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch

from vaegan.config import RunSettings
from vaegan.training import speed
from vaegan.training.common import place

if TYPE_CHECKING:
    from vaegan.training.loop import Placement
    from vaegan.training.stopping import Clock

log = logging.getLogger(__name__)

REDECIDE_RATIO = 1.3  # training this many times slower or faster than the probe's figure measures again
PACE_STEPS = 20  # steps counted before training's pace is compared, each epoch's first left out


class Pace:
    """Training's seconds per full batch, counted from each epoch's second step to its last (the first holds
    the warm-up or the epoch's set-up) on the run's clock, which leaves scoring pauses out. A short last
    batch counts for its share of a full one."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds, self.steps = 0.0, 0.0  # steps: in full batches
        self.started: float | None = None  # the clock when this epoch's counted steps began
        self.epoch_steps = 0.0

    def now(self, clock: Callable[[], float]) -> float:
        if self.device.type == "cuda":  # the steps' queued kernels are part of their time
            torch.cuda.synchronize(self.device)
        return clock()

    def start(self, clock: Callable[[], float]) -> None:
        """The epoch's first step is done: its next steps are counted."""
        self.started, self.epoch_steps = self.now(clock), 0.0

    def count(self, images: int, full: int) -> None:
        """One more counted step, on `images` of a `full` batch."""
        self.epoch_steps += images / full

    def end(self, clock: Callable[[], float]) -> None:
        """The epoch's steps are done."""
        if self.started is not None and self.epoch_steps:
            self.seconds += self.now(clock) - self.started
            self.steps += self.epoch_steps
        self.started = None

    @property
    def due(self) -> bool:
        return self.steps >= PACE_STEPS

    def seconds_per_step(self) -> float:
        return self.seconds / self.steps


def off_pace(measured: float, expected: float) -> bool:
    """Whether training's `measured` seconds per step are REDECIDE_RATIO off the probe's `expected`, either way."""
    return measured > REDECIDE_RATIO * expected or expected > REDECIDE_RATIO * measured


def redecide(stage: str, placement: Placement, settings: RunSettings, measured: float) -> speed.SpeedChoice | None:
    """A new clear verdict from a fresh probe when training's `measured` seconds per step are off the
    probe's figure (off_pace) and the verdict differs; None to carry on as it is. Rank 0's to call."""
    expected, probe_on = placement.seconds_per_step, placement.probe
    if expected is None or probe_on is None or not off_pace(measured, expected):
        return None
    probe = probe_on(placement.device, placement.ctx.world_size)
    devices = [placement.device] if placement.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # the probe's fresh models must not move the run's random draws
        choice = speed.choose(
            settings.precision,
            settings.memory_format,
            placement.device,
            probe.shape,
            probe.time_steps,
            probe.cache_dir,
            fresh=True,
        )
    now = (placement.bf16, placement.layout)
    switch = not choice.doubt and (choice.bf16, choice.layout) != now
    if switch:
        verdict = f"now {setting(choice.bf16, choice.layout)}"
    else:
        verdict = f"keeps {setting(*now)}" + (" (the new probe was unclear)" if choice.doubt else "")
    log.info(
        "%s: training took %.3g s/step where the speed probe expected %.3g s/step for %s; measured again, %s",
        stage,
        measured,
        expected,
        setting(*now),
        verdict,
    )
    return choice if switch else None


def setting(bf16: bool, layout: torch.memory_format) -> str:
    precision = "bf16 autocast" if bf16 else "fp32"
    return f"{precision}, {'channels_last' if layout == torch.channels_last else 'contiguous'}"


class PaceCheck:
    """A stage's pace counted until it is due, then checked once (redecide): on a CPU only, since a GPU step's
    loop overhead, beyond what the probe times, reads as a pace off the probe's. `placed`: the modules moved
    to a new layout should the check switch it."""

    def __init__(self, stage: str, *, placed: Sequence[torch.nn.Module], placement: Placement) -> None:
        self.stage, self.placed = stage, placed
        checks = placement.seconds_per_step is not None and placement.device.type == "cpu"
        self.pace: Pace | None = Pace(placement.device) if checks else None

    def step(self, clock: Callable[[], float], *, images: int, full: int) -> None:
        """Count a step while the check is still to come, each epoch's first left out."""
        if self.pace is None:
            return
        if self.pace.started is None:
            self.pace.start(clock)
        else:
            self.pace.count(images, full)

    def end_epoch(self, clock: Clock, placement: Placement, settings: RunSettings) -> Placement:
        """The placement for the next epoch: a new verdict's once the check is due and switches, else as it is."""
        if self.pace is None:
            return placement
        self.pace.end(clock.seconds)
        if not self.pace.due:
            return placement
        with clock.paused():
            measured, self.pace = self.pace.seconds_per_step(), None
            choice = redecide(self.stage, placement, settings, measured) if placement.ctx.is_main else None
            choice = placement.ctx.share(choice)  # every rank takes rank 0's verdict
        if choice is None:
            return placement
        if choice.layout != placement.layout:
            for module in self.placed:
                place(module, placement.device, choice.layout)
        return replace(placement, bf16=choice.bf16, layout=choice.layout, seconds_per_step=choice.seconds_per_step)
