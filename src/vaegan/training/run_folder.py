"""A stage's run folder: opened new or resumed, its config.json, metrics.jsonl and checkpoints (Checkpoints).

A new run clears what a killed attempt left; a resumed one continues its checkpoint with the settings a
resume may change (training.changes) and drops the metrics lines of epochs it will train again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vaegan.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    Checkpoint,
    LoopState,
    load_checkpoint,
    remove_orphans,
    save_checkpoint,
)
from vaegan.config import stage_flag, write_json
from vaegan.data import DataSplits
from vaegan.errors import VaeganError
from vaegan.paths import check_writable
from vaegan.runs import locate_paths, read_metrics
from vaegan.training.changes import Changes, Sections, apply_changes
from vaegan.training.common import settings_section

log = logging.getLogger(__name__)


def resume_or_refuse(
    run_dir: Path, stage: str, resume: bool, wanted: Sections | None = None
) -> tuple[Checkpoint | None, Changes]:
    """The checkpoint to resume (its stage checked, `wanted` settings applied to its config, see
    training.changes), or None for a new run; never overwrites a trained run. The run folder is
    checked writable first, so no epoch is trained into a place nothing can be saved to."""
    check_writable(run_dir)
    path = Path(run_dir) / CHECKPOINT_NAME
    if resume:
        if not path.exists() and (Path(run_dir) / "config.json").is_file():
            raise VaeganError(
                f"{run_dir} has no checkpoint yet: it stopped before its first epoch ended; start it over with "
                f"'vaegan train-{stage} --out {run_dir}' and the settings it began with (config.json), without --resume"
            )
        saved = locate_paths(load_checkpoint(path), Path(run_dir))
        read_metrics(Path(run_dir))  # a damaged metrics.jsonl is refused now, before a prior is fitted or saved
        if saved.STAGE != stage:
            raise VaeganError(f"{path} is a {saved.STAGE} checkpoint; resume it with train-{saved.STAGE}")
        saved.config, changes = apply_changes(saved.config, wanted or {})  # type: ignore[assignment]
        check_work_left(saved, run_dir, stage, (wanted or {}).get(settings_section(stage), {}).get("epochs"))
        return saved, changes
    check_new_run(run_dir)
    return None, {}


def check_new_run(run_dir: Path) -> None:
    """A new run's folder takes files and holds no trained run: checked before any data is loaded."""
    check_writable(run_dir)
    if (Path(run_dir) / CHECKPOINT_NAME).exists():
        raise VaeganError(f"{run_dir} already holds a trained run; pass --resume to continue it or choose a new --out")


def check_work_left(saved: Checkpoint, run_dir: Path, stage: str, asked: int | None) -> None:
    """A resume with epochs below those done is refused (it would train nothing, silently); one with no
    epochs left says so and goes on, as a rerun of a finished run is no mistake."""
    settings = getattr(saved.config, settings_section(stage))
    done, flag = saved.loop.epoch - 1, stage_flag(stage, "epochs")
    if settings.epochs >= saved.loop.epoch:
        return
    if asked is not None and asked < done:
        raise VaeganError(
            f"{run_dir} has trained {done} {stage.upper()} epochs already, so {flag} {asked} would train nothing; "
            f"pass {flag} {saved.loop.epoch} or more to extend it"
        )
    log.warning(
        "%s has trained all its %d epochs: nothing to train (pass %s %d to extend it)",
        run_dir,
        done,
        flag,
        done + 1,
    )


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


