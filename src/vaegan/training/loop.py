"""What both training loops share, written once: a TrainingRun that each stage's loop calls.

It opens a new run (clearing what a killed attempt left) or resumes one (with the settings a resume may
change, training.changes), walks epochs and batches in a resumable order, turns Ctrl-C into a
checkpointed stop, sums the per-step metrics, stops on divergence (NaN, a loss exploding against the
run's own history, non-finite weights) before anything is written, writes the metrics line, the grids
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
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    Checkpoint,
    LoopState,
    load_checkpoint,
    remove_orphans,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    weights,
)
from vaegan.config import RunSettings, write_json
from vaegan.errors import VaeganError
from vaegan.metrics.monitor import QualityMonitor
from vaegan.runs import read_metrics
from vaegan.tensorboard import EventLog
from vaegan.training import distributed, speed
from vaegan.training.changes import Changes, Sections, apply_changes
from vaegan.training.common import (
    Progress,
    StopRequest,
    TrainingStopped,
    batches,
    epoch_order,
    n_batches,
    resolve_device,
)

log = logging.getLogger(__name__)

Snapshot = Callable[[LoopState], Checkpoint]
StepHook = Callable[[int, torch.Tensor], None]  # (1-based step number, the step's metrics on the device)

# A watched loss this many times larger than the largest the run has seen lately (the run's first step
# and its last RECENT epochs, at least 1) has exploded: the next steps would overflow to NaN or inf.
EXPLODED = 1000.0
RECENT = 5


@dataclass(frozen=True)
class TrainingResult:
    checkpoint: Path
    metrics: dict[str, Any]  # the last epoch's record


def resume_or_refuse(
    run_dir: Path, stage: str, resume: bool, wanted: Sections | None = None
) -> tuple[Checkpoint | None, Changes]:
    """The checkpoint to resume (its stage checked, `wanted` settings applied to its config, see
    training.changes), or None for a new run; never overwrites a trained run. The run folder is
    checked writable first, so no epoch is trained into a place nothing can be saved to."""
    check_writable(run_dir)
    path = Path(run_dir) / CHECKPOINT_NAME
    if resume:
        saved = load_checkpoint(path)
        if saved.STAGE != stage:
            raise VaeganError(f"{path} is a {saved.STAGE} checkpoint; resume it with train-{saved.STAGE}")
        saved.config, changes = apply_changes(saved.config, wanted or {})  # type: ignore[assignment]
        return saved, changes
    if path.exists():
        raise VaeganError(f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out")
    return None, {}


def check_writable(run_dir: Path) -> None:
    """The run folder exists (made if need be) and takes a file; else one line naming it and the fix."""
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=run_dir):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise VaeganError(f"cannot write to the run folder {run_dir}: {reason}; choose a writable --out") from exc


def start_clean(run_dir: Path) -> None:
    """Clear what a killed run left: temporary checkpoint files always, and for a new run the metrics,
    grids and best.pt of an attempt that never wrote checkpoint.pt (so epochs never interleave)."""
    for orphan in remove_orphans(run_dir):
        log.warning("removed %s, left by a write that was cut short", orphan)
    if (run_dir / CHECKPOINT_NAME).exists() or not (run_dir / "config.json").exists():
        return  # a run to resume, or a folder no vaegan run has started in: nothing of ours to clear
    stale = [p for p in (run_dir / "metrics.jsonl", run_dir / BEST_NAME, run_dir / "grids") if p.exists()]
    for p in stale:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if stale:
        log.warning(
            "starting %s afresh: removed %s of an earlier attempt that saved no checkpoint",
            run_dir,
            ", ".join(p.name for p in stale),
        )


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
    advice: str  # what to change when training diverges, e.g. "a lower --lr"
    config: Any = None  # the stage's run config, rewritten to config.json with a checkpoint after a change
    changes: Changes = field(default_factory=dict)  # settings changed on resume, recorded in metrics.jsonl
    postfix: dict[str, int] = field(default_factory=dict)  # progress-bar label -> index into the sums
    watch: dict[str, int] = field(default_factory=dict)  # losses judged for divergence -> index into the sums
    first_step: torch.Tensor | None = None  # this process's first step's metrics: the scale of a new run
    history: list[dict[str, float]] = field(default_factory=list)  # watched epoch means, oldest first
    snapshot: Snapshot | None = None  # the stage's checkpoint for a loop state; set once models exist
    on_step: StepHook | None = None  # sees every step's metrics (this rank's), e.g. to find when a loss hits 0
    stop: StopRequest = field(default_factory=lambda: StopRequest())  # looked up when built: tests replace it
    events: EventLog | None = None  # TensorBoard events (--tensorboard), on rank 0
    epoch_started: float = 0.0
    train_seconds: float = 0.0
    clock: tuple[float, int] = (0.0, 1)  # (perf_counter, epoch) where this call's training began
    epochs_asked: int = 0  # when max_minutes made an earlier epoch the last: the epochs asked for before

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

        def ahead(r: dict[str, Any]) -> bool:  # written after `saved`: an epoch to redo, a resume that diverged
            if r.get("stage") != self.stage:
                return False
            return r.get("step", 0) >= saved.step if "event" in r else r.get("epoch", 0) >= saved.epoch

        kept = [r for r in read_metrics(self.run_dir) if not ahead(r)]
        epochs = [r for r in kept if r.get("stage") == self.stage and "epoch" in r][-RECENT:]
        self.history = [{k: float(r[k]) for k in self.watch if isinstance(r.get(k), int | float)} for r in epochs]
        if self.ctx.is_main:
            if self.changes:
                event = {"stage": self.stage, "event": "resume", "at_epoch": saved.epoch, "step": saved.step}
                kept.append({**event, "changed": self.changes})
                log.info("resuming with %s", ", ".join(f"{k} {a} -> {b}" for k, (a, b) in self.changes.items()))
            path = self.run_dir / "metrics.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        log.info(
            "resuming %s at epoch %d, batch %d (step %d)", self.run_dir, saved.epoch, saved.batch_in_epoch, saved.step
        )

    def epochs(self) -> Iterator[int]:
        self.clock = (time.perf_counter(), self.loop.epoch)  # max_minutes counts from here
        while self.loop.epoch <= self.settings.epochs:
            yield self.loop.epoch

    def out_of_time(self) -> bool:
        """Whether one more epoch, as long as this call's epochs took on average, would end past
        max_minutes (counted from this call: a resumed run gets its budget again). Every rank agrees."""
        started, first = self.clock
        if not self.settings.max_minutes or self.loop.epoch >= self.settings.epochs:
            return False
        spent = time.perf_counter() - started
        return self.ctx.any(spent + spent / (self.loop.epoch - first + 1) > 60 * self.settings.max_minutes, self.device)

    def end_early(self) -> None:
        """Make the epoch being ended the stage's last: its settings, and so config.json and the checkpoint,
        ask for the epochs trained; the stage counts as finished and its last epoch is measured like any
        last epoch. Asking for more epochs on --resume (or a pipeline rerun) extends it."""
        epoch, asked = self.loop.epoch, self.settings.epochs
        log.info(
            "%s: epoch %d of %d is the last, as one more would run past --max-minutes %g; "
            "resume with more epochs to train further",
            self.stage,
            epoch,
            asked,
            self.settings.max_minutes,
        )
        self.settings = replace(self.settings, epochs=epoch)
        section = "train" if self.stage == "vae" else "gan"
        self.config = replace(self.config, **{section: self.settings})
        self.quality.epochs = epoch
        self.epochs_asked = asked

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
        if self.first_step is None:
            self.first_step = values.detach().clone()
        self.loop.sums += torch.cat([values.detach() * weight, values.new_tensor([weight])])
        if self.on_step is not None:
            self.on_step(self.loop.step + 1, values.detach())  # loop.step counts the steps finished before

    def running_means(self) -> dict[str, float]:
        sums = self.loop.sums
        return {label: float(sums[i] / sums[-1]) for label, i in self.postfix.items()}

    def check_finite(self, what: str) -> None:
        """A clean stop when the summed metrics turn NaN or infinite; no checkpoint is overwritten."""
        if not bool(torch.isfinite(self.ctx.sum_(self.loop.sums)).all()):
            raise self.diverged(f"{what} is not finite")

    def diverged(self, what: str) -> VaeganError:
        """The stop message: what went wrong, what is on disk (the truth, not a hope) and what to do."""
        if self.checkpoint_path.is_file():
            step = load_checkpoint(self.checkpoint_path).loop.step
            kept = f"{self.checkpoint_path} (step {step}) is untouched; resume it with {self.advice}"
        else:
            kept = f"no checkpoint had been written yet; train again with {self.advice}"
        return VaeganError(f"training diverged: {what}; {kept}")

    def check_exploding(self, means: list[float]) -> None:
        """A clean stop when a watched loss is EXPLODED times the largest of the run's recent history."""
        # Averaged over ranks (each saw its own shard), so every rank takes the same decision.
        first = (self.ctx.sum_(self.first_step) / self.ctx.world_size).tolist() if self.first_step is not None else []
        for label, i in self.watch.items():
            seen = [abs(first[i])] if first else []
            seen += [abs(h[label]) for h in self.history[-RECENT:] if label in h]
            limit = EXPLODED * max([1.0, *seen])
            if abs(means[i]) > limit:
                raise self.diverged(
                    f"{label} reached {means[i]:.3g} in epoch {self.loop.epoch}, over {EXPLODED:g} times "
                    f"the largest of this run's recent epochs and first step ({limit / EXPLODED:.3g})"
                )
        self.history.append({label: means[i] for label, i in self.watch.items()})

    def epoch_means(self) -> list[float]:
        """The epoch's metrics, averaged over every rank's steps, after the NaN and explosion checks."""
        self.check_finite(f"the training loss of epoch {self.loop.epoch}")
        means = (self.loop.sums[:-1] / self.loop.sums[-1]).tolist()
        self.check_exploding(means)
        return means

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
        if self.out_of_time():
            self.end_early()
        epoch = self.loop.epoch
        record = {"stage": self.stage, "epoch": epoch, "step": self.loop.step, **values}
        record["train_seconds"] = self.train_seconds  # the steps alone: images / train_seconds is throughput
        record["seconds"] = time.perf_counter() - self.epoch_started
        if self.epochs_asked:  # the time limit ended the stage here: a rerun asking no more is done (pipeline)
            record["epochs_asked"] = self.epochs_asked
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
        checkpoint = self.snapshot(state)
        for name, tensors in weights(checkpoint).items():
            floats = [t for t in tensors.values() if t.is_floating_point()]
            if floats and not bool(torch.stack([t.isfinite().all() for t in floats]).all()):
                raise self.diverged(f"the {self.stage}'s {name} weights are not finite")
        save_checkpoint(checkpoint, path or self.checkpoint_path)
        if (self.changes or self.epochs_asked) and path is None:  # config.json says what the checkpoint holds
            write_json(self.config, self.run_dir / "config.json")


