"""Rebuild trained models from a run folder or checkpoint alone (the embedded config says how)."""

from __future__ import annotations

from pathlib import Path

from vaegan.checkpoint import load_checkpoint
from vaegan.config import VAERunConfig, from_dict
from vaegan.models.vae import VAE


def load_vae(path_or_run: str | Path) -> tuple[VAE, VAERunConfig]:
    """The VAE of a VAE checkpoint, or of the VAE stage behind a GAN checkpoint, in eval mode on the CPU."""
    payload = load_checkpoint(path_or_run)
    if payload["stage"] == "gan":
        payload = load_checkpoint(payload["vae_checkpoint"])
    config = from_dict(VAERunConfig, payload["config"])
    model = VAE(config.model)
    model.load_state_dict(payload["model"])
    return model.eval(), config