class RunFolder:
    """One stage's files in `path`; only the main process (`writes`) touches them. `data`: the stage's images,
    whose fingerprint each epoch record carries (data_fingerprint)."""

    def __init__(self, path: Path, stage: str, *, writes: bool, data: DataSplits | None = None) -> None:
        self.path, self.stage, self.writes = Path(path), stage, writes
        self.data = data_fingerprint(data) if writes and data is not None else {}
        self.checkpoint = self.path / CHECKPOINT_NAME
        self.best = self.path / BEST_NAME
        self.grids = self.path / "grids"

    def append(self, record: dict[str, Any]) -> None:
        """One line of metrics.jsonl: an epoch's record or an event."""
        if self.writes:
            with (self.path / "metrics.jsonl").open("a") as f:
                f.write(json.dumps(record) + "\n")

    def write_config(self, config: Any) -> None:
        if self.writes:
            write_json(config, self.path / "config.json")

    def rewind(self, saved: LoopState, changes: Changes) -> list[dict[str, Any]]:
        """Drop the metrics lines written after `saved` (an epoch to redo, a resume that diverged), add a
        resume event naming `changes` if any, and return the stage's epoch records that remain; a warning
        when they were trained on other data."""
        stage = self.stage

        def ahead(r: dict[str, Any]) -> bool:
            if r.get("stage") != stage:
                return False
            return r.get("step", 0) >= saved.step if "event" in r else r.get("epoch", 0) >= saved.epoch

        kept = [r for r in read_metrics(self.path) if not ahead(r)]
        epochs = [r for r in kept if r.get("stage") == stage and "epoch" in r]
        if not self.writes:
            return epochs
        warn_if_data_changed(epochs, self.data, self.path)
        if changes:
            event = {"stage": stage, "event": "resume", "at_epoch": saved.epoch, "step": saved.step}
            kept.append({**event, "changed": changes})
            log.info("resuming with %s", ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changes.items()))
        (self.path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
        log.info(
            "resuming %s at epoch %d, batch %d (step %d)", self.path, saved.epoch, saved.batch_in_epoch, saved.step
        )
        return epochs


def data_fingerprint(splits: DataSplits) -> dict[str, int]:
    """The images a stage trains and validates on, as two numbers each epoch record keeps: their count and
    48 bits of a SHA-256 of their pixels (a float64 holds it exactly). A resume compares them."""
    digest = hashlib.sha256()
    for part in (splits.train.images, splits.val.images):  # in split order: another split is another digest
        digest.update(part.contiguous().numpy().data)  # the pixels' buffer, not a copy
    return {"data_images": len(splits.train) + len(splits.val), "data_fingerprint": int(digest.hexdigest()[:12], 16)}


def warn_if_data_changed(records: list[dict[str, Any]], data: dict[str, int], run_dir: Path) -> None:
    """One warning when a resumed stage's images are not those its last epoch record was trained on (files
    added, removed or replaced): its held-out split changed, so validation before and after differ."""
    before = next((r for r in reversed(records) if "data_fingerprint" in r), None)
    if before is None or not data or before["data_fingerprint"] == data["data_fingerprint"]:
        return
    log.warning(
        "%s: its data changed since epoch %d (%d images, %s before), so its held-out split is another one and "
        "validation before and after differ; resume with the images it trained on to compare them",
        run_dir,
        before["epoch"],
        data["data_images"],
        before.get("data_images", "?"),
    )


class Checkpoints:
    """checkpoint.pt on the stage's cadence (`every` epochs and the last) and best.pt when FID improved.

    Only the main process writes; `check` (Divergence.check_weights) sees each checkpoint before it
    replaces anything on disk.
    """

    def __init__(
        self,
        folder: RunFolder,
        snapshot: Callable[[Any, LoopState], Checkpoint],  # (the stage's run config, loop) -> its checkpoint
        *,
        every: int,
        check: Callable[[Checkpoint], None],
    ) -> None:
        self.folder, self.snapshot, self.every, self.check = folder, snapshot, every, check

    def due(self, epoch: int, last: int) -> bool:
        return epoch % self.every == 0 or epoch == last

    def save(self, config: Any, loop: LoopState, *, best: bool = False, config_changed: bool = False) -> None:
        """The checkpoint of `loop` (best.pt with `best`); config.json rewritten when the config changed."""
        if not self.folder.writes:
            return
        checkpoint = self.snapshot(config, loop)
        self.check(checkpoint)
        save_checkpoint(checkpoint, self.folder.best if best else self.folder.checkpoint)
        if config_changed and not best:  # config.json says what the checkpoint holds
            self.folder.write_config(config)
