"""The steps `vaegan run` ships, and the same networks and losses in the loop a user would write, for
throughput.py to time side by side.

shipped_vae / shipped_gan: the training loops' own builders and steps (build_vae and vae_step_for, build_nets
and gan_step) on the configs `vaegan run --data emoji` and `--data fashion-mnist` train with.
plain_vae / plain_gan: the same networks and losses stepped the straightforward way: fp32, contiguous,
for-each Adam, a forward per network call, a per-parameter EMA and `.item()` on the losses every step.
Each returns step(i, batch, noise), noise being the VAE's eps or the GAN's z (from `latents`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vaegan.augment import diff_augment
from vaegan.config import GANConfig, VAERunConfig
from vaegan.losses import discriminator_loss, generator_loss, kl_weight, r1_penalty, vae_loss
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.prior import fit_mixture, posterior_means
from vaegan.settings import pipeline_configs
from vaegan.training.distributed import Dist
from vaegan.training.gan_step import ema_decay, gan_step, r1_weight
from vaegan.training.placement import Placement
from vaegan.training.train_gan import build_nets, warm_start
from vaegan.training.train_vae import build_vae, vae_step_for

STAGES = ("VAE", "GAN")
Step = Callable[[int, torch.Tensor, torch.Tensor], object]  # (step number, batch (B, C, H, W), eps or z)
Latents = Callable[[int, torch.Generator], torch.Tensor]  # (n, generator on the device) -> (n, latent_dim)


@dataclass(frozen=True)
class Shipped:
    """What `vaegan run --data SOURCE` trains: both stages' configs, as its CLI builds them."""

    name: str  # the data's label in the tables
    vae: VAERunConfig
    gan: GANConfig

    @classmethod
    def of(cls, name: str, source: str) -> Shipped:
        vae, gan, _ = pipeline_configs({"data": {"source": source}})
        return cls(name, vae, dataclasses.replace(gan, d_warmup_steps=0))  # the step after D's warm-up: G moves

    def batch(self, stage: str) -> int:
        return self.vae.train.batch_size if stage == "VAE" else self.gan.batch_size

    def latents(self, stage: str, images: torch.Tensor, device: torch.device) -> Latents:
        """The stage's noise: the VAE's eps ~ N(0, I), the GAN's z from the fitted prior."""
        return gaussian_latents(self.vae, device) if stage == "VAE" else fitted_latents(self.vae, images, device)

    def step(
        self, stage: str, device: torch.device, *, bf16: bool, layout: torch.memory_format, compiled: bool = False
    ) -> Step:
        """The stage's shipped step, in the given precision and layout; `compiled` (the VAE's alone, as
        `--compile on` compiles it) under torch.compile."""
        if stage == "VAE":
            return shipped_vae(self.vae, device, bf16=bf16, layout=layout, compiled=compiled)
        assert not compiled, "--compile on compiles the VAE's step only"
        return shipped_gan(self.vae, self.gan, device, bf16=bf16, layout=layout)

    def plain(self, stage: str, device: torch.device) -> Step:
        """The stage's baseline: its networks and losses in a plain fp32 loop."""
        return plain_vae(self.vae, device) if stage == "VAE" else plain_gan(self.vae, self.gan, device)


def frozen_vae(cfg: VAERunConfig) -> VAE:
    """A VAE from the run's seed, standing in for the trained one the GAN stage starts from."""
    torch.manual_seed(cfg.train.seed)
    return VAE(cfg.model)


def gaussian_latents(cfg: VAERunConfig, device: torch.device) -> Latents:
    """The VAE loop's reparameterisation noise, drawn on the device."""
    return lambda n, g: torch.randn(n, cfg.model.latent_dim, generator=g, device=device)


