"""One GAN training step, read top to bottom in `gan_step`, and the networks it touches (GANNets).

(1) D on real images and detached fakes, with R1 on the real ones; (2) G through D, plus its anchor to
what the VAE taught it; (3) the EMA of G that draws every sample. With a DiffAugment policy D sees every
image, real or fake, in both updates through the same random transforms.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vaegan.augment import diff_augment
from vaegan.config import GANConfig
from vaegan.losses import discriminator_loss, generator_loss, r1_penalty
from vaegan.models.gan import AnyDiscriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.training.common import adam, autocast

# What gan_step returns, in this order: the loop sums them per epoch.
MONITORS = ("d_loss", "g_loss", "anchor", "d_real", "d_fake", "grad_d", "grad_g")
G_MONITORS = ("g_loss", "anchor", "grad_g")  # 0 on the steps G does not move (D's warm-up, d_steps)

Augment = Callable[[torch.Tensor], torch.Tensor]  # what D sees of any image, (B, C, H, W) -> same shape


@dataclass(frozen=True)
class GANNets:
    """What one GAN step touches. trained_* are the networks to call (DDP-wrapped when distributed)."""

    generator: Decoder
    disc: AnyDiscriminator
    ema: Decoder
    frozen: VAE  # the anchor's target, never trained here
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    augment: Augment
    trained_g: torch.nn.Module
    trained_d: torch.nn.Module

    @classmethod
    def build(
        cls,
        generator: Decoder,
        disc: AnyDiscriminator,
        frozen: VAE,
        gc: GANConfig,
        *,
        wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda net: net,
        augment: Augment | None = None,
    ) -> GANNets:
        """G and D as placed, the EMA a frozen copy of G, Adam for each at gc's rates and betas (D's on the
        weights it trains: a projected D's frozen encoder is no optimiser's); D sees images through gc's
        DiffAugment policy unless `augment` says otherwise; `wrap` (DDP) gives trained_*."""
        betas = (gc.beta1, gc.beta2)
        value_range = frozen.cfg.value_range
        return cls(
            generator=generator,
            disc=disc,
            ema=copy.deepcopy(generator).requires_grad_(False),
            frozen=frozen,
            opt_g=adam(generator.parameters(), lr=gc.lr_g, betas=betas),
            opt_d=adam([p for p in disc.parameters() if p.requires_grad], lr=gc.lr_d, betas=betas),
            augment=augment or (lambda x: diff_augment(x, gc.diffaugment, value_range)),
            trained_g=wrap(generator),
            trained_d=wrap(disc),
        )

    def state_dicts(self) -> tuple[dict, ...]:
        """generator, discriminator, EMA, G's and D's optimiser: GANCheckpoint's order."""
        return tuple(n.state_dict() for n in (self.generator, self.disc, self.ema, self.opt_g, self.opt_d))


def gan_step(
    nets: GANNets, real: torch.Tensor, z: torch.Tensor, *, gc: GANConfig, step: int, device: torch.device, bf16: bool
) -> torch.Tensor:
    """Training step `step` on real (B, C, H, W) and prior z (B, latent_dim); returns the MONITORS.

    G moves after the D warm-up, once every d_steps (every step from d_steps_until); on other steps D alone learns.
    """
    g_moves = any(step in moving for moving in g_steps(gc, step + 1))
    anchor_w = anchor_weight(step, gc) if g_moves else 0.0
    with torch.no_grad():  # z_x: the frozen encoder's mean for x, for the pixel anchor on G(z_x); else none
        z_x = nets.frozen.encode(real).mean if anchor_w > 0 and gc.anchor == "pixel" else z[:0]
    # One G forward per step keeps DDP's bookkeeping simple; without a G update there is no graph to keep.
    with torch.set_grad_enabled(g_moves), autocast(device, bf16):
        fake, fake_x = nets.trained_g(torch.cat([z, z_x])).split([len(z), len(z_x)])  # (B, C, H, W), (B or 0, ...)

    # (1) D on real images and detached fakes, in one forward (one DDP pass, bigger kernels)
    r1 = r1_weight(step, gc)
    seen = nets.augment(torch.cat([real, fake.detach()])).detach().requires_grad_(r1 > 0)
    with autocast(device, bf16):
        real_logits, fake_logits = nets.trained_d(seen).split([len(real), len(fake)])
    d_loss = discriminator_loss(real_logits, fake_logits, gc.loss)
    if r1 > 0:
        d_loss = d_loss + r1 * r1_penalty(real_logits, seen)[: len(real)].mean()
    nets.opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    nets.opt_d.step()
    grad_d = grad_norm(nets.trained_d)

    # (2) G through the updated D, plus its anchor. G needs only D's input gradient, so D runs unwrapped
    # with its weights frozen: no weight gradients, no DDP all-reduce; D is the same on every rank after (1).
    g_loss = anchor = grad_g = torch.zeros((), device=device)
    if g_moves:
        with weights_frozen(nets.disc):
            with autocast(device, bf16):
                g_loss = generator_loss(nets.disc(nets.augment(fake)), gc.loss)
                if anchor_w > 0:
                    anchor = anchor_loss(gc.anchor, frozen=nets.frozen, z=z, fake=fake, fake_x=fake_x, real=real)
            nets.opt_g.zero_grad(set_to_none=True)
            (g_loss + anchor_w * anchor).backward()
        grad_g = grad_norm(nets.trained_g)
        nets.opt_g.step()

        # (3) the EMA of G that draws every sample
        update_ema(nets.ema, nets.generator, decay=ema_decay(step, gc.ema_decay))
    d_real, d_fake = (torch.sigmoid(logits.detach().float()).mean() for logits in (real_logits, fake_logits))
    return torch.stack([d_loss.detach(), g_loss.detach(), anchor.detach(), d_real, d_fake, grad_d, grad_g])


