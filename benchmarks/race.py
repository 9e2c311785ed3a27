"""An equal wall-clock race: every variant trains until its clock budget is spent, scored at marks on the way.

The clock counts optimiser steps only; it is paused while samples are scored, so a slow FID never eats
into a variant's budget, and a variant overshoots its budget by at most one step. The variants are
vaegan's defaults in minimal loops over its own models and losses (the library's training loops are
epoch-based, with checkpoints and grids, and cannot stop at a deadline):
- two-stage: the VAE for a share of the budget, then the GAN warm-started from its decoder for the rest;
- scratch GAN: the same GAN from random weights, given the whole budget (the VAE's time plus the GAN's);
- VAE alone, given the whole budget;
- DCGAN (dcgan.py), the peer a user would pick instead, given the whole budget.
Batches are drawn as in training: a fresh permutation of the training images every pass.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from dcgan import DCGAN, NZ

from vaegan.config import GANConfig, VAERunConfig
from vaegan.data import to_float, to_uint8
from vaegan.losses import discriminator_loss, generator_loss, kl_weight, vae_loss
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder


@dataclass
class Stage:
    """A training stage: `step` until the variant's clock reaches `until` seconds; `decode` draws images."""

    name: str
    step: Callable[[], object]
    until: float
    decode: Callable[[torch.Tensor], torch.Tensor]  # latent (B, latent_dim) -> images in value_range
    latent_dim: int
    value_range: tuple[float, float]


def run_timed(
    stages: Sequence[Stage],
    marks: Sequence[float],
    score: Callable[[Stage, float], None],
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Run the stages in order; at each mark (seconds of training) call score with the clock paused.

    Returns the training seconds at the end of each stage.
    """
    elapsed, pending, ends = 0.0, sorted(marks), []
    for stage in stages:
        while elapsed < stage.until:
            start = clock()
            stage.step()
            elapsed += clock() - start
            while pending and pending[0] <= elapsed:
                pending.pop(0)
                score(stage, elapsed)
        ends.append(elapsed)
    return ends


class Batches:
    """Random batches of uint8 images, a fresh permutation every pass over them."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        self.images, self.batch_size = images, batch_size
        self.g = torch.Generator().manual_seed(seed)
        self.order, self.at = torch.randperm(len(images), generator=self.g), 0

    def next(self) -> torch.Tensor:
        if self.at + self.batch_size > len(self.order):
            self.order, self.at = torch.randperm(len(self.images), generator=self.g), 0
        index = self.order[self.at : self.at + self.batch_size]
        self.at += self.batch_size
        return self.images[index]


class VAETrainer:
    """vaegan's VAE with its default loss, KL warm-up and Adam, one batch per step."""

    def __init__(self, cfg: VAERunConfig, images: torch.Tensor, seed: int) -> None:
        torch.manual_seed(seed)
        self.cfg, self.model = cfg, VAE(cfg.model)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.train.lr)
        self.batches = Batches(images, cfg.train.batch_size, seed)
        self.noise = torch.Generator().manual_seed(seed + 1)
        self.steps = 0

    def step(self) -> float:
        x = to_float(self.batches.next(), self.cfg.model.value_range)
        x_hat, posterior = self.model(x, generator=self.noise)
        beta = kl_weight(self.steps, self.cfg.loss.beta, self.cfg.loss.kl_warmup_steps)
        loss = vae_loss(x_hat, x, posterior.kl(), self.cfg.loss.reconstruction, beta)["total"]
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.steps += 1
        return float(loss.detach())


