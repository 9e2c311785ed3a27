"""What both training loops share, written once: a TrainingRun that each stage's loop calls.

The run walks epochs and batches in a resumable order and counts the steps; its pieces each do one job:
the run folder, resume and checkpoint cadence with best.pt by FID (run_folder.py), the stop rules
(stopping.py: Ctrl-C, --max-minutes, divergence), what gets logged (epoch_log.py) and the check of
training's pace against the speed probe's figure, which may switch precision and layout once (pace.py). The loops in
train_vae.py and train_gan.py keep the step itself, the models and what goes into their checkpoint (the
`snapshot` they hand over), and build the run once those exist: it takes everything as arguments.

    placement = setup_run(run_dir, cfg, settings, is_new=..., probe=...)
    model = ...  # on placement.device, in placement.layout
    with TrainingRun("vae", run_dir, cfg, placement, snapshot=lambda config, loop: ..., ...) as run:
        for epoch in run.epochs():
            for index in run.batches(n_images):
                ... one optimiser step ...; run.add(values, weight)
            run.end_epoch({...record..., **named(run.epoch_means())}, ...)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import Checkpoint, LoopState, restore_rng_state, rng_state
from vaegan.config import RunSettings, write_json
from vaegan.training import distributed, pace, speed
from vaegan.training.changes import Changes
from vaegan.training.common import TrainingStopped, batches, epoch_order, resolve_device, settings_section
from vaegan.training.contention import ThreadShare
from vaegan.training.epoch_log import DrawGrids, EpochLog
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.run_folder import Checkpoints, RunFolder, start_clean
from vaegan.training.stopping import Clock, Divergence, StopRules

log = logging.getLogger(__name__)

Snapshot = Callable[[Any, LoopState], Checkpoint]  # (the stage's run config, loop state) -> its checkpoint
StepHook = Callable[[int, torch.Tensor], None]  # (1-based step number, the step's metrics on the device)
Latents = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> z (n, latent_dim)


@dataclass(frozen=True)
class Sampler:
    """What a score hook may draw images from: the stage's model as it stands at that step."""

    stage: str
    decode: Callable[[torch.Tensor], torch.Tensor]  # z (B, latent_dim) -> images (B, C, H, W) in value_range
    latents: Callable[[], Latents]  # the stage's z source, built when asked (a fitted prior takes a fit)
    value_range: tuple[float, float]
    disc: Callable[[torch.Tensor], torch.Tensor] | None = None  # a GAN's D: images -> logits
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None  # images -> the VAE's mean z, for PSNR through it


ScoreHook = Callable[[float, Sampler], None]  # (seconds the run's clock has counted, what to draw from)


@dataclass(frozen=True)
class TrainingResult:
    checkpoint: Path
    metrics: dict[str, Any]  # the last epoch's record
    seconds: float = 0.0  # what the run's clock counted when training stopped (see stopping.Clock)


# The stage's probe (speed.Probe) built on a device for a number of processes (each steps on its share of
# the batch): both known once setup_run has joined them.
ProbeOn = Callable[[torch.device, int], speed.Probe]


@dataclass(frozen=True)
class Placement:
    """Where a stage's steps run: its process group, device, and the precision and layout speed.choose picked."""

    ctx: distributed.Dist
    device: torch.device
    bf16: bool  # autocast the forward passes to bf16
    layout: torch.memory_format  # of weights and batches
    seconds_per_step: float | None = None  # the probe's figure for this setting; None where nothing was timed
    probe: ProbeOn | None = None  # to measure again should training's own pace disagree (pace.py)


def setup_run(run_dir: Path, config: Any, settings: RunSettings, *, is_new: bool, probe: ProbeOn) -> Placement:
    """Join the processes (torchrun), clear and for a new run write config.json (rank 0), pick precision and layout."""
    ctx, device = distributed.setup(resolve_device(settings.device))
    distributed.check_batch(settings.batch_size, ctx)
    ctx.barrier()  # every rank has looked for the checkpoint before rank 0 writes anything
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        start_clean(run_dir)
        if is_new:
            write_json(config, run_dir / "config.json")
    choice = speed_settings(settings, ctx, device, probe)
    return Placement(ctx, device, choice.bf16, choice.layout, choice.seconds_per_step, probe)