def g_steps(gc: GANConfig, steps: int) -> tuple[range, range]:
    """The steps, of the first `steps`, on which G moves: after D's warm-up once every d_steps, then from
    d_steps_until (when set) every step."""
    first = -(-gc.d_warmup_steps // gc.d_steps) * gc.d_steps
    switch = max(first, gc.d_steps_until) if gc.d_steps_until else steps
    return range(first, min(steps, switch), gc.d_steps), range(switch, steps)


def g_moved(gc: GANConfig, steps: int) -> int:
    """How many of the first `steps` moved G."""
    return sum(len(moving) for moving in g_steps(gc, steps))


def anchor_loss(
    kind: str, *, frozen: VAE, z: torch.Tensor, fake: torch.Tensor, fake_x: torch.Tensor, real: torch.Tensor
) -> torch.Tensor:
    """Keeps G near what the VAE taught it, per-pixel mean squared error.

    decoder: ||G(z) - Dec_frozen(z)||^2 for the same prior z.
    pixel: ||G(z_x) - x||^2, with z_x the frozen encoder's posterior mean of the real x (deterministic, so
    every process count agrees): the VAE's own reconstruction task kept while D sharpens G, what keeps the
    encoder's latents meaning the same images through the GAN (issue 12's PSNR through G). Measured in D's
    features instead (Larsen et al. 2016's learned similarity) it added specks and no sharpness (levers 30).
    Compared on means of 2x2 or 4x4 blocks, leaving finer detail to D, it sharpened no more (levers 36).
    In absolute error instead, whose median blurs less, it sharpened no more and added specks (levers 45).
    """
    if kind == "decoder":
        with torch.no_grad():
            target = frozen.decode(z)
        return F.mse_loss(fake.float(), target.float())
    assert kind == "pixel" and len(fake_x) == len(real), f"unknown anchor {kind!r}, or the pixel anchor without G(z_x)"
    return F.mse_loss(fake_x.float(), real.float())


@contextlib.contextmanager
def weights_frozen(module: torch.nn.Module) -> Iterator[None]:
    """The module's trainable weights frozen inside the block, trainable again after: a backward through it
    computes input gradients only. Weights frozen for good (a projected D's encoder) stay frozen."""
    trainable = [p for p in module.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


def anchor_weight(step: int, gc: GANConfig) -> float:
    """The anchor's weight at `step`: gc.anchor_weight, falling linearly to 0 over anchor_decay_steps if set."""
    if gc.anchor == "none":
        return 0.0
    if gc.anchor_decay_steps <= 0:
        return gc.anchor_weight
    return gc.anchor_weight * max(0.0, 1.0 - step / gc.anchor_decay_steps)


def r1_weight(step: int, gc: GANConfig) -> float:
    """The R1 term's weight in D's loss at `step`: gamma / 2, or with lazy regularisation (StyleGAN2,
    Karras et al. 2020) gamma / 2 * r1_every on every r1_every-th step and 0 between: the penalty's double
    backward is costly, and taken every 16th step it is a small share of the step."""
    if gc.r1_gamma <= 0 or step % gc.r1_every:
        return 0.0
    return gc.r1_gamma / 2 * gc.r1_every


def ema_decay(step: int, decay: float) -> float:
    """The EMA's decay with the usual warm-up, min(decay, (1 + t) / (10 + t)): early on the average
    follows G closely, so a short run does not sample from weights still mostly at their start."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, *, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; with decay 0 the EMA is the model itself."""
    ema_params: list[torch.Tensor] = list(ema.parameters())
    params: list[torch.Tensor] = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    """The L2 norm of all of the module's gradients together (0 when it has none)."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())
