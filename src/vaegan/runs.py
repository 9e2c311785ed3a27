"""The one reader of a run folder: which stages it holds, their configs, metrics and trained models.

A run is any of:
    a pipeline folder (`vaegan run`)    RUN/vae/ and RUN/gan/, each a stage folder
    a stage folder (`train-vae/-gan`)   config.json, metrics.jsonl, grids/, checkpoint.pt (and best.pt)
    a checkpoint file                   that checkpoint, in the stage folder around it
    an export (`export --format hub`)   model.safetensors and config.json: every stage (hub.py)
A GAN stage names the VAE it was warm-started from; `open_run` follows that link, so a lone GAN run has
both stages. Every consumer (pictures, report, explorer, evaluation, export, pipeline) reads runs here.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from vaegan.checkpoint import CHECKPOINT_NAME, Checkpoint, GANCheckpoint, VAECheckpoint, load_checkpoint
from vaegan.config import VAERunConfig
from vaegan.data import EMOJI_SOURCES, IDX_SOURCES
from vaegan.errors import VaeganError
from vaegan.metrics.collapse import gan_collapse, vae_collapse
from vaegan.models.gan import AnyDiscriminator, build_discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.pretrained import WEIGHTS_NAME, is_export, names_checkpoint, read_export

log = logging.getLogger(__name__)

STAGES = ("vae", "gan")  # training order


def read_metrics(folder: Path) -> list[dict[str, Any]]:
    """metrics.jsonl: one JSON object per line (an epoch, or an evaluation); [] when there is none yet.

    Read tolerantly, as a log a user may have edited or a disk may have cut: a line that is not a JSON object
    of vaegan's value types is skipped, a non-finite number (NaN, Infinity) dropped from its line, and both
    named in one warning per content of the file (it is parsed once per content: report and curves read it
    many times)."""
    path = Path(folder) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [dict(record) for record in parsed_metrics(path, path.read_bytes())]


@functools.lru_cache(maxsize=16)
def parsed_metrics(path: Path, content: bytes) -> tuple[dict[str, Any], ...]:
    """The records of metrics.jsonl holding `content` (keyed by the bytes: a rewrite within the file
    system's clock tick keeps its mtime); its damage warned about once."""
    records, skipped, dropped = [], [], dict[str, int]()
    for number, line in enumerate(content.decode("utf-8", errors="replace").splitlines(), 1):
        record = parse_record(line, dropped) if line.strip() else {}
        if record is None:
            skipped.append(number)
        elif record:
            records.append(record)
    if skipped and not records:
        raise VaeganError(f"{path} is not valid JSON lines ({len(skipped)} damaged); it was edited or cut short")
    if skipped:
        log.warning("%s: skipped %d damaged line(s), first line %d; the rest is read", path, len(skipped), skipped[0])
    if dropped:
        keys = ", ".join(f"{key} ({count})" for key, count in dropped.items())
        log.warning("%s: non-finite values (NaN or Infinity) left out of its records and curves: %s", path, keys)
    return tuple(records)


TEXT_KEYS = {"stage", "event", "sampler", "space", "source", "command", "device"}  # the values that may be strings


def parse_record(line: str, dropped: dict[str, int] | None = None) -> dict[str, Any] | None:
    """One metrics line as a dict, its non-finite numbers left out (counted by key in `dropped`); None when
    it is no record vaegan writes."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: a line nested past the stack
        return None
    if not isinstance(record, dict) or "\ufffd" in line:
        return None
    kept: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            if dropped is not None:
                dropped[key] = dropped.get(key, 0) + 1
            continue
        if isinstance(value, str) and key not in TEXT_KEYS:
            return None
        kept[key] = value
    counts = [kept.get(k) for k in ("epoch", "step") if k in kept]
    return kept if all(isinstance(c, int) and not isinstance(c, bool) for c in counts) else None


@dataclass
class Stage:
    """One trained stage: its folder and checkpoint file, read once on first use."""

    name: str  # "vae" or "gan"
    folder: Path
    checkpoint_path: Path

    @cached_property
    def checkpoint(self) -> Checkpoint:
        loaded = load_checkpoint(self.checkpoint_path)
        if loaded.STAGE != self.name:
            raise VaeganError(f"{self.checkpoint_path} is a {loaded.STAGE} checkpoint where a {self.name} one belongs")
        return locate_paths(loaded, self.folder)

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The stage's epoch records (not events such as a resume that changed settings)."""
        return [r for r in read_metrics(self.folder) if r.get("stage", self.name) == self.name and "epoch" in r]


@dataclass
class Run:
    path: Path  # what the user named
    stages: dict[str, Stage]  # in training order; at least one
    lost_vae: str = ""  # a GAN run's VAE that is not where the GAN says: the paths looked at

    @property
    def last(self) -> str:
        return list(self.stages)[-1]

    @property
    def config(self) -> VAERunConfig:
        """The VAE stage's config: data, model shape and value range of every stage of the run."""
        ck = self.stages[self.last].checkpoint
        return ck.vae_config if isinstance(ck, GANCheckpoint) else ck.config

    def stage(self, name: str | None) -> Stage:
        """`name` (or the last stage for None), with an error that says which stages there are."""
        if name is None:
            return self.stages[self.last]
        if name not in STAGES:
            raise VaeganError(f"unknown stage {name!r}; use vae or gan")
        if name == "vae" and self.lost_vae:
            raise VaeganError(
                f"{self.path} is a GAN trained from a VAE that is gone (looked for {self.lost_vae}); move that VAE "
                "run back, or move a GAN run together with its VAE (a pipeline run's vae/ beside its gan/)"
            )
        if name not in self.stages:
            fix = "train a GAN from it with 'vaegan train-gan'" if name == "gan" else "its VAE file is missing"
            raise VaeganError(f"{self.path} has no {name} stage ({fix}); use --stage {self.last}")
        return self.stages[name]

    def vae(self) -> VAE:
        """The trained VAE in eval mode on the CPU."""
        ck = self.stage("vae").checkpoint
        assert isinstance(ck, VAECheckpoint)
        return _loaded(VAE(ck.config.model), ck.model, self.stages["vae"].checkpoint_path)

    def generator(self, ema: bool = True) -> Decoder:
        """The GAN's generator (its EMA weights by default) in eval mode on the CPU."""
        ck = self.stage("gan").checkpoint
        assert isinstance(ck, GANCheckpoint)
        weights = ck.ema if ema else ck.generator
        return _loaded(Decoder(ck.vae_config.model), weights, self.stages["gan"].checkpoint_path)

    def discriminator(self) -> AnyDiscriminator:
        """The GAN's discriminator as trained, in eval mode on the CPU (it ranks samples:
        benchmarks/levers.py's most_real)."""
        ck = self.stage("gan").checkpoint
        assert isinstance(ck, GANCheckpoint)
        disc = build_discriminator(ck.vae_config.model, ck.config.gan)
        return _loaded(disc, ck.discriminator, self.stages["gan"].checkpoint_path)


def _loaded(model: Any, weights: dict[str, Any], path: Path) -> Any:
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())  # torch's message spans lines; the CLI shows one
        raise VaeganError(f"{path} does not match the model its config describes: {detail}") from exc
    return model.eval()


