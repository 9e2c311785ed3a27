"""What each kind of data changes in the config dataclasses' defaults, the named presets, and the budgets that
size a new stage before it trains (vaegan.settings layers them with what the user gives).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Collection
from typing import Any, TypeVar

import torch

from vaegan.config import MAX_EPOCHS, MAX_WIDTH, GANConfig, GANRunConfig, RunSettings, VAERunConfig, stage_flag

Sections = dict[str, dict[str, Any]]
SettingsT = TypeVar("SettingsT", bound=RunSettings)

log = logging.getLogger(__name__)

# Fewer optimiser steps than this and a stage has not learnt to draw anything yet: a 200-image folder trained
# this short decoded every z to the same grey square. The default min_steps (300) keeps small folders above it.
TOO_FEW_STEPS = 200

# 64x64 colour (emoji, folders) is what the config dataclasses' defaults train: it changes nothing.
RGB_64: Sections = {}
# 28x28 grey digits and clothes: sigma-VAE's Gaussian decoder on [-1, 1], with the decoder, KL and loss settings
# measured on Fashion-MNIST, where colour's did not win (docs/results/levers/README.md).
GREY_28: Sections = {
    "data": {"image_size": 28, "channels": 1},
    "loss": {"reconstruction": "gaussian", "kl_warmup_steps": 0, "msssim_weight": 0.0},
    "model": {"decoder_convs": 1},
    "train": {"batch_size": 128, "epochs": 10},
    # the GAN's settings measured here before colour's slow G, hinge and DiffAugment (levers 30-31, emoji only)
    "gan": {
        "batch_size": 128,
        "epochs": 5,
        "lr_g": 2e-4,
        "d_warmup_steps": 0,
        "loss": "nonsaturating",
        "diffaugment": "",
        "d_steps": 1,  # levers 34 was emoji only
    },
}

# Named presets that change how long a run takes, not what it trains.
PRESETS: dict[str, Sections] = {
    # The README's first command: the whole pipeline in minutes, at no measured cost (docs/results/levers/README.md).
    "quick": {
        "train": {"epochs": 24},
        "gan": {"epochs": 9},
    },
    # The defaults: nearly twice quick's minutes, about the 6-minute step budget of docs/RESULTS.md's curve,
    # where longer budgets lower FID further at a cost a first run should not ask.
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


def budget(settings: SettingsT, n_images: int, stage: str, *, given: dict[str, Any]) -> SettingsT:
    """A new stage's settings sized before it trains, logged here: a GPU's batch (gpu_budget), small data's
    (small_batch) and enough epochs for min_steps (step_budget), each unless the user's own settings (`given`)
    name the batch or the epochs.
    config.json then records what trains."""
    if on_gpu(settings.device):
        settings = gpu_budget(settings, given, stage)
    settings = small_batch(settings, n_images, given, stage)
    return step_budget(settings, n_images, stage, given=given)


# A batch at most this share of the training images, so an epoch makes at least this many steps. 300 steps on 36
# icons drew recognisable ones in batches of 36 and of 9 alike (validation -ELBO 498 and 504), but the batches of 9
# took 33 s to the 36's 57 s, run side by side: a quarter of the epochs to validate, and cheaper steps (issue 68).
MIN_STEPS_PER_EPOCH = 4


def small_batch(settings: SettingsT, n_images: int, given: dict[str, Any], stage: str) -> SettingsT:
    """`settings` with a batch of at most a MIN_STEPS_PER_EPOCH-th of `n_images`, logged, unless `given` (the
    user's own settings) names the batch."""
    batch = max(1, min(settings.batch_size, n_images // MIN_STEPS_PER_EPOCH))
    if batch == settings.batch_size or "batch_size" in given:
        return settings
    log.info(
        "%s: %d images: batch %d instead of %d, so an epoch makes %d steps or more (--batch-size keeps your own)",
        stage,
        n_images,
        batch,
        settings.batch_size,
        MIN_STEPS_PER_EPOCH,
    )
    return dataclasses.replace(settings, batch_size=batch)


def vae_budget(cfg: VAERunConfig, n_images: int, given: Sections) -> VAERunConfig:
    """A new VAE stage sized for its data and device: budget, and on a GPU a wider model (gpu_width)."""
    model = cfg.model
    if on_gpu(cfg.train.device):
        width = gpu_width(model.base_channels, given.get("model", {}), "base_channels", "VAE")
        model = dataclasses.replace(model, base_channels=width)
    train = budget(cfg.train, n_images, "VAE", given=given.get("train", {}))
    return dataclasses.replace(cfg, model=model, train=train)


def gan_budget(cfg: GANRunConfig, n_images: int, given: Sections) -> GANRunConfig:
    """A new GAN stage sized for its data and device: budget, on a GPU a wider D (gpu_width), and a D warm-up
    that leaves G most of its steps (warm_up_share)."""
    gan = budget(cfg.gan, n_images, "GAN", given=given.get("gan", {}))
    if on_gpu(gan.device):
        gan = dataclasses.replace(
            gan, disc_channels=gpu_width(gan.disc_channels, given.get("gan", {}), "disc_channels", "GAN")
        )
    if "d_warmup_steps" not in given.get("gan", {}):
        gan = warm_up_share(gan, gan.epochs * math.ceil(n_images / gan.batch_size))
    return dataclasses.replace(cfg, gan=gan)


# D's warm-up takes at most a quarter of a GAN stage's steps: a short stage on a small folder still trains G.
MAX_WARM_UP_SHARE = 0.25


def warm_up_share(gan: GANConfig, steps: int) -> GANConfig:
    """`gan` with its D warm-up cut to MAX_WARM_UP_SHARE of the stage's `steps`, logged when cut."""
    most = int(steps * MAX_WARM_UP_SHARE)
    if gan.d_warmup_steps <= most:
        return gan
    log.info("GAN: D warms up alone for %d of its %d steps instead of %d (--d-warmup)", most, steps, gan.d_warmup_steps)
    return dataclasses.replace(gan, d_warmup_steps=most)


# On a GPU the default widths leave it waiting on kernel launches: twice the channels cost little time per step
# there, and a hand-sized GPU run at 2x width (with more steps) drew GAN samples of FID 98.6 where the
# defaults drew 119.9 (issue 61; 2,000 samples, Inception). Not raced as a default yet: no GPU was at hand.
GPU_WIDTH_FACTOR = 2


def gpu_width(width: int, given: dict[str, Any], key: str, stage: str) -> int:
    """A width GPU_WIDTH_FACTOR times the CPU's, unless the user gave it; logged."""
    if key in given:
        return width
    wider = min(width * GPU_WIDTH_FACTOR, MAX_WIDTH)
    flag = "--" + key.replace("_", "-")
    log.info("%s on a GPU: %s %d instead of %d (pass %s to keep your own)", stage, key, wider, width, flag)
    return wider


def on_gpu(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


# What a stage does every so many epochs: on small data min_steps raises the epochs, and these keep their pace in
# steps. A 3-image folder trains 300 one-step epochs: a grid pair and a rewritten checkpoint in each made its run
# folder 49 MB, and progress.gif shows at most 40 of those grids anyway.
CADENCES = ("grid_every", "checkpoint_every", "quality_every")


def step_budget(settings: SettingsT, n_images: int, stage: str, *, given: Collection[str] = ()) -> SettingsT:
    """`settings` with enough epochs for `min_steps` optimiser steps on `n_images`, logged when raised, unless
    the user gave the epochs (a key of `given`); CADENCES the user did not give grow with the epochs. A
    warning when the stage still trains too few steps to learn.

    Epochs alone are no budget: the same 30 epochs are 1,500 steps on the emoji and 90 on 180 images.
    """
    per_epoch = math.ceil(n_images / settings.batch_size)
    epochs = settings.epochs if "epochs" in given else max(settings.epochs, math.ceil(settings.min_steps / per_epoch))
    factor = epochs // settings.epochs
    cadences = {key: min(getattr(settings, key) * factor, MAX_EPOCHS) for key in CADENCES if key not in given}
    if epochs > settings.epochs:
        apart = f", with grids, checkpoints and FID & co. {factor}x as many epochs apart" if factor > 1 else ""
        log.info(
            "%s: %d images make %d steps per epoch, so it trains %d epochs instead of %d to reach %d steps "
            "(--min-steps)%s",
            stage,
            n_images,
            per_epoch,
            epochs,
            settings.epochs,
            settings.min_steps,
            apart,
        )
    if epochs * per_epoch < TOO_FEW_STEPS:
        log.warning(
            "%s: only %d optimiser steps, too few to learn (its samples will look alike); "
            "raise %s or --min-steps to %d or more",
            stage,
            epochs * per_epoch,
            stage_flag(stage, "epochs"),
            TOO_FEW_STEPS,
        )
    return dataclasses.replace(settings, epochs=epochs, **cadences)


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
        "(%s keeps your own)",
        stage,
        settings.batch_size * k,
        settings.epochs * k,
        settings.batch_size,
        settings.epochs,
        k,
        stage_flag(stage, "batch-size"),
    )
    return dataclasses.replace(
        settings,
        batch_size=settings.batch_size * k,
        epochs=settings.epochs * k,
        checkpoint_every=settings.checkpoint_every * k,
        grid_every=settings.grid_every * k,
        quality_every=settings.quality_every * k,
    )