class GANTrainer:
    """vaegan's GAN stage at its defaults: the Decoder as generator, warm-started from `decoder` or not."""

    def __init__(
        self, cfg: VAERunConfig, gan: GANConfig, images: torch.Tensor, seed: int, decoder: Decoder | None
    ) -> None:
        torch.manual_seed(seed + 2)
        m = cfg.model
        self.cfg, self.gan = cfg, gan
        self.g = Decoder(m)
        if decoder is not None:
            self.g.load_state_dict(decoder.state_dict(), strict=True)
        self.d = Discriminator(m.image_size, m.channels, gan.disc_channels, gan.spectral_norm)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=gan.lr_g, betas=(gan.beta1, gan.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=gan.lr_d, betas=(gan.beta1, gan.beta2))
        self.ema = copy.deepcopy(self.g).requires_grad_(False)
        self.batches = Batches(images, gan.batch_size, seed + 3)
        self.noise = torch.Generator().manual_seed(seed + 4)
        self.steps = 0

    def step(self) -> float:
        real = to_float(self.batches.next(), self.cfg.model.value_range)
        fake = self.g(torch.randn(len(real), self.cfg.model.latent_dim, generator=self.noise))
        # (1) update D on real and detached fakes
        d_loss = discriminator_loss(self.d(real), self.d(fake.detach()), self.gan.loss)
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        # (2) update G through D
        g_loss = generator_loss(self.d(fake), self.gan.loss)
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        # EMA with a warm-up, (1 + t) / (10 + t), so a short race does not sample near-initial weights.
        decay = min(self.gan.ema_decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.g.parameters()), 1.0 - decay)
        self.steps += 1
        return float((d_loss + g_loss).detach())


class DCGANTrainer:
    """dcgan.py's peer on the same images, in [-1, 1]."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        self.net = DCGAN(images.shape[-1], images.shape[1], width=32, seed=seed)
        self.batches = Batches(images, batch_size, seed + 5)

    def step(self) -> float:
        losses = self.net.step(to_float(self.batches.next(), (-1.0, 1.0)))
        return losses["d_loss"] + losses["g_loss"]


def variants(
    cfg: VAERunConfig, gan: GANConfig, images: torch.Tensor, budget: float, vae_share: float, seed: int
) -> dict[str, Callable[[], list[Stage]]]:
    """Each variant as a builder of its stages; built lazily so only one variant's nets live at a time."""
    m = cfg.model

    def vae_stage(trainer: VAETrainer, until: float) -> Stage:
        return Stage("vae", trainer.step, until, trainer.model.decode, m.latent_dim, m.value_range)

    def gan_stage(trainer: GANTrainer, until: float) -> Stage:
        return Stage("gan", trainer.step, until, trainer.ema, m.latent_dim, m.value_range)

    def two_stage() -> list[Stage]:
        vae = VAETrainer(cfg, images, seed)
        first = vae_stage(vae, vae_share * budget)
        # The GAN is built when its stage starts, from the decoder as the VAE left it.
        lazy: dict[str, GANTrainer] = {}

        def gan_step() -> float:
            if "gan" not in lazy:
                lazy["gan"] = GANTrainer(cfg, gan, images, seed, vae.model.decoder)
            return lazy["gan"].step()

        def gan_decode(z: torch.Tensor) -> torch.Tensor:
            return lazy["gan"].ema(z)

        return [first, Stage("gan", gan_step, budget, gan_decode, m.latent_dim, m.value_range)]

    def dcgan() -> list[Stage]:
        trainer = DCGANTrainer(images, gan.batch_size, seed)
        return [Stage("dcgan", trainer.step, budget, trainer.net.sample, NZ, (-1.0, 1.0))]

    return {
        "two-stage": two_stage,
        "scratch-gan": lambda: [gan_stage(GANTrainer(cfg, gan, images, seed, None), budget)],
        "vae": lambda: [vae_stage(VAETrainer(cfg, images, seed), budget)],
        "dcgan": dcgan,
    }


@torch.no_grad()
def draw(stage: Stage, n: int, seed: int, batch_size: int = 250) -> torch.Tensor:
    """n uint8 images (n, C, H, W) from z ~ N(0, I) with a fixed seed."""
    g = torch.Generator().manual_seed(seed)
    parts = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), stage.latent_dim, generator=g)
        parts.append(to_uint8(stage.decode(z).float(), stage.value_range))
    return torch.cat(parts)
