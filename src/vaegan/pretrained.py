"""The Hub-style folder's format: checkpoints as safetensors and JSON, read without unpickling anything.

    DIR/model.safetensors   every stage's networks: vae.model.*, gan.generator.*, gan.ema.*, gan.discriminator.*
    DIR/config.json         each stage's checkpoint less its tensors and resume state (the configs as
                            checkpoints embed them, the step, a checksum over it all), and the card's facts
    DIR/prior.pt            the fitted prior, as prior.py writes it beside a VAE checkpoint and reads it
    DIR/samples.png, DIR/README.md   the model card (card.py)

Each stage read back passes every check a checkpoint file passes (checkpoint_from_payload: checksum,
configs, each tensor's shape against the model the config builds on the meta device, finite weights)
before any model is built. runs.open_run opens such a folder as a run; hub.py writes one. safetensors is
the optional extra `vaegan[hub]`, imported only when a folder is read or written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import (
    CHECKPOINT_NAME,
    CHECKSUMMED,
    SCHEMAS,
    WEIGHT_FIELDS,
    Checkpoint,
    checkpoint_from_payload,
    checksum,
    to_payload,
    weights,
)
from vaegan.errors import VaeganError

EXPORT_FORMAT = 1  # the folder's layout; each stage's entry carries its checkpoint format_version besides
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
RESUME_FIELDS = {"vae": ("optimizer",), "gan": ("opt_g", "opt_d")}  # what a resume needs and a user does not
MAX_CONFIG_BYTES = 1 << 20  # vaegan's config.json is a few kB
FIX = "export the run again, or download the folder again"


def is_export(path: Path) -> bool:
    """A folder holding an export's weights (and no checkpoint, which would make it a run folder)."""
    return path.is_dir() and (path / WEIGHTS_NAME).is_file() and not (path / CHECKPOINT_NAME).exists()


def safetensors_torch() -> Any:
    try:
        import safetensors.torch
    except ImportError as exc:
        raise VaeganError("Hub-style weights need safetensors; install it with: pip install 'vaegan[hub]'") from exc
    return safetensors.torch


def read_export(folder: Path) -> dict[str, Checkpoint]:
    """Every stage of an export folder, in training order, each checked as a checkpoint file is."""
    config = read_config(folder)
    path = folder / WEIGHTS_NAME
    try:
        tensors = safetensors_torch().load_file(path)
    except VaeganError:
        raise
    except Exception as exc:  # safetensors raises its own error type, or OSError, for a damaged file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VaeganError(f"cannot read {path}: {reason}; it is damaged or not a safetensors file, so {FIX}") from exc
    names = [s for s in SCHEMAS if s in config["stages"]]  # training order
    unclaimed = sorted(k for k in tensors if k.split(".", 1)[0] not in names)
    if unclaimed:
        raise VaeganError(f"{path} holds tensors no stage of its {CONFIG_NAME} names (first {unclaimed[0]}); {FIX}")
    return {name: stage_checkpoint(config["stages"][name], tensors, name, folder) for name in names}


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of an export, its layout checked; each stage's entry is checked as it is read."""
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise VaeganError(f"{folder} has {WEIGHTS_NAME} but no {CONFIG_NAME}, so it is no vaegan export; {FIX}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise VaeganError(f"{path} is larger than any config vaegan writes; {FIX}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise VaeganError(f"{path} is not valid JSON ({exc}); {FIX}") from exc
    version = config.get("vaegan_export") if isinstance(config, dict) else None
    if not isinstance(version, int) or not isinstance(config.get("stages"), dict):
        raise VaeganError(f"{path} is not the config of a vaegan export (no vaegan_export and stages); {FIX}")
    if version > EXPORT_FORMAT:
        raise VaeganError(
            f"{path} is export format {version}, newer than this vaegan reads ({EXPORT_FORMAT}); upgrade vaegan"
        )
    stages = config["stages"]
    if "vae" not in stages or not set(stages) <= set(SCHEMAS):
        raise VaeganError(f"{path} names stages {sorted(stages)}; an export holds vae and optionally gan; {FIX}")
    return config


def stage_checkpoint(entry: Any, tensors: dict[str, torch.Tensor], name: str, folder: Path) -> Checkpoint:
    """One stage's entry and tensors as the payload a checkpoint file would hold, passed through its checks."""
    version = entry.get("format_version") if isinstance(entry, dict) else None
    if not (isinstance(version, int) and version >= CHECKSUMMED and entry.get("stage") == name):
        raise VaeganError(f"{folder / CONFIG_NAME}: its {name} entry is not a vaegan stage; {FIX}")
    entry = canonical(entry)
    stored = entry.pop("checksum", None)
    payload = assemble(entry, tensors, name)
    payload["checksum"] = stored
    return checkpoint_from_payload(payload, folder)


def canonical(value: Any) -> Any:
    """As JSON reads it back, keys sorted: the same values, so the same checksum, on writing and reading."""
    return json.loads(json.dumps(value, sort_keys=True))


def assemble(entry: dict[str, Any], tensors: dict[str, torch.Tensor], name: str) -> dict[str, Any]:
    """A stage's checkpoint payload: its config.json entry, its tensors by field and empty resume state."""
    payload = dict(entry)
    for field in WEIGHT_FIELDS[name]:
        prefix = f"{name}.{field}."
        payload[field] = {k[len(prefix) :]: t for k, t in sorted(tensors.items()) if k.startswith(prefix)}
    payload.update({field: {} for field in RESUME_FIELDS[name]})
    return payload


def shared(checkpoint: Checkpoint) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(config.json's entry, the tensors) of one stage: no optimiser or RNG state, sealed by a checksum."""
    name = checkpoint.STAGE
    left_out = {*WEIGHT_FIELDS[name], *RESUME_FIELDS[name], "checksum"}
    entry = {k: v for k, v in to_payload(checkpoint).items() if k not in left_out}
    entry["loop"] = {"epoch": checkpoint.loop.epoch, "step": checkpoint.loop.step}  # the prior is keyed by step
    if name == "gan":
        entry["vae_checkpoint"] = WEIGHTS_NAME  # its VAE is in the same file
    entry = canonical(entry)
    tensors = {
        f"{name}.{field}.{key}": t.detach().cpu().clone(memory_format=torch.contiguous_format)
        for field, state in weights(checkpoint).items()
        for key, t in state.items()
    }
    entry["checksum"] = checksum(assemble(entry, tensors, name))
    return entry, tensors


def write_export(folder: Path, checkpoints: list[Checkpoint], card: dict[str, Any]) -> None:
    """model.safetensors and config.json of `checkpoints` (a VAE's, then maybe its GAN's) in `folder`."""
    entries: dict[str, Any] = {}
    tensors: dict[str, torch.Tensor] = {}
    for checkpoint in checkpoints:
        entries[checkpoint.STAGE], stage_tensors = shared(checkpoint)
        tensors |= stage_tensors
    # save() and a plain write, not save_file(), whose file is private (0600) where this one is shared
    (folder / WEIGHTS_NAME).write_bytes(safetensors_torch().save(tensors, metadata={"format": "pt"}))
    config = {"vaegan_export": EXPORT_FORMAT, "stages": entries, "card": card}
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
