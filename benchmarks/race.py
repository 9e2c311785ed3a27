"""An equal wall-clock race: every variant trains until its clock budget is spent, scored at marks on the way.

The clock counts optimiser steps only; it is paused while samples are scored, so a slow FID never eats
into a variant's budget, and a variant overshoots its budget by at most one step. The variants run
vaegan's own training steps (vae_step, gan_step) at today's defaults for the dataset (presets.py), in
minimal loops: the library's training loops are epoch-based, with checkpoints and grids, and cannot stop
at a deadline.
- two-stage: the VAE for a share of the budget, then the GAN warm-started from its decoder for the rest,
  G's z from the Gaussian mixture fitted to the VAE's training latents (fitted on the GAN's clock);
- scratch GAN: the same GAN from random weights, given the whole budget (the VAE's time plus the GAN's);
  with no VAE it has no anchor and no fitted prior, so z ~ N(0, I) and only the anchor-free settings stay;
- VAE alone, given the whole budget, drawn through vaegan's best VAE sampler (the fitted prior, fitted
  when scored: a sampler's cost, like the FID's);
- DCGAN (dcgan.py), the peer a user would pick instead, given the whole budget;
- two-stage-auto: the two-stage pipeline at `--precision auto --memory-format auto`, the training loops'
  default: bf16 autocast and channels_last where the loops' own probe (training/speed.py) measures a win
  here. The probe runs before the clock starts: its verdict is cached per machine, so a user pays it once;
- vae-auto: the VAE alone at the same auto settings, as `vaegan train` runs it by default.
Batches are drawn as in training: a fresh permutation of the training images every pass. Every other
variant runs in fp32 with the plain layout on the CPU, the same for all.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from dcgan import DCGAN, NZ

from vaegan.augment import diff_augment
from vaegan.config import GANConfig, VAERunConfig
from vaegan.data import to_float, to_uint8
from vaegan.losses import kl_weight
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE
from vaegan.prior import MixturePrior, fit_to_images
from vaegan.training import speed
from vaegan.training.common import adam, place, warm_up_lr
from vaegan.training.train_gan import GANNets, gan_probe, gan_step, warm_start
from vaegan.training.train_vae import vae_probe, vae_step

Latents = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator) -> z (n, latent_dim)
CPU = torch.device("cpu")
FP32 = speed.SpeedChoice(bf16=False, channels_last=False, note="fp32, contiguous layout")


def normal(latent_dim: int) -> Latents:
    return lambda n, g: torch.randn(n, latent_dim, generator=g)


@dataclass
class Stage:
    """A training stage: `step` until the variant's clock reaches `until` seconds; `decode` draws images
    from the z that `latents` gives (called when scored, so a sampler may be built then)."""

    name: str
    step: Callable[[], float]  # one training step; returns its loss
    until: float
    decode: Callable[[torch.Tensor], torch.Tensor]  # latent (B, latent_dim) -> images in value_range
    latents: Callable[[], Latents]
    value_range: tuple[float, float]
    disc: Callable[[], Callable[[torch.Tensor], torch.Tensor]] | None = None  # a GAN's D, for ranked draws


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


LAST_LOSSES = 50  # steps a stage's closing loss is averaged over: one batch's loss is noisy


def logged(stage: Stage, log: list[dict[str, Any]]) -> Stage:
    """The stage, its steps counted and its closing loss (the mean of its last LAST_LOSSES) kept in a dict
    appended to `log`, so a record shows a stage that never trained: levers round 16's VAE ended its 4
    minutes at the loss it started from, and only its final FID (415.8) said that anything was wrong."""
    entry: dict[str, Any] = {"stage": stage.name, "steps": 0, "closing_loss": None}
    last: collections.deque[float] = collections.deque(maxlen=LAST_LOSSES)
    log.append(entry)

    def step() -> float:
        loss = stage.step()
        last.append(loss)
        entry["steps"] += 1
        entry["closing_loss"] = statistics.fmean(last)
        return loss

    return dataclasses.replace(stage, step=step)


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
    """vaegan's VAE step (train_vae.vae_step) with its default loss, KL and lr warm-ups and Adam, one batch per step."""

    def __init__(
        self,
        cfg: VAERunConfig,
        images: torch.Tensor,
        seed: int,
        settings: speed.SpeedChoice = FP32,
        decay_steps: int = 0,
    ) -> None:
        torch.manual_seed(seed)
        self.decay_steps = decay_steps  # > 0: the learning rate falls linearly to 0 over this many steps
        self.cfg, self.images, self.settings = cfg, images, settings
        self.model = place(VAE(cfg.model), CPU, settings.layout)
        self.opt = adam(self.model.parameters(), lr=cfg.train.lr)
        self.batches = Batches(images, cfg.train.batch_size, seed)
        self.noise = torch.Generator().manual_seed(seed + 1)
        self.steps = 0

    def step(self) -> float:
        x = to_float(self.batches.next(), self.cfg.model.value_range).contiguous(memory_format=self.settings.layout)
        eps = torch.randn(len(x), self.cfg.model.latent_dim, generator=self.noise)
        beta = kl_weight(self.steps, self.cfg.loss.beta, self.cfg.loss.kl_warmup_steps)
        self.model.train()
        lr = self.cfg.train.lr * (max(0.0, 1.0 - self.steps / self.decay_steps) if self.decay_steps else 1.0)
        warm_up_lr(self.opt, lr, self.steps, self.cfg.train.lr_warmup_steps)
        value_range = self.cfg.model.value_range
        losses = vae_step(self.model, self.opt, x, eps, self.cfg.loss, beta, CPU, self.settings.bf16, value_range)
        self.steps += 1
        return float(losses["total"].detach())

    def fitted_prior(self) -> MixturePrior:
        """vaegan's best VAE sampler as `vaegan sample` builds it: the mixture on the training latents."""
        self.model.eval()
        return fit_to_images(self.model, self.images)


