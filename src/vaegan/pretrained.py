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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
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
    declared_checkpoint,
    to_payload,
    weights,
)
from vaegan.data import EMOJI_SOURCES, IDX_SOURCES
from vaegan.errors import VaeganError, not_a_file

EXPORT_FORMAT = 1  # the folder's layout; each stage's entry carries its checkpoint format_version besides
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
RESUME_FIELDS = {"vae": ("optimizer",), "gan": ("opt_g", "opt_d")}  # what a resume needs and a user does not
MAX_CONFIG_BYTES = 1 << 20  # vaegan's config.json is a few kB
FIX = "export the run again, or download the folder again"


def is_export(path: Path) -> bool:
    """A folder holding an export's weights (and no checkpoint, which would make it a run folder); weights
    that are no file (a folder, a device) are refused by read_export, by name."""
    return path.is_dir() and (path / WEIGHTS_NAME).exists() and not (path / CHECKPOINT_NAME).exists()


def safetensors_torch() -> Any:
    try:
        import safetensors.torch
    except ImportError as exc:
        raise VaeganError("Hub-style weights need safetensors; install it with: pip install 'vaegan[hub]'") from exc
    return safetensors.torch


def read_export(folder: Path) -> dict[str, Checkpoint]:
    """Every stage of an export folder, in training order, each checked as a checkpoint file is: first
    what model.safetensors' header declares (each tensor's shape and dtype against the model its config
    builds), then the tensors, read only once their sizes are known to be the model's."""
    config = read_config(folder)
    path = folder / WEIGHTS_NAME
    if not path.is_file():
        raise VaeganError(f"{path} {not_a_file(path, 'a safetensors file')}; {FIX}")
    names = [s for s in SCHEMAS if s in config["stages"]]  # training order
    with open_weights(path) as weights_file:
        declared = {key: declared_tensor(weights_file, key, path) for key in weights_file.keys()}
        prefixes = tuple(f"{name}.{field}." for name in names for field in WEIGHT_FIELDS[name])
        unclaimed = sorted(k for k in declared if not k.startswith(prefixes))
        if unclaimed:
            raise VaeganError(f"{path} holds tensors no stage of its {CONFIG_NAME} names (first {unclaimed[0]}); {FIX}")
        for name in names:
            declared_checkpoint(stage_payload(config["stages"][name], declared, name, folder), folder)
        tensors = {key: weights_file.get_tensor(key) for key in declared}
    return {
        name: checkpoint_from_payload(stage_payload(config["stages"][name], tensors, name, folder), folder)
        for name in names
    }


@contextmanager
def open_weights(path: Path) -> Iterator[Any]:
    """safetensors' reader of `path`, which parses its header and reads no tensor until asked."""
    safe_open = safetensors_torch().safe_open
    try:
        with safe_open(str(path), framework="pt") as weights_file:
            yield weights_file
    except VaeganError:
        raise
    except Exception as exc:  # safetensors raises its own error type, or OSError, for a damaged file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VaeganError(f"cannot read {path}: {reason}; it is damaged or not a safetensors file, so {FIX}") from exc


