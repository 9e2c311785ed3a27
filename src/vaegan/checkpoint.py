"""Checkpoints: one typed schema per stage, tensors and plain values only, written atomically.

A file holds `format_version`, `stage` ("vae" or "gan") and the fields of VAECheckpoint or GANCheckpoint
below, with every config as a plain dict. torch.load(weights_only=True) refuses anything else, so loading
a checkpoint from someone else never runs their code. `save_checkpoint` is the one writer and
`load_checkpoint` the one reader; older files are upgraded on read: format 1 (vaegan 0.1) had flat loop
fields, format 3's resize decoders held nn.Sequential(Upsample, Conv2d) where ResizeConv now holds the conv's
tensors, and a config field an older format lacks gets the value that format trained with (OLD_DEFAULTS).
A setting removed since (REMOVED) is dropped where it held the value that remains; else the file is refused.
Since format 7 a file carries the SHA-256 of everything it holds (`checksum`): a byte changed on disk fails
its load by name, as do non-finite weights, in files of any format.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from vaegan.config import GANRunConfig, VAERunConfig, from_dict, to_dict
from vaegan.errors import VaeganError
from vaegan.models.gan import build_discriminator
from vaegan.models.vae import VAE, Decoder

FORMAT_VERSION = 10
CHECKSUMMED = 7  # the first format whose files carry `checksum` (older ones load without)
CHECKPOINT_NAME = "checkpoint.pt"  # the last one: what --resume continues
BEST_NAME = "best.pt"  # the one with the lowest FID so far, when quality is measured during training
TMP_SUFFIX = ".tmp"  # write_atomically's temporary files: .checkpoint.pt.XXXX.tmp

StateDict = dict[str, torch.Tensor]
MAX_LOOP_COUNT = 10**12  # epochs, batches or steps no run reaches (config.MAX_STEPS)


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
    # the VAE it was warm-started from, relative to the GAN's folder (config.vae_checkpoint: its absolute path)
    vae_checkpoint: str
    vae_config: VAERunConfig  # rebuilds the generator (a Decoder) without the VAE file
    generator: StateDict
    discriminator: StateDict
    ema: StateDict  # the EMA of the generator's weights: what every sample is drawn with
    opt_g: dict[str, Any]
    opt_d: dict[str, Any]


Checkpoint = VAECheckpoint | GANCheckpoint
SCHEMAS: dict[str, type[VAECheckpoint] | type[GANCheckpoint]] = {"vae": VAECheckpoint, "gan": GANCheckpoint}


def to_payload(checkpoint: Checkpoint) -> dict[str, Any]:
    """The plain dict torch.save writes: configs and the loop state as nested dicts, sealed by `checksum`."""
    payload: dict[str, Any] = {"format_version": FORMAT_VERSION, "stage": checkpoint.STAGE}
    for f in fields(checkpoint):
        value = getattr(checkpoint, f.name)
        if isinstance(value, LoopState):
            value = {g.name: getattr(value, g.name) for g in fields(value)}  # shallow: no tensor copies
        elif is_dataclass(value):
            value = to_dict(value)
        payload[f.name] = value
    return seal(payload)


def checksum(payload: dict[str, Any]) -> str:
    """SHA-256 of everything a payload holds but its own checksum: each tensor's dtype, shape and bytes,
    every plain value's repr. A flipped byte anywhere in a file then fails its load by name."""
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().reshape(-1).contiguous()  # row-major bytes whatever the layout
            digest.update(f"tensor {flat.dtype} {tuple(value.shape)};".encode())
            digest.update(flat.view(torch.uint8).numpy().data)
        elif isinstance(value, dict):
            digest.update(f"dict {len(value)};".encode())
            for key, item in value.items():
                feed(key)
                feed(item)
        elif isinstance(value, list | tuple):
            digest.update(f"{type(value).__name__} {len(value)};".encode())
            for item in value:
                feed(item)
        else:
            digest.update(f"{type(value).__name__} {value!r};".encode())

    feed({k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


def seal(payload: dict[str, Any]) -> dict[str, Any]:
    payload["checksum"] = checksum(payload)
    return payload


def check_sealed(payload: dict[str, Any], path: Path) -> None:
    """A file of a checksummed format holds what was written: else one line naming it and the fix."""
    if payload["format_version"] < CHECKSUMMED:
        return
    stored = payload.get("checksum")
    if stored != checksum(payload):
        what = "has no checksum" if stored is None else "fails its checksum"
        raise VaeganError(
            f"{path} {what}: its bytes changed since vaegan wrote them (a disk or copy error, or an edit); "
            "use another copy, or retrain"
        )


def check_finite(checkpoint: Checkpoint, path: Path) -> None:
    """Network weights that are NaN or infinite decode nothing but noise: refused by every command."""
    for name, stored in weights(checkpoint).items():
        bad = next((k for k, v in stored.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())), None)
        if bad is not None:
            raise VaeganError(
                f"{path}: {name} holds non-finite weights (NaN or inf, first in {bad}); the run diverged or the "
                "file is damaged, and it is left untouched: resume from an earlier checkpoint or retrain"
            )


def from_payload(payload: dict[str, Any], path: Path) -> Checkpoint:
    """The typed checkpoint of a loaded dict; a missing field or a bad config is an error naming the file."""
    schema = SCHEMAS[payload["stage"]]
    missing = [f.name for f in fields(schema) if f.name not in payload]
    if missing:
        raise VaeganError(f"{path} is not a complete vaegan {payload['stage']} checkpoint: it lacks {missing}")
    values: dict[str, Any] = {f.name: payload[f.name] for f in fields(schema)}
    try:
        values["loop"] = LoopState(**values["loop"])
    except TypeError as exc:  # not a dict, or foreign keys
        raise VaeganError(f"{path} has a malformed loop state ({exc}); it is not a vaegan checkpoint") from exc
    bad = loop_problem(values["loop"])
    if bad:
        raise VaeganError(f"{path} has a malformed loop state ({bad}); it is not a vaegan checkpoint")
    config_class = VAERunConfig if schema is VAECheckpoint else GANRunConfig
    for key, cls in (("config", config_class), ("vae_config", VAERunConfig)):
        if key in values:
            if not isinstance(values[key], dict):
                raise VaeganError(f"{path} has no readable {key}; it is not a vaegan checkpoint")
            # every format since the first stores each section: one missing is damage, not a default
            lacking = [f.name for f in fields(cls) if f.name not in values[key]]
            if lacking:
                raise VaeganError(f"{path}: its {key} has no {lacking[0]} section; it is damaged or forged")
            try:
                values[key] = from_dict(cls, values[key])  # validated: limits on every size (config.MAX_*)
            except VaeganError as exc:
                raise VaeganError(f"{path} embeds an invalid {key}: {exc}") from exc
    return schema(**values)


def loop_problem(loop: LoopState) -> str:
    """What is wrong with a loaded loop state, or "": counts a loop can reach, sums and RNG states as saved."""
    counts = {"epoch": (loop.epoch, 1), "batch_in_epoch": (loop.batch_in_epoch, 0), "step": (loop.step, 0)}
    for name, (value, low) in counts.items():
        if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_LOOP_COUNT):
            return f"{name} {value!r}"
    sums = loop.sums
    if not (isinstance(sums, torch.Tensor) and sums.dim() == 1 and sums.is_floating_point() and len(sums) <= 64):
        return "sums"
    rng = loop.rng
    if not isinstance(rng, dict) or not all(
        isinstance(v, torch.Tensor) and v.dtype == torch.uint8 for v in rng.values()
    ):
        return "rng"
    if not (isinstance(loop.best_fid, float | int) and not math.isnan(loop.best_fid)):
        return "best_fid"
    return ""


