"""Checkpoints: tensors and plain Python values only, written atomically, loaded with weights_only=True.

A checkpoint is a dict with `format_version`, `stage` ("vae" or "gan"), the run's full `config` as a
plain dict, state dicts, counters and RNG states. torch.load(weights_only=True) refuses anything else,
so loading a checkpoint from someone else never runs their code.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from vaegan.errors import VaeganError

FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"  # the last one: what --resume continues
BEST_NAME = "best.pt"  # the one with the lowest FID so far, when quality is measured during training


def save_checkpoint(payload: dict[str, Any], path: Path) -> None:
    """Write `payload` to `path` atomically: a temporary file in the same folder, fsync, then rename.

    A crash or Ctrl-C at any moment leaves either the old checkpoint or the new one, never half of one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint gets a normal file's mode
        with os.fdopen(fd, "wb") as f:
            torch.save({"format_version": FORMAT_VERSION, **payload}, f)
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


def resolve_checkpoint(path_or_run: str | Path, name: str = CHECKPOINT_NAME) -> Path:
    """A checkpoint file, or a run folder holding one (the pipeline's run folder holds gan/ then vae/)."""
    path = Path(path_or_run)
    if path.is_file():
        return path
    for candidate in (path / name, path / "gan" / name, path / "vae" / name):
        if candidate.is_file():
            return candidate
    raise VaeganError(f"no checkpoint at {path}; pass a run folder written by 'vaegan train-vae' or a .pt file")


def load_checkpoint(path_or_run: str | Path) -> dict[str, Any]:
    """Load a checkpoint on the CPU without unpickling code; errors name the file and the fix."""
    path = resolve_checkpoint(path_or_run)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or foreign files
        raise VaeganError(
            f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}; "
            "it is corrupt or not a vaegan checkpoint, so retrain or pick another file"
        ) from exc
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise VaeganError(f"{path} is not a vaegan checkpoint (no format_version)")
    if payload["format_version"] > FORMAT_VERSION:
        raise VaeganError(
            f"{path} has checkpoint format {payload['format_version']}, newer than this vaegan "
            f"understands ({FORMAT_VERSION}); upgrade vaegan"
        )
    payload["path"] = str(path.resolve())  # absolute: a GAN checkpoint records its VAE's path
    return payload


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