class GANTrainer:
    """vaegan's GAN step (train_gan.gan_step) at the config `gan`, warm-started from `vae` or from scratch.

    G's z come from `prior` when given (the caller fits one when the config asks for fitted latents), else
    from N(0, I); the anchor's target is the frozen `vae`. From scratch there is neither (scratch_config).
    """

    def __init__(
        self,
        cfg: VAERunConfig,
        gan: GANConfig,
        images: torch.Tensor,
        seed: int,
        vae: VAE | None,
        prior: MixturePrior | None = None,
        settings: speed.SpeedChoice = FP32,
    ) -> None:
        torch.manual_seed(seed + 2)
        m = cfg.model
        self.cfg, self.gan, self.settings = cfg, gan, settings
        g = VAE(m).decoder
        if vae is not None:
            warm_start(g, vae)
        place(g, CPU, settings.layout)
        frozen = (vae or VAE(m)).requires_grad_(False).eval()
        d = place(Discriminator.for_config(m, gan, vae.encoder if vae is not None else None), CPU, settings.layout)
        betas = (gan.beta1, gan.beta2)
        self.nets = GANNets(
            g,
            d,
            g,
            d,
            copy.deepcopy(g).requires_grad_(False),
            frozen,
            adam(g.parameters(), lr=gan.lr_g, betas=betas),
            adam(d.parameters(), lr=gan.lr_d, betas=betas),
            lambda x: diff_augment(x, gan.diffaugment, m.value_range),
        )
        self.latents: Latents = prior.sample if prior is not None else normal(m.latent_dim)
        self.batches = Batches(images, gan.batch_size, seed + 3)
        self.noise = torch.Generator().manual_seed(seed + 4)
        self.steps = 0

    @property
    def ema(self) -> torch.nn.Module:
        return self.nets.ema

    def step(self) -> float:
        real = to_float(self.batches.next(), self.cfg.model.value_range).contiguous(memory_format=self.settings.layout)
        z = self.latents(len(real), self.noise)
        monitors = gan_step(self.nets, real, z, self.gan, self.steps, CPU, self.settings.bf16)
        self.steps += 1
        return float(monitors[0] + monitors[1])


def scratch_config(gan: GANConfig) -> GANConfig:
    """The GAN's settings for random weights: no VAE means no anchor to it, no prior fitted on it and no
    encoder to start D from."""
    return dataclasses.replace(gan, init="scratch", disc_init="scratch", anchor="none", latents="normal")


class DCGANTrainer:
    """dcgan.py's peer on the same images, in [-1, 1]."""

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int) -> None:
        self.net = DCGAN(images.shape[-1], images.shape[1], width=32, seed=seed)
        self.batches = Batches(images, batch_size, seed + 5)

    def step(self) -> float:
        losses = self.net.step(to_float(self.batches.next(), (-1.0, 1.0)))
        return losses["d_loss"] + losses["g_loss"]


def auto_settings(cfg: VAERunConfig, gan: GANConfig, images: torch.Tensor) -> tuple[speed.SpeedChoice, ...]:
    """What `--precision auto --memory-format auto` picks here for the VAE's step and the GAN's: the loops'
    own probe and cache (cfg.data.cache_dir), printed with what it cost."""
    choices = []
    for stage, probe in (("VAE", vae_probe(cfg, images)), ("GAN", gan_probe(gan, cfg, images))):
        started = time.perf_counter()
        choice = speed.choose("auto", "auto", CPU, probe.shape, probe.time_steps, probe.cache_dir)
        print(f"auto settings, {stage} step: {choice.note} ({time.perf_counter() - started:.1f}s)", flush=True)
        choices.append(choice)
    return tuple(choices)