def open_run(path: str | Path | Run) -> Run:
    """The stages behind a pipeline folder, a stage folder, a checkpoint file or an export (a Run: itself)."""
    if isinstance(path, Run):
        return path
    path = Path(path)
    if path.is_dir() and (path / "vae").is_dir():
        stages = {s: Stage(s, path / s, path / s / CHECKPOINT_NAME) for s in STAGES}
        found = {s: st for s, st in stages.items() if st.checkpoint_path.is_file()}
        if "vae" not in found:
            raise VaeganError(f"{path / 'vae'} has no checkpoint yet; train with 'vaegan run' first")
        return Run(path, found)
    if is_export(path) or (path.name == WEIGHTS_NAME and is_export(path.parent)):
        return open_export(path if path.is_dir() else path.parent)
    file = path if path.is_file() else path / CHECKPOINT_NAME
    if not file.is_file():
        raise VaeganError(
            f"no checkpoint at {path}; pass a run folder written by 'vaegan train-vae', a .pt file, or a folder "
            "written by 'vaegan export --format hub'"
        )
    loaded = locate_paths(load_checkpoint(file), file.parent)
    own = Stage(loaded.STAGE, file.parent, file)
    own.__dict__["checkpoint"] = loaded  # fills the cached_property: each file is read once
    if own.name == "vae":
        return Run(path, {"vae": own})
    assert isinstance(loaded, GANCheckpoint)
    vae_file = find_vae(loaded, file.parent)
    if vae_file is None:
        return Run(path, {"gan": own}, lost_vae=" and ".join(map(str, vae_candidates(loaded, file.parent))))
    if is_export(vae_file.parent):  # a GAN trained from a downloaded VAE
        return Run(path, {"vae": open_export(vae_file.parent).stage("vae"), "gan": own})
    return Run(path, {"vae": Stage("vae", vae_file.parent, vae_file), "gan": own})