WEIGHT_FIELDS = {"vae": ("model",), "gan": ("generator", "ema", "discriminator")}  # not the optimiser states


def weights(checkpoint: Checkpoint) -> dict[str, StateDict]:
    """The checkpoint's network weights by field name (not the optimiser states)."""
    return {name: getattr(checkpoint, name) for name in WEIGHT_FIELDS[checkpoint.STAGE]}


def expected_models(checkpoint: Checkpoint) -> dict[str, torch.nn.Module]:
    """Each stored state dict's field -> the module its config describes, built on the meta device:
    shapes without storage, so a forged config costs no memory."""
    with torch.device("meta"):
        if isinstance(checkpoint, VAECheckpoint):
            return {"model": VAE(checkpoint.config.model)}
        model = checkpoint.vae_config.model
        disc = build_discriminator(model, checkpoint.config.gan)
        return {"generator": Decoder(model), "ema": Decoder(model), "discriminator": disc}


def check_tensors(checkpoint: Checkpoint, path: Path) -> None:
    """Every stored weight has the key, shape and dtype the embedded config implies, before any model is
    built: another dtype would be cast on loading, and an int8 or bool one truncates every weight."""
    stored_weights = weights(checkpoint)
    for name, module in expected_models(checkpoint).items():
        stored = stored_weights[name]
        expected = module.state_dict()
        want = {k: tuple(v.shape) for k, v in expected.items()}
        if not isinstance(stored, dict) or not all(isinstance(v, torch.Tensor) for v in stored.values()):
            raise VaeganError(f"{path}: {name} is not a dict of tensors; it is not a vaegan checkpoint")
        got = {k: tuple(v.shape) for k, v in stored.items()}
        wrong = sorted(k for k in want.keys() | got.keys() if want.get(k) != got.get(k))
        if wrong:
            k = wrong[0]
            raise VaeganError(
                f"{path}: {name} does not match the model its config describes ({len(wrong)} tensors differ, "
                f"first {k}: stored {got.get(k, 'missing')}, expected {want.get(k, 'none')}); "
                "the file is corrupt or forged, so retrain or pick another file"
            )
        cast = next((k for k, v in sorted(stored.items()) if v.dtype != expected[k].dtype), None)
        if cast is not None:
            raise VaeganError(
                f"{path}: {name} tensor {cast} is {dtype_name(stored[cast].dtype)} where vaegan writes "
                f"{dtype_name(expected[cast].dtype)}; the file is corrupt or forged, so retrain or pick another file"
            )


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")  # torch.bfloat16 -> bfloat16