def variants(
    cfg: VAERunConfig, gan: GANConfig, images: torch.Tensor, budget: float, vae_share: float, seed: int
) -> dict[str, Callable[[], list[Stage]]]:
    """Each variant as a builder of its stages; built lazily so only one variant's nets live at a time."""
    m = cfg.model

    def vae_stage(trainer: VAETrainer, until: float) -> Stage:
        sampler = lambda: trainer.fitted_prior().sample  # noqa: E731
        return Stage("vae", trainer.step, until, trainer.model.decode, sampler, m.value_range)

    def two_stage(vae_settings: speed.SpeedChoice = FP32, gan_settings: speed.SpeedChoice = FP32) -> list[Stage]:
        vae = VAETrainer(cfg, images, seed, vae_settings)
        first = vae_stage(vae, vae_share * budget)
        # The GAN (and the prior its z come from) is built when its stage starts, on its clock, from the
        # VAE as it was left.
        lazy: dict[str, GANTrainer] = {}

        def step() -> float:
            if "gan" not in lazy:
                prior = vae.fitted_prior() if gan.latents == "fitted" else None
                lazy["gan"] = GANTrainer(cfg, gan, images, seed, vae.model, prior, gan_settings)
            return lazy["gan"].step()

        def decode(z: torch.Tensor) -> torch.Tensor:
            return lazy["gan"].ema(z)

        disc = lambda: lazy["gan"].nets.disc  # noqa: E731
        return [first, Stage("gan", step, budget, decode, lambda: lazy["gan"].latents, m.value_range, disc)]

    def scratch_gan(settings: speed.SpeedChoice = FP32) -> list[Stage]:
        trainer = GANTrainer(cfg, scratch_config(gan), images, seed, None, settings=settings)
        return [Stage("gan", trainer.step, budget, trainer.ema, lambda: trainer.latents, m.value_range)]

    def dcgan() -> list[Stage]:
        trainer = DCGANTrainer(images, gan.batch_size, seed)
        return [Stage("dcgan", trainer.step, budget, trainer.net.sample, lambda: normal(NZ), (-1.0, 1.0))]

    return {
        "two-stage": two_stage,
        "scratch-gan": scratch_gan,
        "vae": lambda: [vae_stage(VAETrainer(cfg, images, seed), budget)],
        "dcgan": dcgan,
        "two-stage-auto": lambda: two_stage(*auto_settings(cfg, gan, images)),
        "vae-auto": lambda: [vae_stage(VAETrainer(cfg, images, seed, auto_settings(cfg, gan, images)[0]), budget)],
        # the scratch GAN has the warm-started one's architecture, so the GAN step's probe decides for it too
        "scratch-gan-auto": lambda: scratch_gan(auto_settings(cfg, gan, images)[1]),
    }


@torch.no_grad()
def most_real(images: torch.Tensor, disc: Callable[[torch.Tensor], torch.Tensor], n: int) -> torch.Tensor:
    """The n of `images` the GAN's discriminator rates most real, best first. Drawing k times the images
    wanted and keeping these is discriminator-ranked sampling, after Discriminator Rejection Sampling
    (Azadi et al. 2019) with a fixed share kept instead of their calibrated acceptance, so the count is
    exact and the draw deterministic. Here for the ablation only (levers round 20, race-rank2-f26): it
    did not lower the GAN's Inception FID beyond seed noise, so no command of vaegan samples this way."""
    if not 0 < n <= len(images):
        raise ValueError(f"cannot keep {n} of {len(images)} images")
    logits = torch.cat([disc(images[i : i + 256]).float() for i in range(0, len(images), 256)])
    score = logits.flatten(1).mean(1) if logits.ndim > 1 else logits  # a patch D rates each position
    return images[score.topk(n).indices]


@torch.no_grad()
def draw(stage: Stage, n: int, seed: int, batch_size: int = 250, rank: int = 1) -> torch.Tensor:
    """n uint8 images (n, C, H, W) from the stage's latents with a fixed seed; with `rank` k > 1, k times
    as many drawn and the ones the stage's D rates most real kept (most_real), batch by batch."""
    g, latents = torch.Generator().manual_seed(seed), stage.latents()
    disc = stage.disc() if rank > 1 and stage.disc is not None else None
    parts = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        if disc is None:
            images = stage.decode(latents(count, g)).float()
        else:
            images = most_real(stage.decode(latents(rank * count, g)).float(), disc, count)
        parts.append(to_uint8(images, stage.value_range))
    return torch.cat(parts)
