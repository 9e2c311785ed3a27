"""Checkpoints: one typed schema per stage, tensors and plain values only, written atomically.

A file holds `format_version`, `stage` ("vae" or "gan") and the fields of VAECheckpoint or GANCheckpoint
below, with every config as a plain dict. torch.load(weights_only=True) refuses anything else, so loading
a checkpoint from someone else never runs their code. `save_checkpoint` is the one writer and
`load_checkpoint` the one reader; older files are upgraded on read: format 1 (vaegan 0.1) had flat loop
fields, and formats 1-2 predate the decoder's `upsample` choice, so their models are ConvTranspose ones.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from vaegan.config import GANRunConfig, VAERunConfig, from_dict, to_dict
from vaegan.errors import VaeganError

FORMAT_VERSION = 3
CHECKPOINT_NAME = "checkpoint.pt"  # the last one: what --resume continues
BEST_NAME = "best.pt"  # the one with the lowest FID so far, when quality is measured during training

StateDict = dict[str, torch.Tensor]


@dataclass
class LoopState:
    """Where a training loop stands, the same for both stages: enough to continue bit for bit."""

    epoch: int = 1  # the epoch in progress (epochs + 1 once training is done)
    batch_in_epoch: int = 0  # batches of `epoch` already trained
    step: int = 0  # optimiser steps so far
    sums: torch.Tensor = field(default_factory=lambda: torch.zeros(0))  # the epoch's running metric sums
    rng: dict[str, torch.Tensor] = field(default_factory=dict)  # torch's global RNG and the loop's noise
    best_fid: float = math.inf


@dataclass
class VAECheckpoint:
    STAGE: ClassVar[str] = "vae"
    config: VAERunConfig
    loop: LoopState
    model: StateDict
    optimizer: dict[str, Any]


@dataclass
class GANCheckpoint:
    STAGE: ClassVar[str] = "gan"
    config: GANRunConfig
    loop: LoopState
    vae_checkpoint: str  # absolute path of the VAE it was warm-started from
    vae_config: VAERunConfig  # rebuilds the generator (a Decoder) without the VAE file
    generator: StateDict
    discriminator: StateDict
    ema: StateDict  # the EMA of the generator's weights: what every sample is drawn with
    opt_g: dict[str, Any]
    opt_d: dict[str, Any]


Checkpoint = VAECheckpoint | GANCheckpoint
SCHEMAS: dict[str, type[VAECheckpoint] | type[GANCheckpoint]] = {"vae": VAECheckpoint, "gan": GANCheckpoint}


def to_payload(checkpoint: Checkpoint) -> dict[str, Any]:
    """The plain dict torch.save writes: configs and the loop state as nested dicts."""
    payload: dict[str, Any] = {"format_version": FORMAT_VERSION, "stage": checkpoint.STAGE}
    for f in fields(checkpoint):
        value = getattr(checkpoint, f.name)
        if isinstance(value, LoopState):
            value = {g.name: getattr(value, g.name) for g in fields(value)}  # shallow: no tensor copies
        elif is_dataclass(value):
            value = to_dict(value)
        payload[f.name] = value
    return payload


def from_payload(payload: dict[str, Any], path: Path) -> Checkpoint:
    """The typed checkpoint of a loaded dict; a missing field or a bad config is an error naming the file."""
    schema = SCHEMAS[payload["stage"]]
    missing = [f.name for f in fields(schema) if f.name not in payload]
    if missing:
        raise VaeganError(f"{path} is not a complete vaegan {payload['stage']} checkpoint: it lacks {missing}")
    values: dict[str, Any] = {f.name: payload[f.name] for f in fields(schema)}
    values["loop"] = LoopState(**values["loop"])
    config_class = VAERunConfig if schema is VAECheckpoint else GANRunConfig
    values["config"] = from_dict(config_class, values["config"])
    if "vae_config" in values:
        values["vae_config"] = from_dict(VAERunConfig, values["vae_config"])
    return schema(**values)


def upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """An older payload in the current format, one version at a time."""
    if payload["format_version"] == 1:  # the flat loop fields gathered under `loop`
        keys = ("epoch", "batch_in_epoch", "step", "sums", "rng", "best_fid")
        payload["loop"] = {k: payload.pop(k) for k in keys if k in payload}
        payload["format_version"] = 2
    if payload["format_version"] == 2:
        # Written before ModelConfig.upsample: pin what those decoders were, whatever today's default is.
        for key in ("config", "vae_config"):
            model = payload.get(key, {}).get("model")
            if isinstance(model, dict):
                model.setdefault("upsample", "transpose")
        payload["format_version"] = 3
    return payload


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    write_atomically(to_payload(checkpoint), path)


def write_atomically(payload: dict[str, Any], path: Path) -> None:
    """torch.save a dict of tensors and plain values: a temporary file in the same folder, fsync, rename.

    A crash or Ctrl-C at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets a normal file's mode
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file on the CPU without unpickling code; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise VaeganError(f"no checkpoint at {path}; pass a run folder written by 'vaegan train-vae' or a .pt file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VaeganError(
            f"cannot read checkpoint {path}: {reason}; it is corrupt or not a vaegan checkpoint, "
            "so retrain or pick another file"
        ) from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("format_version"), int):
        raise VaeganError(f"{path} is not a vaegan checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise VaeganError(
            f"{path} has checkpoint format {payload['format_version']}, newer than this vaegan "
            f"understands ({FORMAT_VERSION}); upgrade vaegan"
        )
    if payload.get("stage") not in SCHEMAS:
        raise VaeganError(f"{path} is not a vaegan checkpoint (stage {payload.get('stage')!r}, not vae or gan)")
    return from_payload(upgrade(payload), path)


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The global torch RNG and the named generators, as tensors."""
    state = {f"gen/{k}": g.get_state() for k, g in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    for key, gen in generators.items():
        gen.set_state(state[f"gen/{key}"])
