"""What both training loops share, written once: a TrainingRun each stage's loop calls between its own lines.

The run counts epochs and steps in a resumable order; its pieces each do one job: the run folder, resume and
checkpoint cadence with best.pt by FID (run_folder.py), the stop rules (stopping.py: Ctrl-C, --max-minutes,
divergence) and what gets logged (epoch_log.py). The loops in train_vae.py and train_gan.py keep the step,
the models and what goes into their checkpoint (the `snapshot` they hand over):

    with TrainingRun("vae", run_dir, cfg, placement, snapshot=..., ...) as run:
        while run.next_epoch():
            for index in run.epoch_batches(n_images):
                ... one optimiser step ...; run.add(values, weight)
                if run.end_step():
                    break  # the time budget ends the epoch here
            record = run.end_epoch({...record..., **named(run.epoch_means())}, ...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import CHECKPOINT_NAME, Checkpoint, LoopState, restore_rng_state, rng_state
from vaegan.config import RunSettings
from vaegan.errors import VaeganError
from vaegan.training.changes import Changes
from vaegan.training.common import batches, epoch_order, settings_section
from vaegan.training.epoch_log import DrawGrids, EpochLog
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.placement import Placement
from vaegan.training.run_folder import Checkpoints, RunFolder
from vaegan.training.stopping import Clock, Divergence, StopRules

Snapshot = Callable[[Any, LoopState], Checkpoint]  # (the stage's run config, loop state) -> its checkpoint
StepHook = Callable[[int, torch.Tensor], None]  # (1-based step number, the step's metrics on the device)
Latents = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> z (n, latent_dim)
Decode = Callable[[torch.Tensor], torch.Tensor]  # z (B, latent_dim) -> images (B, C, H, W)
Record = dict[str, Any]  # an epoch's line of metrics.jsonl


@dataclass(frozen=True)
class Sampler:
    """What the stage's samples are drawn from: its model as it stands (quality metrics, the curve's scoring)."""

    stage: str
    decode: Callable[[torch.Tensor], torch.Tensor]  # z (B, latent_dim) -> images (B, C, H, W) in value_range
    latents: Callable[[], Latents]  # the stage's z source, built when asked (a fitted prior takes a fit)
    value_range: tuple[float, float]
    encode: Callable[[torch.Tensor], torch.Tensor] | None = None  # images -> the VAE's mean z, for PSNR through it


@dataclass(frozen=True)
class Hooks:
    """What a caller sees of training: each step's metrics (`on_step`), and the `clock` --max-minutes counts
    (default: the run's own)."""

    on_step: StepHook | None = None
    clock: Clock | None = None


@dataclass(frozen=True)
class TrainingResult:
    checkpoint: Path
    metrics: dict[str, Any]  # the last epoch's record
    seconds: float = 0.0  # what the run's clock counted when training stopped (see stopping.Clock)


@dataclass(frozen=True)
class Reporting:
    """How a stage reports its steps: `n_sums` metrics a step adds (TrainingRun.add); `watch` judged for
    divergence and `postfix` shown on the bar (label -> index); `advice` for a run that diverged."""

    n_sums: int
    watch: dict[str, int]
    postfix: dict[str, int]
    advice: str


class TrainingRun(contextlib.AbstractContextManager["TrainingRun"]):
    """One stage's epochs and steps, new or resumed from a saved loop (with the settings the resume changes)."""

    def __init__(
        self,
        stage: str,
        run_dir: Path,
        config: Any,
        placement: Placement,
        *,
        quality: QualityMonitor,
        snapshot: Snapshot,
        reporting: Reporting,
        progress: bool | None,
        resume: tuple[LoopState, Changes] | None,
        hooks: Hooks,
        sampler: Sampler,
    ) -> None:
        self.stage, self.placement, self.quality, self.hooks, self.sampler = stage, placement, quality, hooks, sampler
        self.config, self.settings = config, stage_settings(config, stage)
        ctx, device, s, r = placement.ctx, placement.device, self.settings, reporting
        self.folder = RunFolder(run_dir, stage, writes=ctx.is_main, data=quality.splits)
        self.stops = StopRules(ctx, device, max_minutes=s.max_minutes, clock=hooks.clock)
        self.divergence = Divergence(ctx, stage, watch=r.watch, advice=r.advice, checkpoint=self.folder.checkpoint)
        check = self.divergence.check_weights
        self.checkpoints = Checkpoints(self.folder, snapshot, every=s.checkpoint_every, check=check)
        self.log = EpochLog(stage, self.folder, settings=s, postfix=r.postfix, progress=progress)
        self.loop = LoopState(sums=torch.zeros(r.n_sums + 1, device=device))  # where training stands
        self.noise = torch.Generator(device).manual_seed(s.seed + 1)  # every random draw of the steps (eps, z)
        self.changes: Changes = {}
        self.epoch_length = 0  # batches in the epoch under way
        if resume is not None:  # continue where it stopped; its sums are totals over ranks, so rank 0's alone
            saved, self.changes = resume
            restore_rng_state(saved.rng, {"noise": self.noise})
            self.loop = replace(saved, sums=saved.sums.to(device) if ctx.is_main else self.loop.sums, rng={})
            quality.best_fid = saved.best_fid
            self.divergence.remember(self.folder.rewind(saved, self.changes))
        self.clock = self.stops.start()  # what the time budget counts (a resumed run gets its budget again)
        self.stops.__enter__()  # Ctrl-C from here on stops after a step, with a checkpoint

    def __exit__(self, kind: object, *exc: object) -> None:
        self.stops.__exit__()
        self.log.close()
        if kind is None:
            self.placement.ctx.barrier()  # the last checkpoint is on disk before any rank reads it

    def next_epoch(self) -> bool:
        left = self.loop.epoch <= self.settings.epochs and not self.stops.cut
        if not left:
            self.stops.stop(self.clock.seconds())
        return left

    def epoch_batches(self, n: int) -> list[torch.Tensor]:
        """The index batches of this epoch's order (a function of seed and epoch) from where it stands."""
        s, loop = self.settings, self.loop
        todo = list(batches(epoch_order(n, s.seed, loop.epoch), s.batch_size, min_size=self.placement.ctx.world_size))
        check_position(loop.batch_in_epoch, len(todo), self.folder.checkpoint)
        self.epoch_length = len(todo)
        self.log.start_epoch(loop.epoch, len(todo), loop.batch_in_epoch, self.clock.seconds())
        return todo[loop.batch_in_epoch :]

    def add(self, values: torch.Tensor, weight: float) -> None:
        """Add a step's metrics (weighted by images or 1 per step) to the epoch's sums; no host sync."""
        if self.divergence.first_step is None:
            self.divergence.first_step = values.detach().clone()
        self.loop.sums += torch.cat([values.detach() * weight, values.new_tensor([weight])])
        if self.hooks.on_step is not None:
            self.hooks.on_step(self.loop.step + 1, values.detach())  # loop.step counts the steps finished before

    def end_step(self) -> bool:
        """Count the step, checkpoint and stop on Ctrl-C; True when the time budget ends the epoch here."""
        loop = self.loop
        loop.step, loop.batch_in_epoch = loop.step + 1, loop.batch_in_epoch + 1
        self.log.step(loop.step, loop.sums)
        seconds = self.clock.seconds()
        pressed, late = self.stops.after_step(seconds, may_cut=loop.epoch > 1)  # a stage keeps a whole epoch
        if pressed:
            self.divergence.check_finite(loop.sums, "the training loss")
            self.save()
            raise self.stops.stopped(self.stage, loop)
        if cut := late and loop.batch_in_epoch < self.epoch_length:
            self.stops.stop(seconds, cut=True)
        return cut

    def epoch_means(self) -> list[float]:
        """The epoch's steps are done: their metrics, averaged over every rank's, after the NaN and explosion checks."""
        self.log.end_steps(self.clock.seconds())
        return self.divergence.checked_means(self.loop.sums, self.loop.epoch)

    def end_epoch(self, values: Record, decode: Decode, latent_dim: int, draw: DrawGrids, summary: str) -> Record:
        """Write the epoch's metrics line (with FID & co. of `decode` when due) and grids; checkpoint on cadence."""
        loop, epoch = self.loop, self.loop.epoch
        if self.stops.cut or (epoch < self.settings.epochs and self.stops.out_of_time()):
            self.config = self.stops.end_stage(self.config, self.stage, loop)
            self.settings, self.quality.epochs = stage_settings(self.config, self.stage), epoch  # measured as a last
        ran_on = {"device": str(self.placement.device)}  # what --device auto chose: the model card names it
        record = self.log.record(loop, {**values, **self.folder.data, **ran_on}, epochs_asked=self.stops.epochs_asked)
        new_best = self.quality.update(record, epoch, decode, latent_dim, self.sampler.value_range)
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
        rng, changed = rng_state({"noise": self.noise}), bool(self.changes or self.stops.epochs_asked)
        state = replace(self.loop, sums=self.loop.sums.cpu(), rng=rng, best_fid=self.quality.best_fid)
        self.checkpoints.save(self.config, state, best=best, config_changed=changed)

    def result(self, record: Record) -> TrainingResult:
        return TrainingResult(self.folder.checkpoint, record, self.stops.stopped_at or 0.0)


def check_saved_loop(
    saved: LoopState, settings: RunSettings, reporting: Reporting, n_images: int, world_size: int, run_dir: Path
) -> None:
    """A saved loop this stage cannot have written (its sums, its place in the epoch) is refused before
    anything is written: a refused resume leaves the run folder as it was."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if saved.sums.shape != (reporting.n_sums + 1,):
        shapes = f"{tuple(saved.sums.shape)} where this stage keeps {(reporting.n_sums + 1,)}"
        raise VaeganError(f"{path} holds metric sums of shape {shapes}; it is damaged or forged: use another copy")
    order = torch.arange(n_images)
    check_position(saved.batch_in_epoch, sum(1 for _ in batches(order, settings.batch_size, min_size=world_size)), path)


def check_position(batch: int, batches_in_epoch: int, path: Path) -> None:
    if batch > batches_in_epoch:
        where = f"batch {batch} of an epoch of {batches_in_epoch}"
        raise VaeganError(f"{path} stands at {where}: it is damaged or its data changed; use another copy or retrain")


def stage_settings(config: Any, stage: str) -> RunSettings:
    return getattr(config, settings_section(stage))  # type: ignore[no-any-return]