def open_export(folder: Path) -> Run:
    """The stages of a Hub-style export (pretrained.py), every one in the export's folder: prior.py finds
    the fitted prior there as beside a VAE checkpoint."""
    stages = {}
    for name, checkpoint in read_export(folder).items():
        stages[name] = Stage(name, folder, folder / WEIGHTS_NAME)
        stages[name].__dict__["checkpoint"] = locate_paths(checkpoint, folder)  # fills the cached_property
    return Run(folder, stages)


def beside(value: str, folder: Path) -> list[Path]:
    """Where a stored path may be: itself when absolute; else (as older vaegans stored what was typed) in
    the run folder, then each folder above it, then the current folder."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return [path]
    folder = Path(os.path.abspath(folder))
    return [Path(os.path.normpath(base / path)) for base in (folder, *folder.parents, Path.cwd())]


def located(value: str, folder: Path) -> Path | None:
    return next((p for p in beside(value, folder) if p.exists()), None)


def vae_candidates(gan: GANCheckpoint, folder: Path) -> list[Path]:
    """The GAN's link to its VAE relative to the GAN's folder (it survives moving both), then the VAE's
    absolute path when trained (it survives moving the GAN alone); older runs stored either as typed."""
    first = beside(gan.vae_checkpoint, folder)
    return [first[0], *beside(gan.config.vae_checkpoint, folder)[:1], *first[1:]]


def find_vae(gan: GANCheckpoint, folder: Path) -> Path | None:
    """The VAE checkpoint file a GAN stage in `folder` was warm-started from, or None when it is gone."""
    for candidate in vae_candidates(gan, folder):
        file = candidate / CHECKPOINT_NAME if candidate.is_dir() else candidate
        if file.is_file() and not names_checkpoint(file):
            raise VaeganError(
                f"the GAN checkpoint in {folder} names its VAE at {file}, which is no checkpoint file (.pt) or "
                f"export ({WEIGHTS_NAME}); it is damaged or forged: use another copy or retrain"
            )
        if file.is_file():
            return file
    return None


def locate_paths(checkpoint: Checkpoint, folder: Path) -> Checkpoint:
    """`checkpoint` (changed in place) with the relative data paths an older vaegan stored found again
    (`located`), so its run works from any folder; today's runs store them absolute."""
    config = checkpoint.config if isinstance(checkpoint, VAECheckpoint) else checkpoint.vae_config
    data, found = config.data, dict[str, Any]()
    paths = {"source": data.source} if data.source not in IDX_SOURCES + EMOJI_SOURCES else {}
    paths |= {key: getattr(data, key) for key in ("root", "cache_dir") if getattr(data, key) is not None}
    for key, value in paths.items():
        if not Path(value).expanduser().is_absolute() and (where := located(value, folder)):
            found[key] = str(where)
    if found:
        config = replace(config, data=replace(data, **found))
        if isinstance(checkpoint, VAECheckpoint):
            checkpoint.config = config
        else:
            checkpoint.vae_config = config
    return checkpoint


def load_vae(path: str | Path) -> tuple[VAE, VAERunConfig]:
    """The VAE of a run (a GAN run's is the VAE it started from), in eval mode on the CPU."""
    run = open_run(path)
    return run.vae(), run.config


def load_generator(path: str | Path, ema: bool = True) -> tuple[Decoder, VAERunConfig]:
    """The GAN generator of a run (EMA weights by default), in eval mode on the CPU."""
    run = open_run(path)
    return run.generator(ema), run.config


def collapse_lines(run: Run) -> dict[str, str]:
    """Stage -> its line, for the stages of `run` that learnt nothing (VAE first), from their last epochs."""
    last = {name: stage.metrics[-1] for name, stage in run.stages.items() if stage.metrics}
    vae = vae_collapse(last["vae"], run.config.model.latent_dim) if "vae" in last else None
    gan = gan_collapse(last["gan"], vae is not None) if "gan" in last else None
    return {stage: line for stage, line in (("vae", vae), ("gan", gan)) if line is not None}
