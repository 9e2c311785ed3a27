"""Good defaults per dataset, layered under a config file and the command-line flags.

Order of precedence, lowest first: the dataclass defaults, the dataset's defaults here, a named preset,
the TOML file given with --config, then the flags.
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

# Fewer optimiser steps than this and a stage has not learnt to draw anything yet: a 200-image folder
# trained 9 steps with the defaults of the time and decoded every z to the same grey square. The
# datasets' defaults ask for min_steps = 300 (`vaegan run` gives the GAN the VAE's), which the README's
# runs already train (12 emoji epochs of 54 steps, 6 GAN epochs; one Fashion-MNIST epoch is 422), so only small
# folders train longer.
TOO_FEW_STEPS = 200

# The GAN's defaults come from the emoji ablation in docs/results/levers/ (Inception FID, 1,000 samples
# against all 3,788 emoji, 1,500 VAE + 600 GAN steps): G trained on z from the VAE's fitted prior, with the
# pixel anchor (weight 10 on [-1, 1] data) and R1 scored 152.9 against 205.7 for the plain GAN and 173.5
# for the VAE's own fitted-prior samples, artifact score 1.05.
# R1 is lazy on every dataset (every 16th D step, times 16: StyleGAN2's schedule), measured on each below.
GAN_FROM_VAE: dict[str, Any] = {"latents": "fitted", "anchor": "pixel", "r1_gamma": 1.0, "r1_every": 16}
# Grey 28x28 digits and clothes: sigma-VAE's Gaussian decoder (data in [-1, 1]). In Inception features
# (docs/results/levers/round6, Fashion-MNIST, 1,000 samples against the 10,000 test images, 4,000 VAE +
# 3,000 GAN steps) its fitted-prior samples scored 56.7 against 73.3 for the Bernoulli (BCE) decoder, and
# the GAN on it 40.3 against 52.5, PSNR through G 21.6 dB (its decoder's 22.2). Its fitted prior has 100
# components: the same VAE's samples scored 55.1 through 10, 51.9 through 30 and 49.7 through 100
# (round 7). Its R1 is lazy, as on RGB data: by the papers' protocol (docs/RESULTS.md, 15 min, 10,000
# samples against the 10,000 test images, one 2-core AMD EPYC) the two stages scored 16.5 +/- 0.5 over
# three seeds with it (race-lazy-r1-fmnist; seed 0: 17.0) against 17.35 for seed 0 with R1 on every step
# (race-r1-every-fmnist): the same FID within a seed's spread; at equal steps the lazy GAN took 0.40x the
# time for the same PSNR through G and artifact score (levers round 12). Its latent has 64 dimensions: with
# 32, all 32 carried 2 to 4 nats after the race's 15 minutes and the VAE's samples were within 2 FID points
# of its own reconstructions, so no sampler could help; with 64 (all used) the reconstructions gained
# 1.5 dB, and the VAE alone scored 27.05 by the papers' protocol (at auto precision) against 32.79 (fp32),
# one seed, and the two stages 14.9 against 17.0 (levers round 13, race-z64-fmnist); over three seeds
# the VAE alone 27.1 +/- 0.1 and the two stages 15.2 +/- 0.4 (race-z64-fmnist-vae3, race-z64-fmnist3).
# MNIST shares the preset unmeasured.
GREY_28: Sections = {
    "data": {"image_size": 28, "channels": 1},
    "loss": {"reconstruction": "gaussian"},
    "model": {"latent_dim": 64, "base_channels": 32, "prior_components": 100},
    "train": {"batch_size": 128, "epochs": 10, "lr": 1e-3, "min_steps": 300},
    "gan": {"batch_size": 128, "epochs": 5, **GAN_FROM_VAE, "anchor_weight": 10.0},
}
# Colour 64x64 (emoji, folders): the fitted prior has 100 components too. At equal wall-clock on emoji
# (docs/RESULTS.md, race-k100: 8 min each, three seeds, 1,000 samples against all 3,788 emoji) the two
# stages scored 140.3 +/- 2.4 and the VAE alone 146.5 +/- 2.8 with it, against 158.2 and 172.1 through 10
# (race-seeds); docs/results/levers/ round 8 checked its samples for copies of training emoji (7% are as
# near one as a held-out emoji is). Its R1 is lazy (every 16th D step, times 16: StyleGAN2's
# schedule): at 600 GAN steps it scored 144.3 against 140.6 for every step, one seed, the spread of one
# seed here, and trained the GAN 1.55x as fast (levers round 9); at equal wall-clock, three seeds, the
# two stages scored 140.1 +/- 2.0 (race-lazy-r1) against 140.3 +/- 2.4. Same pictures, shorter `make run`.
# Its decoder has two convs per level (a residual 3x3 conv after each x2 step): at equal steps the GAN on
# it scored 123.2 against 141.6 and stopped painting stripes over flags (levers round 16); once the VAE's
# learning-rate warm-up kept every start out of tanh saturation (round 17), the race at equal wall-clock
# scored the two stages 123.9 +/- 1.4 and the VAE alone 140.2 +/- 3.6 with it, three seeds (race-convs2-warmup);
# the one-conv decoder, same machine and warm-up, 139.6 and 133.7 for seeds 0-1 (race-convs1-warmup).
# ModelConfig keeps 1, so checkpoints from before build as they trained.
# Its VAE trains with an MS-SSIM term beside the ELBO (weight 0.3 per pixel, losses.msssim_term): at equal
# wall-clock, by the protocol (6 min, 5,000 samples against all 3,788 emoji, three seeds), the two stages
# scored 109.3 +/- 2.1 and the VAE alone 125.9 +/- 2.2 with it (race-msssim-f26), against 112.3 +/- 2.6 and
# 129.5 +/- 0.7 without (race-protocol-f26, same machine kind): every seed better, in both, despite 0.7x the
# VAE steps (levers round 23). LossConfig keeps 0, so runs from before resume as they trained.
RGB_64: Sections = {
    "data": {"image_size": 64, "channels": 3},
    "loss": {"reconstruction": "mse_sum", "kl_warmup_steps": 500, "msssim_weight": 0.3},
    "model": {"latent_dim": 64, "base_channels": 32, "prior_components": 100, "decoder_convs": 2},
    "train": {"batch_size": 64, "epochs": 30, "lr": 1e-3, "min_steps": 300},
    "gan": {"batch_size": 64, "epochs": 20, **GAN_FROM_VAE, "anchor_weight": 10.0},
}

# Named presets that change how long a run takes, not what it trains.
PRESETS: dict[str, Sections] = {
    # The README's first command: the whole pipeline in minutes (emoji: ~1,300 VAE and ~490 GAN steps).
    # 24 and 9 epochs, from 30 and 12, bring `make run` under 10 minutes on a 2-core EPYC of CPU family 25
    # at no measured cost: the race at 6 minutes instead of 8 (1,371-1,391 VAE and 530-580 GAN steps)
    # scored the two stages 125.5 and 117.6 for seeds 0-1, where 8 minutes scored 125.6 and 122.9
    # (race-convs2-6min against race-convs2-warmup, docs/results/levers/ round 18).
    "quick": {
        "train": {"epochs": 24},
        "gan": {"epochs": 9},
    },
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
