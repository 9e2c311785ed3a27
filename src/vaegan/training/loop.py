"""What both training loops share, written once: a TrainingRun that each stage's loop calls.

It opens a new run or resumes one, walks epochs and batches in a resumable order, turns Ctrl-C into a
checkpointed stop, sums the per-step metrics, checks them for NaN, writes the metrics line, the grids
and checkpoints on their cadence, and keeps best.pt by FID. The loops in train_vae.py and train_gan.py
keep the step itself, the models and what goes into their checkpoint (the `snapshot` they hand over).

    with start_run(...) as run:
        model = ...; run.snapshot = lambda loop: VAECheckpoint(cfg, loop, ...)
        for epoch in run.epochs():
            for index in run.batches(n_images):
                ... one optimiser step ...; run.add(values, weight)
            means = run.epoch_means()
            run.end_epoch({...record...}, ...)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    Checkpoint,
    LoopState,
    load_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from vaegan.config import RunSettings, write_json
from vaegan.errors import VaeganError
from vaegan.metrics.monitor import QualityMonitor
from vaegan.runs import read_metrics
from vaegan.tensorboard import EventLog
from vaegan.training import distributed
from vaegan.training.common import (
    Progress,
    StopRequest,
    TrainingStopped,
    batches,
    epoch_order,
    memory_format,
    n_batches,
    resolve_device,
    use_bf16,
)

log = logging.getLogger(__name__)

Snapshot = Callable[[LoopState], Checkpoint]


@dataclass(frozen=True)
class TrainingResult:
    checkpoint: Path
    metrics: dict[str, Any]  # the last epoch's record


def resume_or_refuse(run_dir: Path, stage: str, resume: bool) -> Checkpoint | None:
    """The checkpoint to resume (its stage checked), or None for a new run; never overwrites a trained run."""
    path = Path(run_dir) / CHECKPOINT_NAME
    if resume:
        saved = load_checkpoint(path)
        if saved.STAGE != stage:
            raise VaeganError(f"{path} is a {saved.STAGE} checkpoint; resume it with train-{saved.STAGE}")
        return saved
    if path.exists():
        raise VaeganError(f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out")
    return None


@dataclass
class TrainingRun:
    stage: str
    run_dir: Path
    settings: RunSettings
    ctx: distributed.Dist
    device: torch.device
    bf16: bool  # autocast the forward passes to bf16
    layout: torch.memory_format  # of weights and batches
    quality: QualityMonitor
    progress: Progress
    loop: LoopState  # where training stands; its sums live on `device`
    noise: torch.Generator  # every random draw of the steps (eps, z), on `device`
    advice: str  # what to try when training diverges
    postfix: dict[str, int] = field(default_factory=dict)  # progress-bar label -> index into the sums
    snapshot: Snapshot | None = None  # the stage's checkpoint for a loop state; set once models exist
    stop: StopRequest = field(default_factory=lambda: StopRequest())  # looked up when built: tests replace it
    events: EventLog | None = None  # TensorBoard events (--tensorboard), on rank 0
    epoch_started: float = 0.0
    train_seconds: float = 0.0

    def __enter__(self) -> TrainingRun:
        self.stop.__enter__()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.stop.__exit__()
        if self.events is not None:
            self.events.close()
        if kind is None:
            self.ctx.barrier()  # the last checkpoint is on disk before any rank reads it

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    def restore(self, saved: LoopState) -> None:
        """Continue where `saved` stopped. The saved sums are already totals over ranks, so only rank 0
        takes them; it alone also drops the metrics lines of epochs that will be trained again."""
        restore_rng_state(saved.rng, {"noise": self.noise})
        self.quality.best_fid = saved.best_fid
        sums = saved.sums.to(self.device) if self.ctx.is_main else self.loop.sums
        self.loop = LoopState(saved.epoch, saved.batch_in_epoch, saved.step, sums, best_fid=saved.best_fid)
        if self.ctx.is_main:
            path = self.run_dir / "metrics.jsonl"
            kept = [
                r
                for r in read_metrics(self.run_dir)
                if not (r.get("stage") == self.stage and r.get("epoch", 0) >= saved.epoch)
            ]
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        log.info(
            "resuming %s at epoch %d, batch %d (step %d)", self.run_dir, saved.epoch, saved.batch_in_epoch, saved.step
        )

    def epochs(self) -> Iterator[int]:
        while self.loop.epoch <= self.settings.epochs:
            yield self.loop.epoch

    def batches(self, n: int) -> Iterator[torch.Tensor]:
        """Index batches of this epoch's order, from where it stands; after each step, counts it and
        checkpoints then stops if Ctrl-C was pressed (on any rank)."""
        s, loop = self.settings, self.loop
        order = epoch_order(n, s.seed, loop.epoch)
        self.progress.start_epoch(loop.epoch, n_batches(n, s.batch_size), loop.batch_in_epoch)
        self.epoch_started = time.perf_counter()
        for index in batches(order, s.batch_size, start=loop.batch_in_epoch, min_size=self.ctx.world_size):
            yield index
            loop.step += 1
            loop.batch_in_epoch += 1
            shown = self.progress.interactive and loop.step % 10 == 0  # a host sync, so not every step
            self.progress.step(self.running_means() if shown else None)
            if self.ctx.any(self.stop.requested, self.device):
                self.check_finite("the training loss")
                self.save()
                raise TrainingStopped(
                    f"stopped at {self.stage} epoch {loop.epoch}, step {loop.step}; checkpoint saved. "
                    "Resume with --resume"
                )
        self.train_seconds = time.perf_counter() - self.epoch_started

    def add(self, values: torch.Tensor, weight: float) -> None:
        """Add a step's metrics (weighted by images or 1 per step) to the epoch's sums; no host sync."""
        self.loop.sums += torch.cat([values.detach() * weight, values.new_tensor([weight])])

    def running_means(self) -> dict[str, float]:
        sums = self.loop.sums
        return {label: float(sums[i] / sums[-1]) for label, i in self.postfix.items()}

    def check_finite(self, what: str) -> None:
        """A clean stop when the summed metrics turn NaN or infinite; no checkpoint is overwritten."""
        if bool(torch.isfinite(self.ctx.sum_(self.loop.sums)).all()):
            return
        kept = (
            f"the last good checkpoint {self.checkpoint_path} is untouched"
            if self.checkpoint_path.is_file()
            else "no checkpoint had been written yet"
        )
        raise VaeganError(f"training diverged: {what} is not finite; {kept}. {self.advice}")

    def epoch_means(self) -> list[float]:
        """The epoch's metrics, averaged over every rank's steps, after the NaN check."""
        self.check_finite(f"the training loss of epoch {self.loop.epoch}")
        return (self.loop.sums[:-1] / self.loop.sums[-1]).tolist()

    def end_epoch(
        self,
        values: dict[str, Any],
        decode: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        value_range: tuple[float, float],
        draw: Callable[[Path, int], None],
        summary: str,
    ) -> dict[str, Any]:
        """Write the epoch's metrics line (with FID & co. when due) and grids; checkpoint on cadence."""
        epoch = self.loop.epoch
        record = {"stage": self.stage, "epoch": epoch, "step": self.loop.step, **values}
        record["train_seconds"] = self.train_seconds  # the steps alone: images / train_seconds is throughput
        record["seconds"] = time.perf_counter() - self.epoch_started
        new_best = self.quality.update(record, epoch, decode, latent_dim, value_range)
        if self.ctx.is_main:
            draw(self.run_dir / "grids", epoch)
            with (self.run_dir / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")
            if self.events is not None:
                self.events.epoch(record, self.run_dir / "grids")
        self.progress.end_epoch(
            f"{self.stage} epoch {epoch}/{self.settings.epochs}: {summary}, {record['seconds']:.1f}s"
        )
        self.loop.epoch, self.loop.batch_in_epoch = epoch + 1, 0
        self.loop.sums = torch.zeros_like(self.loop.sums)
        if epoch % self.settings.checkpoint_every == 0 or epoch == self.settings.epochs:
            self.save()
        if new_best:
            self.save(self.run_dir / BEST_NAME)
        return record

    def save(self, path: Path | None = None) -> None:
        """Rank 0 writes the stage's checkpoint for the loop as it stands."""
        if not self.ctx.is_main:
            return
        assert self.snapshot is not None, "the loop sets run.snapshot before training"
        loop = self.loop
        state = LoopState(
            loop.epoch,
            loop.batch_in_epoch,
            loop.step,
            loop.sums.cpu(),
            rng_state({"noise": self.noise}),
            self.quality.best_fid,
        )
        save_checkpoint(self.snapshot(state), path or self.checkpoint_path)


def start_run(
    stage: str,
    run_dir: Path,
    config: Any,
    settings: RunSettings,
    quality: Callable[[int], QualityMonitor],
    *,
    image_size: int,
    n_sums: int,
    is_new: bool,
    advice: str,
    progress: bool | None,
) -> TrainingRun:
    """Join the processes (torchrun), write config.json for a new run (rank 0), pick precision and layout.

    `quality` builds the stage's monitor for a measurement interval (0 off the main rank); `n_sums` is
    the number of metrics a step adds (see TrainingRun.add).
    """
    ctx, device = distributed.setup(resolve_device(settings.device))
    distributed.check_batch(settings.batch_size, ctx)
    ctx.barrier()  # every rank has looked for the checkpoint before rank 0 writes anything
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if is_new:
            write_json(config, run_dir / "config.json")
    return TrainingRun(
        stage=stage,
        run_dir=run_dir,
        settings=settings,
        ctx=ctx,
        device=device,
        bf16=use_bf16(settings.precision, device),
        layout=memory_format(settings.memory_format, device, image_size),
        quality=quality(settings.quality_every if ctx.is_main else 0),
        progress=Progress(stage, settings.epochs, enabled=progress if ctx.is_main else False),
        loop=LoopState(sums=torch.zeros(n_sums + 1, device=device)),
        noise=torch.Generator(device).manual_seed(settings.seed + 1),
        advice=advice,
        events=EventLog(run_dir) if settings.tensorboard and ctx.is_main else None,
    )
