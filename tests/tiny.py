"""Tiny configs and tiny in-memory datasets, so the suite runs on 2 CPU cores in minutes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from vaegan.checkpoint import load_checkpoint, save_checkpoint
from vaegan.config import GANConfig, VAERunConfig, vae_run_config
from vaegan.data import DataSplits, ImageDataset


def tiny_config(recon: str = "mse_sum", kind: str = "vae", **train: object) -> VAERunConfig:
    return vae_run_config(
        data={"source": "tiny", "image_size": 16, "channels": 3},
        model={"latent_dim": 4, "base_channels": 4, "kind": kind},
        loss={"reconstruction": recon},
        train={
            "epochs": 2,
            "batch_size": 4,
            "grid_size": 8,
            "device": "cpu",
            "precision": "fp32",
            "quality_every": 0,
            "min_steps": 0,  # tiny runs train exactly the epochs a test asks for
            **train,
        },
    )


def tiny_splits(n: int = 24, size: int = 16, channels: int = 3, seed: int = 0) -> DataSplits:
    """Coloured squares on white at random places: real structure for a model to learn, made in microseconds."""
    g = torch.Generator().manual_seed(seed)
    images = torch.full((n, channels, size, size), 255, dtype=torch.uint8)
    labels = torch.randint(0, 3, (n,), generator=g)
    for i in range(n):
        top, left = torch.randint(0, size // 2, (2,), generator=g).tolist()
        colour = torch.randint(0, 200, (channels, 1, 1), generator=g).to(torch.uint8)
        images[i, :, top : top + size // 2, left : left + size // 2] = colour
    data = ImageDataset(images=images, labels=labels, label_names=("a", "b", "c"))
    train, val = data.subset(torch.arange(0, n - 8)), data.subset(torch.arange(n - 8, n))
    return DataSplits(train=train, val=val, test=val)


def tiny_folder(folder: Path, n: int = 16) -> Path:
    """`folder` made and filled with tiny_splits(n)'s training images (n - 8) as PNG files: --data for the CLI."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(tiny_splits(n=n).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


def tiny_gan(**overrides: object) -> GANConfig:
    """A GAN stage of a few seconds on tiny data, with quality metrics off (no feature net to train)."""
    settings: dict = {
        "epochs": 1,
        "batch_size": 4,
        "grid_size": 8,
        "device": "cpu",
        "precision": "fp32",
        "quality_every": 0,
        "min_steps": 0,
        "diversity_samples": 8,
        "disc_channels": 4,
        "d_warmup_steps": 0,  # a few steps in all: a D warm-up of the default's length would leave G as it started
        **overrides,
    }
    return GANConfig(**settings)


# The same tiny model and run settings as command-line flags, for tests that go through the CLI.
TINY_FLAGS = [
    "--image-size",
    "16",
    "--latent-dim",
    "4",
    "--base-channels",
    "4",
    "--batch-size",
    "4",
    "--device",
    "cpu",
    "--precision",
    "fp32",
    "--quality-every",
    "0",
    "--val-fraction",
    "0.25",
    "--min-steps",  # tiny runs train exactly the epochs a test asks for
    "0",
]


def extend_run(run: Path, epochs: int) -> None:
    """Rewrite a run's checkpoint to train for `epochs` in all, as if it had been started with that many."""
    saved = load_checkpoint(Path(run) / "checkpoint.pt")
    if saved.STAGE == "vae":
        saved.config = replace(saved.config, train=replace(saved.config.train, epochs=epochs))  # type: ignore[arg-type]
    else:
        saved.config = replace(saved.config, gan=replace(saved.config.gan, epochs=epochs))  # type: ignore[arg-type]
    save_checkpoint(saved, Path(run) / "checkpoint.pt")