# A format-3 resize step: `<...>.upsample.<i>.0.1.weight` or `<...>.to_image.1.bias`, the Conv2d inside
# nn.Sequential(Upsample, Conv2d); ResizeConv holds the same tensors as `.weight` / `.bias`. A ConvTranspose
# decoder's keys never have the `.1.` there, so they pass unchanged.
OLD_RESIZE_CONV = re.compile(r"((?:^|\.)(?:upsample\.\d+\.0|to_image))\.1\.(?=(?:weight|bias)$)")


# Defaults that changed after a format: a config field missing from a file of that format or older predates
# the field, so the file trained with the value pinned here, whatever today's default is. setdefault only:
# a file that stored the field keeps what it stored.
OLD_DEFAULTS: dict[int, dict[str, dict[str, Any]]] = {
    2: {"model": {"upsample": "transpose"}},  # ConvTranspose decoders, before ModelConfig.upsample
    4: {"train": {"lr_warmup_steps": 0}},  # full learning rate from step one, before the warm-up
    5: {  # the dataclass defaults before they became `vaegan run`'s (CHANGELOG.md)
        "model": {"decoder_convs": 1, "prior_components": 10},
        "loss": {"kl_warmup_steps": 0, "msssim_weight": 0.0},
        "train": {"min_steps": 0},
        "gan": {
            "anchor": "none",
            "anchor_weight": 1.0,
            "latents": "normal",
            "r1_gamma": 0.0,
            "r1_every": 1,
            "min_steps": 0,
        },
    },
    7: {"gan": {"disc_kind": "conv"}},  # every D was the conv one before GANConfig.disc_kind
    8: {"model": {"prior": "mixture"}},  # every sampler was the mixture before ModelConfig.prior (flow_prior.py)
    9: {"gan": {"d_steps_until": 0}},  # d_steps for the whole stage, before d_steps_until's default of 1200
}


# Settings that lost their ablation and left vaegan after 0.1.0 (docs/results/levers/README.md, the round
# named). A file that stored one loads when its value trains what remains, and is refused by name otherwise.
# section -> field -> (the value that remains, or None when any value does; the row)
REMOVED: dict[str, dict[str, tuple[Any, str]]] = {
    "model": {"decoder_norm": ("none", "levers 22")},
    "gan": {
        "spectral_norm": (False, "levers 9"),
        "anchor_pool": (None, "levers 10"),  # read by the lowpass anchor alone
        "disc_head": ("linear", "levers 15"),
        "disc_init": ("scratch", "levers 19"),
        "top_k": (1.0, "levers 19"),
        "adaptive_weight": (False, "levers 21"),
        "adversarial_reconstructions": (False, "levers 32"),
        "disc_convs": (1, "levers 32"),
    },
}
# section -> field -> a value of a setting that remains, removed -> its row
REMOVED_CHOICES: dict[str, dict[str, dict[str, str]]] = {
    "gan": {
        "anchor": {
            "lowpass": "levers 10",
            "structure": "levers 24",
            "feature": "never measured; levers 2 chose the pixel anchor",
        },
        "disc_kind": {"selfsup": "its race: FID 111.8 against the conv D's 108.6"},
    },
}

# section -> field -> a value that no longer exists -> the one that trains the same model: `--compile auto`
# compiled where a run-time trial found it paid, and compiling changes the speed and rounding, never the model.
RENAMED_VALUES: dict[str, dict[str, dict[Any, Any]]] = {"train": {"compile": {"auto": "off"}}}