# safetensors' dtype names -> torch's; a name missing here is no dtype any vaegan export holds
DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def declared_tensor(weights_file: Any, key: str, path: Path) -> torch.Tensor:
    """A meta tensor of the shape and dtype the header declares for `key`: no byte of it read or allocated."""
    declared = weights_file.get_slice(key)
    dtype = DTYPES.get(declared.get_dtype())
    if dtype is None:
        raise VaeganError(f"{path}: tensor {key} is of dtype {declared.get_dtype()}, which vaegan never writes; {FIX}")
    return torch.empty(declared.get_shape(), dtype=dtype, device="meta")


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of an export, its layout checked against what write_export writes: anything else is
    refused by name, never ignored."""
    path = folder / CONFIG_NAME
    if not path.is_file():
        if path.exists():
            raise VaeganError(f"{path} {not_a_file(path, 'a JSON file')}; {FIX}")
        raise VaeganError(f"{folder} has {WEIGHTS_NAME} but no {CONFIG_NAME}, so it is no vaegan export; {FIX}")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise VaeganError(f"{path} is larger than any config vaegan writes; {FIX}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except RecursionError as exc:  # json's decoder recurses once per level: a forged nesting ends the stack
        raise VaeganError(f"{path} nests deeper than any config vaegan writes; {FIX}") from exc
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
    entries = {n: e for n, e in stages.items() if isinstance(e, dict)}
    unknown = [str(k) for k in config if k not in TOP_KEYS]
    unknown += [f"stages.{n}.{k}" for n, e in entries.items() for k in e if k not in ENTRY_KEYS[n]]
    loops = {n: e["loop"] for n, e in entries.items() if isinstance(e.get("loop"), dict)}
    unknown += [f"stages.{n}.loop.{k}" for n, loop in loops.items() for k in loop if k not in ("epoch", "step")]
    if unknown:
        raise VaeganError(f"{path} holds {unknown[0]}, which no vaegan export writes; {FIX}")
    if "gan" in stages:
        check_vae_link(stages["gan"], path)
    if "card" in config and not facts_ok(config["card"]):
        raise VaeganError(f"{path}: its card holds keys or values no vaegan export writes; {FIX}")
    return config


TOP_KEYS = ("vaegan_export", "stages", "card")
# a stage's entry: its checkpoint's fields less the tensors and the resume state (shared() below)
ENTRY_KEYS = {
    name: {"format_version", "stage", "checksum"}
    | {f.name for f in fields(schema)} - {*WEIGHT_FIELDS[name], *RESUME_FIELDS[name]}
    for name, schema in SCHEMAS.items()
}


# The model card's facts as config.json keeps them (card.card_facts gathers them): key -> the types its value
# may have. LATER keys arrived after the first exports, whose cards lack them.
FACTS = {"data": dict, "stages": dict, "fid": list, "copies": list}
DATA_FACTS = {
    "source": str,
    "train_images": int | None,
    "held_out_images": int | None,
    "image_size": int,
    "channels": int,
    "licence": str,
}
STAGE_FACTS = {"epochs": int | None, "steps": int, "seconds": float | int | None, "device": str | None}
LATER = {"copies", "licence"}


def facts_ok(facts: Any) -> bool:
    """`facts` have the form card_facts gives, every value of its type: what the card renders, and no more."""
    return (
        fits(facts, FACTS)
        and fits(facts["data"], DATA_FACTS)
        and set(facts["stages"]) <= set(SCHEMAS)
        and all(fits(stage, STAGE_FACTS) for stage in facts["stages"].values())
        and all(isinstance(line, str) for key in ("fid", "copies") for line in facts.get(key, []))
    )


def fits(values: Any, types: dict[str, Any]) -> bool:
    """A dict with every key of `types` (those in LATER may be missing), no other, each of its type."""
    if not isinstance(values, dict) or not set(types) - LATER <= set(values) <= set(types):
        return False
    return all(isinstance(v, types[k]) and not isinstance(v, bool) for k, v in values.items())


def check_vae_link(entry: Any, path: Path) -> None:
    """An export's GAN takes its VAE from the same model.safetensors (shared()); its config's link names
    a checkpoint file (older exports kept the absolute path it trained from). Any other path is forged."""
    config = entry.get("config") if isinstance(entry, dict) else None
    links = {"stages.gan.vae_checkpoint": entry.get("vae_checkpoint") if isinstance(entry, dict) else None}
    if isinstance(config, dict):
        links["stages.gan.config.vae_checkpoint"] = config.get("vae_checkpoint")
    for where, link in links.items():
        named = where.endswith("config.vae_checkpoint") and isinstance(link, str) and names_checkpoint(Path(link))
        if link != WEIGHTS_NAME and not named:
            raise VaeganError(f"{path}: {where} is {link!r}, where an export names its own {WEIGHTS_NAME}; {FIX}")


def names_checkpoint(path: Path) -> bool:
    """A GAN's stored link to its VAE names a checkpoint file (.pt) or an export's weights, never another file."""
    return path.suffix == ".pt" or path.name == WEIGHTS_NAME


def stage_payload(entry: Any, tensors: dict[str, torch.Tensor], name: str, folder: Path) -> dict[str, Any]:
    """One stage's entry and tensors as the payload a checkpoint file would hold, for its checks."""
    version = entry.get("format_version") if isinstance(entry, dict) else None
    if not (isinstance(version, int) and version >= CHECKSUMMED and entry.get("stage") == name):
        raise VaeganError(f"{folder / CONFIG_NAME}: its {name} entry is not a vaegan stage; {FIX}")
    entry = canonical(entry)
    stored = entry.pop("checksum", None)
    payload = assemble(entry, tensors, name)
    payload["checksum"] = stored
    return payload


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
    entry = canonical(entry)
    for key in ("config", "vae_config"):
        if "data" in entry.get(key, {}):  # a GAN's config has none; its vae_config has
            entry[key]["data"] = shared_data(entry[key]["data"])
    if name == "gan":
        entry["vae_checkpoint"] = entry["config"]["vae_checkpoint"] = WEIGHTS_NAME  # its VAE is in the same file
    tensors = {
        f"{name}.{field}.{key}": t.detach().cpu().clone(memory_format=torch.contiguous_format)
        for field, state in weights(checkpoint).items()
        for key, t in state.items()
    }
    entry["checksum"] = checksum(assemble(entry, tensors, name))
    return entry, tensors


def shared_data(data: dict[str, Any]) -> dict[str, Any]:
    """A data config as an export shares it: a folder by its name alone (runs.locate_paths finds it beside
    the export), no cache or dataset location of this machine."""
    source = data["source"]
    named = source in IDX_SOURCES + EMOJI_SOURCES
    return {**data, "source": source if named else Path(source).name, "root": None, "cache_dir": None}


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
