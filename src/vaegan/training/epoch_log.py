"""What a training stage reports: the progress bar, each epoch's metrics line and grids, TensorBoard events."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import LoopState
from vaegan.config import RunSettings
from vaegan.tensorboard import EventLog
from vaegan.training.common import Progress
from vaegan.training.run_folder import RunFolder

DrawGrids = Callable[[Path, int], None]  # (grids folder, epoch) -> writes that epoch's pictures


HELD_OUT_GRIDS = "heldout_e*.png"  # the glob of held_out_grid's files


def held_out_grid(folder: Path, epoch: int) -> Path:
    """grids/heldout_eNNN.png: the first grid_size held-out images (training ones when none are held out)
    encoded to their posterior means and decoded by the stage's decoder: progress.gif's frame. Both stages
    decode the same z there, so the animation changes at the VAE-to-GAN cut only where the GAN changed G."""
    return folder / f"heldout_e{epoch:03d}.png"


class EpochLog:
    """The main process's reports; the others only keep their sums. `postfix` names the running means the
    progress bar shows: label -> index into the epoch's sums (TrainingRun.add)."""

    def __init__(
        self,
        stage: str,
        folder: RunFolder,
        *,
        settings: RunSettings,
        postfix: dict[str, int],
        progress: bool | None,
    ) -> None:
        self.stage, self.folder, self.postfix, self.grid_every = stage, folder, postfix, settings.grid_every
        self.progress = Progress(stage, settings.epochs, enabled=progress if folder.writes else False)
        self.events = EventLog(folder.path) if settings.tensorboard and folder.writes else None
        self.started, self.clock_at_start, self.train_seconds = time.perf_counter(), 0.0, 0.0

    def start_epoch(self, epoch: int, total_batches: int, done: int, clock: float) -> None:
        """An epoch's first step is next (of `done` trained before), at `clock` seconds on the run's clock."""
        self.progress.start_epoch(epoch, total_batches, done)
        self.started, self.clock_at_start = time.perf_counter(), clock

    def end_steps(self, clock: float) -> None:
        """The epoch's last step is done, at `clock` seconds: the time its steps took, on the clock."""
        self.train_seconds = clock - self.clock_at_start

    def step(self, step: int, sums: torch.Tensor) -> None:
        """Advance the bar; every 10th step (a host sync, so not every step) with the running means."""
        shown = self.progress.interactive and step % 10 == 0
        self.progress.step({label: float(sums[i] / sums[-1]) for label, i in self.postfix.items()} if shown else None)

    def record(self, loop: LoopState, values: dict[str, Any], *, epochs_asked: int) -> dict[str, Any]:
        """The epoch's metrics line: `values` with where the loop stands and how long the epoch took."""
        record = {"stage": self.stage, "epoch": loop.epoch, "step": loop.step, **values}
        record["train_seconds"] = self.train_seconds  # the steps alone: images / train_seconds is throughput
        record["seconds"] = time.perf_counter() - self.started
        if epochs_asked:  # the time limit ended the stage here: a rerun asking no more is done (pipeline)
            record["epochs_asked"] = epochs_asked
        return record

    def end_epoch(self, record: dict[str, Any], draw: DrawGrids, summary: str, *, epochs: int) -> None:
        """The epoch's grids (every grid_every epochs and the last), its metrics line and events (main process),
        and its summary line in the log."""
        epoch = record["epoch"]
        if self.folder.writes:
            if epoch % self.grid_every == 0 or epoch >= epochs:
                draw(self.folder.grids, epoch)
            self.folder.append(record)
            if self.events is not None:
                self.events.epoch(record, self.folder.grids)
        self.progress.end_epoch(f"{self.stage} epoch {epoch}/{epochs}: {summary}, {record['seconds']:.1f}s")

    def close(self) -> None:
        if self.events is not None:
            self.events.close()
