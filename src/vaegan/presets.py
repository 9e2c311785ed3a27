"""What each kind of data changes in the config dataclasses' defaults, layered under a config file and the flags.

Order of precedence, lowest first: the dataclass defaults (64x64 colour's), the data kind's layer here, a
named preset, the TOML file given with --config, then the flags.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any, TypeVar

from vaegan.config import RunSettings

Sections = dict[str, dict[str, Any]]
SettingsT = TypeVar("SettingsT", bound=RunSettings)

log = logging.getLogger(__name__)

# Fewer optimiser steps than this and a stage has not learnt to draw anything yet: a 200-image folder trained
# this short decoded every z to the same grey square. The default min_steps (300) keeps small folders above it.
TOO_FEW_STEPS = 200

# 64x64 colour (emoji, folders): the dataclass defaults, stated for the settings each kind chooses.
RGB_64: Sections = {
    "data": {"image_size": 64, "channels": 3},
    "loss": {"reconstruction": "mse_sum"},
    "model": {"latent_dim": 64},
    "train": {"batch_size": 64, "epochs": 30},
    "gan": {"batch_size": 64, "epochs": 20, "r1_gamma": 50.0},
}
# 28x28 grey digits and clothes: sigma-VAE's Gaussian decoder on [-1, 1]. Its decoder, KL and loss settings
# are the ones measured on Fashion-MNIST; colour's later ones were never tried there (docs/results/levers/README.md).
GREY_28: Sections = {
    "data": {"image_size": 28, "channels": 1},
    "loss": {"reconstruction": "gaussian", "kl_warmup_steps": 0, "msssim_weight": 0.0},
    "model": {"latent_dim": 64, "decoder_convs": 1},
    "train": {"batch_size": 128, "epochs": 10},
    "gan": {"batch_size": 128, "epochs": 5, "r1_gamma": 1.0},
}

# Named presets that change how long a run takes, not what it trains.
PRESETS: dict[str, Sections] = {
    # The README's first command: the whole pipeline in minutes, at no measured cost (docs/results/levers/README.md).
    "quick": {
        "train": {"epochs": 24},
        "gan": {"epochs": 9},
    },
    # The defaults: nearly twice quick's minutes, for a VAE that reconstructs better; the GAN's FID had stopped
    # improving by 6 minutes of emoji training (docs/RESULTS.md, "What a longer budget buys").
    "full": {},
}


def dataset_defaults(source: str) -> Sections:
    """The defaults for a --data value: 28x28 grey with sigma-VAE's decoder for IDX files, 64x64 RGB otherwise."""
    return GREY_28 if source in ("fashion-mnist", "mnist") else RGB_64


def merge(*layers: Sections) -> Sections:
    """Section-wise merge, later layers winning key by key."""
    merged: Sections = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged


def step_budget(settings: SettingsT, n_images: int, stage: str) -> SettingsT:
    """`settings` with enough epochs for `min_steps` optimiser steps on `n_images`, logged when raised;
    a warning when the stage still trains too few steps to learn.

    Epochs alone are no budget: the same 30 epochs are 1,500 steps on the emoji and 90 on 180 images.
    """
    per_epoch = math.ceil(n_images / settings.batch_size)
    epochs = max(settings.epochs, math.ceil(settings.min_steps / per_epoch))
    if epochs > settings.epochs:
        log.info(
            "%s: %d images make %d steps per epoch, so it trains %d epochs instead of %d to reach %d steps "
            "(--min-steps)",
            stage,
            n_images,
            per_epoch,
            epochs,
            settings.epochs,
            settings.min_steps,
        )
    if epochs * per_epoch < TOO_FEW_STEPS:
        log.warning(
            "%s: only %d optimiser steps, too few to learn (its samples will look alike); "
            "raise --epochs or --min-steps to %d or more",
            stage,
            epochs * per_epoch,
            TOO_FEW_STEPS,
        )
    return dataclasses.replace(settings, epochs=epochs)


# On a GPU a CPU-sized batch leaves it waiting on kernel launches: a batch this many times larger costs about
# the same time per step (docs/PERFORMANCE.md), so the same optimiser steps see this many times the images.
GPU_BATCH_FACTOR = 4


def gpu_budget(settings: SettingsT, given: dict[str, Any], stage: str) -> SettingsT:
    """`settings` sized for a CUDA device: GPU_BATCH_FACTOR times the batch and the epochs (the optimiser steps
    stay what the CPU-sized run takes), checkpoints, grids and quality measurements as often in steps. Unchanged when
    `given` (the user's own [train] or [gan] settings) names a batch size."""
    if "batch_size" in given:
        return settings
    k = GPU_BATCH_FACTOR
    log.info(
        "%s on a GPU: batch %d and %d epochs instead of %d and %d, the same optimiser steps on %dx the images "
        "(--batch-size keeps your own)",
        stage,
        settings.batch_size * k,
        settings.epochs * k,
        settings.batch_size,
        settings.epochs,
        k,
    )
    return dataclasses.replace(
        settings,
        batch_size=settings.batch_size * k,
        epochs=settings.epochs * k,
        checkpoint_every=settings.checkpoint_every * k,
        grid_every=settings.grid_every * k,
        quality_every=settings.quality_every * k,
    )