# The stage's probe (speed.Probe) built on a device for a number of processes (each steps on its share of
# the batch): both known once start_run has joined them.
ProbeOn = Callable[[torch.device, int], speed.Probe]


def speed_settings(
    settings: RunSettings, ctx: distributed.Dist, device: torch.device, probe_on: ProbeOn
) -> tuple[bool, torch.memory_format]:
    """bf16 autocast and the layout, measured by the stage's probe on the run's device. Under torchrun rank
    0 alone measures (on its device, its share of the batch) and every rank takes its verdict: ranks that
    each timed for themselves could disagree, and DDP needs one setting."""
    verdict = (False, False)  # other ranks' placeholder, replaced by rank 0's
    if ctx.is_main:
        probe = probe_on(device, ctx.world_size)
        choice = speed.choose(
            settings.precision, settings.memory_format, device, probe.shape, probe.time_steps, probe.cache_dir
        )
        verdict = (choice.bf16, choice.channels_last)
    bf16, channels_last = ctx.share(verdict)
    return bf16, torch.channels_last if channels_last else torch.contiguous_format


def start_run(
    stage: str,
    run_dir: Path,
    config: Any,
    settings: RunSettings,
    quality: Callable[[int], QualityMonitor],
    *,
    n_sums: int,
    is_new: bool,
    advice: str,
    progress: bool | None,
    changes: Changes | None = None,
    probe: ProbeOn,
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
        start_clean(run_dir)
        if is_new:
            write_json(config, run_dir / "config.json")
    bf16, layout = speed_settings(settings, ctx, device, probe)
    return TrainingRun(
        stage=stage,
        run_dir=run_dir,
        settings=settings,
        ctx=ctx,
        device=device,
        bf16=bf16,
        layout=layout,
        quality=quality(settings.quality_every if ctx.is_main else 0),
        progress=Progress(stage, settings.epochs, enabled=progress if ctx.is_main else False),
        loop=LoopState(sums=torch.zeros(n_sums + 1, device=device)),
        noise=torch.Generator(device).manual_seed(settings.seed + 1),
        advice=advice,
        config=config,
        changes=changes or {},
        events=EventLog(run_dir) if settings.tensorboard and ctx.is_main else None,
    )