def fitted_latents(cfg: VAERunConfig, images: torch.Tensor, device: torch.device) -> Latents:
    """The GAN's z from a mixture of the run's prior_components fitted to `images`' latents: one EM
    iteration, since what a draw costs depends on the mixture's shape, not on how well it fits."""
    components = cfg.model.prior_components
    z = posterior_means(frozen_vae(cfg), images[: 20 * components])  # as fit_to_images: 20 images per component
    prior = fit_mixture(z, min(components, len(z) // 20), iterations=1).to(device)
    return lambda n, g: prior.sample(n, g)


def shipped_vae(
    cfg: VAERunConfig, device: torch.device, *, bf16: bool, layout: torch.memory_format, compiled: bool = False
) -> Step:
    """train_vae's step, built by the loop's own vae_step_for (model, fused Adam, learning-rate and KL
    warm-ups, vae_step); `compiled` builds it as under `--compile on`."""
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, compile="on" if compiled else "off"))
    placement = Placement(Dist(), device, bf16, layout)
    model, optimizer = build_vae(cfg, placement, None)
    step = vae_step_for(cfg, model, optimizer, placement)
    return lambda i, x, eps: step(x, eps, i)


def shipped_gan(
    cfg: VAERunConfig, gc: GANConfig, device: torch.device, *, bf16: bool, layout: torch.memory_format
) -> Step:
    """train_gan's step: its networks (G warm-started, D, EMA, frozen VAE, fused Adam) and gan_step."""
    nets = build_nets(gc, frozen_vae(cfg), cfg, Placement(Dist(), device, bf16, layout))
    return lambda i, real, z: gan_step(nets, real, z, gc=gc, step=i, device=device, bf16=bf16)


def plain_vae(cfg: VAERunConfig, device: torch.device) -> Step:
    """The shipped VAE's model and loss in a plain fp32 loop."""
    torch.manual_seed(cfg.train.seed)
    model = VAE(cfg.model).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, foreach=True)

    def step(i: int, x: torch.Tensor, eps: torch.Tensor) -> object:
        x_hat, posterior = model(x, eps=eps)
        beta = kl_weight(i, cfg.loss.beta, cfg.loss.kl_warmup_steps)
        loss = vae_loss(
            x_hat, x, posterior.kl(), cfg.loss.reconstruction, beta, cfg.loss.msssim_weight, cfg.model.value_range
        )["total"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def plain_gan(cfg: VAERunConfig, gc: GANConfig, device: torch.device) -> Step:
    """The shipped GAN's networks and losses (its loss, DiffAugment, lazy R1, pixel anchor, EMA) in a plain
    fp32 loop; the augmentation draws from the global RNG in the shipped step's order."""
    vae = frozen_vae(cfg).to(device).requires_grad_(False)
    torch.manual_seed(gc.seed)
    generator = Decoder(cfg.model)
    warm_start(generator, vae)
    generator.to(device)
    disc = Discriminator(cfg.model.image_size, cfg.model.channels, gc.disc_channels).to(device)
    ema = copy.deepcopy(generator).requires_grad_(False)
    betas = (gc.beta1, gc.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=gc.lr_g, betas=betas, foreach=True)
    opt_d = torch.optim.Adam(disc.parameters(), lr=gc.lr_d, betas=betas, foreach=True)

    def augment(images: torch.Tensor) -> torch.Tensor:
        return diff_augment(images, gc.diffaugment, cfg.model.value_range)

    def step(i: int, real: torch.Tensor, z: torch.Tensor) -> object:
        # (1) D on real images and detached fakes, R1 on the real ones every r1_every-th step
        fake = generator(z)
        r1 = r1_weight(i, gc)
        seen = augment(torch.cat([real, fake.detach()])).detach()
        real_seen = seen[: len(real)].requires_grad_(r1 > 0)
        real_logits = disc(real_seen)
        d_loss = discriminator_loss(real_logits, disc(seen[len(real) :]), gc.loss)
        if r1 > 0:
            d_loss = d_loss + r1 * r1_penalty(real_logits, real_seen).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # (2) G through D, plus the pixel anchor on G(mean of q(z|x))
        real = real.detach()
        with torch.no_grad():
            z_x = vae.encode(real).mean
        g_loss = generator_loss(disc(augment(fake)), gc.loss)
        anchor = F.mse_loss(generator(z_x), real)
        opt_g.zero_grad()
        (g_loss + gc.anchor_weight * anchor).backward()
        opt_g.step()
        # (3) the EMA of G, a parameter at a time
        decay = ema_decay(i, gc.ema_decay)
        with torch.no_grad():
            for average, param in zip(ema.parameters(), generator.parameters(), strict=True):
                average.lerp_(param, 1.0 - decay)
        return d_loss.item(), g_loss.item()

    return step