def removed_at_kept(section: str, name: str, value: Any) -> bool:
    """`name` left `section` (REMOVED), and `value` trains what remains: a record of it is no difference."""
    kept = REMOVED.get(section, {}).get(name)
    return kept is not None and (kept[0] is None or kept[0] == value)


def drop_removed(payload: dict[str, Any], path: Path) -> dict[str, Any]:
    """Every removed setting gone from the payload's configs, or one line naming the one that trained it."""
    configs = [payload[key] for key in ("config", "vae_config") if isinstance(payload.get(key), dict)]
    for config in configs:
        for section, stored in config.items():
            if not isinstance(stored, dict):
                continue
            for name, (_, row) in REMOVED.get(section, {}).items():
                if name in stored and not removed_at_kept(section, name, stored[name]):
                    refuse_removed(path, name, stored[name], row)
                stored.pop(name, None)
            for name, values in REMOVED_CHOICES.get(section, {}).items():
                if isinstance(stored.get(name), str) and stored[name] in values:
                    refuse_removed(path, name, stored[name], values[stored[name]])
            for name, renamed in RENAMED_VALUES.get(section, {}).items():
                if isinstance(stored.get(name), str) and stored[name] in renamed:
                    stored[name] = renamed[stored[name]]
    return payload


def refuse_removed(path: Path, name: str, value: Any, row: str) -> None:
    flag = "--" + name.replace("_", "-") + ("" if value is True else f" {value}")
    raise VaeganError(
        f"{path}: this run was trained with {flag}, removed after vaegan 0.1.0 ({row}); retrain it, "
        "or load it with the vaegan that trained it"
    )


def pin_old_defaults(payload: dict[str, Any], old: dict[str, dict[str, Any]]) -> None:
    """setdefault `old`'s section values in every config the payload embeds (a GAN file holds two)."""
    for key in ("config", "vae_config"):
        config = payload.get(key)
        for section, values in old.items():
            stored = config.get(section) if isinstance(config, dict) else None
            if isinstance(stored, dict):
                for name, value in values.items():
                    stored.setdefault(name, value)


def upgrade(payload: dict[str, Any]) -> dict[str, Any]:
    """An older payload in the current format, one version at a time."""
    for version in range(payload["format_version"], FORMAT_VERSION):
        if version == 1:  # the flat loop fields gathered under `loop`
            keys = ("epoch", "batch_in_epoch", "step", "sums", "rng", "best_fid")
            payload["loop"] = {k: payload.pop(k) for k in keys if k in payload}
        if version == 3:
            for key in ("model", "generator", "ema"):
                if isinstance(payload.get(key), dict):
                    payload[key] = {OLD_RESIZE_CONV.sub(r"\1.", k): v for k, v in payload[key].items()}
        pin_old_defaults(payload, OLD_DEFAULTS.get(version, {}))
    payload["format_version"] = FORMAT_VERSION
    return payload


def save_checkpoint(checkpoint: Checkpoint, path: Path) -> None:
    write_atomically(to_payload(checkpoint), path)