def speed_settings(
    settings: RunSettings, ctx: distributed.Dist, device: torch.device, probe_on: ProbeOn
) -> speed.SpeedChoice:
    """bf16 autocast and the layout, measured by the stage's probe on the run's device. Under torchrun rank
    0 alone measures (on its device, its share of the batch) and every rank takes its verdict: ranks that
    each timed for themselves could disagree, and DDP needs one setting."""
    choice = speed.SpeedChoice(False, False, "rank 0's to decide")  # other ranks' placeholder
    if ctx.is_main:
        probe = probe_on(device, ctx.world_size)
        choice = speed.choose(
            settings.precision, settings.memory_format, device, probe.shape, probe.time_steps, probe.cache_dir
        )
    return ctx.share(choice)


class TrainingRun:
    """One stage's epochs and batches, new or from `saved`. A step adds `n_sums` metrics (add), `watch` and `postfix`
    judged for divergence and shown on the bar (label -> index); `scorer` gets the clock's seconds after each step;
    `clock`: what --max-minutes counts. The pace check may switch the placement once, moving `placed` (pace.py)."""

    def __init__(
        self,
        stage: str,
        run_dir: Path,
        config: Any,
        placement: Placement,
        *,
        quality: QualityMonitor,
        snapshot: Snapshot,
        n_sums: int,
        watch: dict[str, int],
        postfix: dict[str, int],
        advice: str,
        progress: bool | None,
        saved: LoopState | None = None,
        changes: Changes | None = None,
        on_step: StepHook | None = None,
        scorer: Callable[[float], None] | None = None,
        clock: Clock | None = None,
        placed: Sequence[torch.nn.Module] = (),
    ) -> None:
        self.stage, self.config, self.placement, self.quality = stage, config, placement, quality
        self.pace = pace.PaceCheck(stage, placed=placed, placement=placement)
        alone = placement.device.type == "cpu" and placement.ctx.world_size == 1
        self.threads = ThreadShare() if alone else None  # torchrun's ranks share their cores by design
        self.changes, self.on_step, self.scorer = changes or {}, on_step, scorer
        ctx, device, s = placement.ctx, placement.device, self.settings
        self.folder = RunFolder(run_dir, stage, writes=ctx.is_main)
        self.stops = StopRules(ctx, device, max_minutes=s.max_minutes, clock=clock)
        self.divergence = Divergence(ctx, stage, watch=watch, advice=advice, checkpoint=self.folder.checkpoint)
        check = self.divergence.check_weights
        self.checkpoints = Checkpoints(self.folder, snapshot=snapshot, every=s.checkpoint_every, check=check)
        self.log = EpochLog(stage, self.folder, settings=s, postfix=postfix, progress=progress)
        self.loop = LoopState(sums=torch.zeros(n_sums + 1, device=device))  # where training stands
        self.noise = torch.Generator(device).manual_seed(s.seed + 1)  # every random draw of the steps (eps, z)
        self.clock = clock or Clock()  # replaced by the budget's own when training starts (epochs)
        if saved is not None:
            self.restore(saved)

    def __enter__(self) -> TrainingRun:
        self.stops.__enter__()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.stops.__exit__()
        if self.threads is not None:
            self.threads.close()
        self.log.close()
        if kind is None:
            self.placement.ctx.barrier()  # the last checkpoint is on disk before any rank reads it

    def restore(self, saved: LoopState) -> None:
        """Continue where `saved` stopped. The saved sums are already totals over ranks, so only rank 0 takes them."""
        restore_rng_state(saved.rng, {"noise": self.noise})
        self.quality.best_fid = saved.best_fid
        sums = saved.sums.to(self.placement.device) if self.placement.ctx.is_main else self.loop.sums
        self.loop = LoopState(saved.epoch, saved.batch_in_epoch, saved.step, sums, best_fid=saved.best_fid)
        self.divergence.remember(self.folder.rewind(saved, self.changes))

    @property
    def settings(self) -> RunSettings:
        return getattr(self.config, settings_section(self.stage))  # type: ignore[no-any-return]

    def epochs(self) -> Iterator[int]:
        self.clock = self.stops.start()
        while self.loop.epoch <= self.settings.epochs and not self.stops.cut:
            yield self.loop.epoch
        self.stops.stop(self.clock.seconds())

    def batches(self, n: int) -> Iterator[torch.Tensor]:
        """Index batches of this epoch's order from where it stands. After each step: count it, call the
        scorer, checkpoint then stop if Ctrl-C was pressed; end the epoch here if the time budget is spent
        (never in the first epoch, so a stage always leaves a whole one)."""
        s, loop, ctx = self.settings, self.loop, self.placement.ctx
        todo = list(batches(epoch_order(n, s.seed, loop.epoch), s.batch_size, min_size=ctx.world_size))
        self.log.start_epoch(loop.epoch, len(todo), loop.batch_in_epoch, self.clock.seconds())
        for index in todo[loop.batch_in_epoch :]:
            yield index
            loop.step += 1
            loop.batch_in_epoch += 1
            self.log.step(loop.step, loop.sums)
            self.pace.step(self.clock.seconds, images=len(index), full=len(todo[0]))
            if self.threads is not None:
                self.threads.step()
            seconds = self.clock.seconds()
            if self.scorer is not None:
                with self.clock.paused():
                    self.scorer(seconds)
            pressed, late = self.stops.after_step(seconds, may_cut=loop.epoch > 1)
            if pressed:
                self.divergence.check_finite(loop.sums, "the training loss")
                self.save()
                raise TrainingStopped(
                    f"stopped at {self.stage} epoch {loop.epoch}, step {loop.step}; checkpoint saved. "
                    "Resume with --resume"
                )
            if late and loop.batch_in_epoch < len(todo):
                self.stops.stop(seconds, cut=True)
                break
        self.log.end_steps(self.clock.seconds())
        self.placement = self.pace.end_epoch(self.clock, self.placement, self.settings)

    def add(self, values: torch.Tensor, weight: float) -> None:
        """Add a step's metrics (weighted by images or 1 per step) to the epoch's sums; no host sync."""
        if self.divergence.first_step is None:
            self.divergence.first_step = values.detach().clone()
        self.loop.sums += torch.cat([values.detach() * weight, values.new_tensor([weight])])
        if self.on_step is not None:
            self.on_step(self.loop.step + 1, values.detach())  # loop.step counts the steps finished before

    def epoch_means(self) -> list[float]:
        """The epoch's metrics, averaged over every rank's steps, after the NaN and explosion checks."""
        return self.divergence.checked_means(self.loop.sums, self.loop.epoch)

    def end_epoch(
        self,
        values: dict[str, Any],
        decode: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        value_range: tuple[float, float],
        draw: DrawGrids,
        summary: str,
    ) -> dict[str, Any]:
        """Write the epoch's metrics line (with FID & co. when due) and grids; checkpoint on cadence."""
        loop, epoch = self.loop, self.loop.epoch
        if self.stops.cut or (epoch < self.settings.epochs and self.stops.out_of_time()):
            self.config = self.stops.end_stage(self.config, self.stage, loop)
            self.quality.epochs = epoch  # its last epoch is measured like any last epoch
        record = self.log.record(loop, values, epochs_asked=self.stops.epochs_asked)
        new_best = self.quality.update(record, epoch, decode, latent_dim, value_range)
        self.log.end_epoch(record, draw, summary, epochs=self.settings.epochs)
        if self.stops.cut:  # kept mid-epoch, its sums with it, so a resume with more epochs continues bit for bit
            self.save()
        else:
            loop.epoch, loop.batch_in_epoch, loop.sums = epoch + 1, 0, torch.zeros_like(loop.sums)
            if self.checkpoints.due(epoch, last=self.settings.epochs):
                self.save()
        if new_best:
            self.save(best=True)
        return record

    def save(self, *, best: bool = False) -> None:
        """The stage's checkpoint (or best.pt) for the loop as it stands, with its noise and best FID."""
        loop, rng = self.loop, rng_state({"noise": self.noise})
        state = LoopState(loop.epoch, loop.batch_in_epoch, loop.step, loop.sums.cpu(), rng, self.quality.best_fid)
        changed = bool(self.changes or self.stops.epochs_asked)
        self.checkpoints.save(self.config, state, best=best, config_changed=changed)

    def result(self, record: dict[str, Any]) -> TrainingResult:
        """What the stage's loop returns: its checkpoint, its last record, the seconds its budget counted."""
        return TrainingResult(self.folder.checkpoint, record, self.stops.stopped_at or 0.0)
