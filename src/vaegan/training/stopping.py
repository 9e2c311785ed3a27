"""When a stage stops before its last epoch: Ctrl-C, the time budget (--max-minutes), or divergence.

Ctrl-C and the time budget are looked at after every step, in one agreement of all processes, so every
rank stops at the same step. Divergence (NaN, a loss exploding against the run's own history, non-finite
weights) stops the run before anything is written, with the last good checkpoint untouched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import Checkpoint, LoopState, load_checkpoint, weights
from vaegan.config import stage_flag
from vaegan.errors import VaeganError
from vaegan.training.common import StopRequest, TrainingStopped, settings_section
from vaegan.training.distributed import Dist

log = logging.getLogger(__name__)

# A watched loss this many times larger than the largest the run has seen lately (the run's first step
# and its last RECENT epochs, at least 1) has exploded: the next steps would overflow to NaN or inf.
EXPLODED = 1000.0
RECENT = 5


class Clock:
    """The seconds --max-minutes counts: wall-clock since the clock was made."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started


class StopRules:
    """Ctrl-C (a checkpointed, resumable stop) and the time budget, agreed by every process."""

    def __init__(self, ctx: Dist, device: torch.device, *, max_minutes: float, clock: Clock | None = None) -> None:
        self.ctx, self.device = ctx, device
        self.budget = 60 * max_minutes  # seconds; 0 = no limit
        self.clock = clock  # None: a clock of its own, started with training (start)
        self.request = StopRequest()  # looked up when built: tests replace it
        self.epochs_asked = 0  # once the budget has ended the stage early: the epochs asked for before
        self.cut = False  # the budget ended the stage's last epoch before its last batch
        self.stopped_at: float | None = None  # the clock's seconds when training stopped

    def __enter__(self) -> StopRules:
        self.request.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.request.__exit__()

    def start(self) -> Clock:
        """The clock the budget counts on: the caller's, or one started now (a resumed run gets its budget again)."""
        if self.clock is None:
            self.clock = Clock()
        return self.clock

    def spent(self, seconds: float) -> bool:
        return self.budget > 0 and seconds >= self.budget

    def after_step(self, seconds: float, *, may_cut: bool) -> tuple[bool, bool]:
        """(Ctrl-C pressed, budget spent and the epoch may be cut here), true on every rank if on any."""
        flags = torch.tensor([float(self.request.requested), float(may_cut and self.spent(seconds))])
        pressed, late = self.ctx.max_(flags, self.device).tolist()
        return bool(pressed), bool(late)

    def out_of_time(self) -> bool:
        """Whether the budget is spent, true on every rank if on any."""
        return self.ctx.any(self.clock is not None and self.spent(self.clock.seconds()), self.device)

    def stop(self, seconds: float, *, cut: bool = False) -> None:
        """Training stops at `seconds` on the clock; `cut`: in the middle of an epoch, the budget spent."""
        self.cut = self.cut or cut
        self.stopped_at = seconds if self.stopped_at is None else self.stopped_at

    def stopped(self, stage: str, loop: LoopState) -> TrainingStopped:
        """What a Ctrl-C raises once its checkpoint is saved."""
        return TrainingStopped(
            f"stopped at {stage} epoch {loop.epoch}, step {loop.step}; checkpoint saved. Resume with --resume"
        )

    def end_stage(self, config: Any, stage: str, loop: LoopState) -> Any:
        """`config` asking for the epoch `loop` is in as the stage's last, now that the budget is spent. The
        stage counts as finished; asking for more epochs on --resume (or a pipeline rerun) extends it."""
        self.stop(self.clock.seconds() if self.clock is not None else 0.0)
        section = settings_section(stage)
        settings = getattr(config, section)
        self.epochs_asked = settings.epochs
        how = f", cut at batch {loop.batch_in_epoch}" if self.cut else ""
        log.info(
            "%s: epoch %d of %d is the last%s: %s %g is spent; resume with %s %d or more to train further",
            stage,
            loop.epoch,
            settings.epochs,
            how,
            stage_flag(stage, "max-minutes"),
            settings.max_minutes,
            stage_flag(stage, "epochs"),
            loop.epoch + 1,
        )
        return replace(config, **{section: replace(settings, epochs=loop.epoch)})


class Divergence:
    """A clean stop when training diverges: the message says what went wrong, what is on disk and what to do."""

    def __init__(self, ctx: Dist, stage: str, *, watch: dict[str, int], advice: str, checkpoint: Path) -> None:
        self.ctx, self.stage, self.watch, self.advice, self.checkpoint = ctx, stage, watch, advice, checkpoint
        self.first_step: torch.Tensor | None = None  # this process's first step's metrics: the scale of a new run
        self.history: list[dict[str, float]] = []  # watched epoch means, oldest first

    def remember(self, records: list[dict]) -> None:
        """The watched losses of a resumed run's last epochs, from its metrics records."""
        recent = records[-RECENT:]
        self.history = [{k: float(r[k]) for k in self.watch if isinstance(r.get(k), int | float)} for r in recent]

    def error(self, what: str) -> VaeganError:
        if self.checkpoint.is_file():
            step = load_checkpoint(self.checkpoint).loop.step
            kept = f"{self.checkpoint} (step {step}) is untouched; resume it with {self.advice}"
        else:
            kept = f"no checkpoint had been written yet; train again with {self.advice}"
        return VaeganError(f"training diverged: {what}; {kept}")

    def check_finite(self, sums: torch.Tensor, what: str) -> None:
        """Stop when the summed metrics (summed over ranks) turn NaN or infinite."""
        if not bool(torch.isfinite(self.ctx.sum_(sums)).all()):
            raise self.error(f"{what} is not finite")

    def checked_means(self, sums: torch.Tensor, epoch: int) -> list[float]:
        """The epoch's means from its sums (the last one counts), after the NaN and explosion checks."""
        self.check_finite(sums, f"the training loss of epoch {epoch}")
        means = (sums[:-1] / sums[-1]).tolist()
        self.check_exploding(means, epoch)
        return means

    def check_exploding(self, means: list[float], epoch: int) -> None:
        """Stop when a watched loss is EXPLODED times the largest of the run's recent history."""
        # Averaged over ranks (each saw its own shard), so every rank takes the same decision.
        first = (self.ctx.sum_(self.first_step) / self.ctx.world_size).tolist() if self.first_step is not None else []
        for label, i in self.watch.items():
            seen = [abs(first[i])] if first else []
            seen += [abs(h[label]) for h in self.history[-RECENT:] if label in h]
            limit = EXPLODED * max([1.0, *seen])
            if abs(means[i]) > limit:
                raise self.error(
                    f"{label} reached {means[i]:.3g} in epoch {epoch}, over {EXPLODED:g} times "
                    f"the largest of this run's recent epochs and first step ({limit / EXPLODED:.3g})"
                )
        self.history.append({label: means[i] for label, i in self.watch.items()})

    def check_weights(self, checkpoint: Checkpoint) -> None:
        """Stop before writing a checkpoint whose floating-point weights are not all finite."""
        for name, tensors in weights(checkpoint).items():
            floats = [t for t in tensors.values() if t.is_floating_point()]
            if floats and not bool(torch.stack([t.isfinite().all() for t in floats]).all()):
                raise self.error(f"the {self.stage}'s {name} weights are not finite")