def write_atomically(payload: dict[str, Any], path: Path) -> None:
    """torch.save a dict of tensors and plain values: a temporary file in the same folder, fsync, rename.

    A crash or Ctrl-C at any moment leaves either the old file or the new one, never half of one.
    A full disk or a folder that cannot be written is an error naming the file; the old file stays.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from exc
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets a normal file's mode
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) or "PytorchStreamWriter failed" in str(exc):  # torch's wrap of ENOSPC
            kept = "the previous file is intact" if path.is_file() else "nothing was written"
            raise write_error(path, exc, kept) from exc
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def write_error(path: Path, exc: BaseException, kept: str = "") -> VaeganError:
    """One line for a file that could not be written: the path, the reason and the fix."""
    reason = getattr(exc, "strerror", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if path.is_dir():  # a folder where the file belongs: no disk space or --out would help
        return VaeganError(f"cannot write {path}: it is a folder, not a file vaegan wrote; move it away")
    return VaeganError(
        f"cannot write {path}: {reason}{'; ' + kept if kept else ''}; free some disk space or choose a writable --out"
    )


def remove_orphans(folder: Path) -> list[Path]:
    """Delete the temporary files of writes that a kill cut short (write_atomically's, never a real file)."""
    orphans = sorted(Path(folder).glob(f".*.pt.*{TMP_SUFFIX}"))
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file on the CPU without unpickling code; errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise VaeganError(f"no checkpoint at {path}; pass a run folder written by 'vaegan train-vae' or a .pt file")
    fix = "it is corrupt or not a vaegan checkpoint, so retrain or pick another file"
    return checkpoint_from_payload(read_tensors(path, "checkpoint", fix), path)


def checkpoint_from_payload(payload: Any, path: Path) -> Checkpoint:
    """The checks every checkpoint passes, whoever read its payload (torch.load above, or a Hub-style
    export's safetensors and JSON, pretrained.py): format, checksum, configs, every tensor's key, shape and
    dtype, finite weights."""
    check_format(payload, path)
    check_sealed(payload, path)
    checkpoint = declared_checkpoint(payload, path)
    check_finite(checkpoint, path)
    return checkpoint


def declared_checkpoint(payload: Any, path: Path) -> Checkpoint:
    """The checks that read no tensor's bytes (format, configs, keys, shapes, dtypes), so `payload` may hold
    meta tensors: those a safetensors header declares, checked before any is read."""
    check_format(payload, path)
    if payload.get("stage") not in SCHEMAS:
        raise VaeganError(f"{path} is not a vaegan checkpoint (stage {payload.get('stage')!r}, not vae or gan)")
    checkpoint = from_payload(drop_removed(upgrade(payload), path), path)
    check_tensors(checkpoint, path)
    return checkpoint


def check_format(payload: Any, path: Path) -> None:
    if not isinstance(payload, dict) or not isinstance(payload.get("format_version"), int):
        raise VaeganError(f"{path} is not a vaegan checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise VaeganError(
            f"{path} has checkpoint format {payload['format_version']}, newer than this vaegan "
            f"understands ({FORMAT_VERSION}); upgrade vaegan"
        )


PERMISSION = (errno.EACCES, errno.EPERM)


def read_tensors(path: Path, what: str, fix: str) -> Any:
    """torch.load(weights_only=True) of a file vaegan wrote (a checkpoint, prior.pt, a cache), any failure
    one line: torch's multi-line reason cut to its gist, never its advice to load with weights_only=False,
    the one thing that would run a forged file's code; a file the disk or its permissions keep from us is
    named as such, not as corrupt."""
    try:
        with warnings.catch_warnings():  # a pickle protocol above 2 is warned about in three lines, then refused
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        fix = "give yourself read permission (chmod u+r) or run as its owner" if exc.errno in PERMISSION else fix
        raise VaeganError(f"cannot read {what} {path}: {(exc.strerror or str(exc)).lower()}; {fix}") from exc
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        text = str(exc).strip()
        if "Unsupported global" in text:
            reason = "it holds objects other than tensors and plain values, which vaegan never loads"
        elif "weights_only" in text or "Unpickler" in text or not text or isinstance(exc, KeyError | EOFError):
            reason = f"it is not a file torch.save wrote ({type(exc).__name__})"
        else:
            reason = text.splitlines()[0].split(". ")[0]  # miniz's first sentence; its advice follows
        raise VaeganError(f"cannot read {what} {path}: {reason}; {fix}") from exc
    oversized = next(overdrawn_tensors(payload), None)
    if oversized is not None:
        raise VaeganError(f"cannot read {what} {path}: a tensor {oversized} than the file stores for it; {fix}")
    return payload


def overdrawn_tensors(value: Any, depth: int = 0) -> Iterator[str]:
    """Tensors that claim more elements than their storage holds (a zero or overlapping stride): copied,
    reshaped or checksummed they would allocate what a forged header declares, not what the file holds.
    Every tensor vaegan writes is dense, so none is refused that vaegan wrote."""
    if depth > 8:  # vaegan's payloads nest four deep; deeper is no file of ours
        yield "nested deeper"
    elif isinstance(value, torch.Tensor):
        need = value.numel() * value.element_size()
        have = value.untyped_storage().nbytes() - value.storage_offset() * value.element_size()
        zero_stride = any(s == 0 and n > 1 for s, n in zip(value.stride(), value.shape, strict=True))
        if need > have or zero_stride:
            yield f"of shape {tuple(value.shape)} declares {need:,} bytes, more"
    elif isinstance(value, dict):
        for item in value.values():
            yield from overdrawn_tensors(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from overdrawn_tensors(item, depth + 1)


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, torch.Tensor]:
    """The global torch RNG and the named generators, as tensors."""
    state = {f"gen/{k}": g.get_state() for k, g in generators.items()}
    state["torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def restore_rng_state(state: dict[str, torch.Tensor], generators: dict[str, torch.Generator]) -> None:
    """The global torch RNG and the named generators as `state` saved them; a damaged state is one line."""
    try:
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        for key, gen in generators.items():
            gen.set_state(state[f"gen/{key}"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VaeganError(
            f"the checkpoint's random-number state is damaged ({reason}); use another copy or retrain"
        ) from exc
