"""Stage 2: train a GAN whose generator starts as the trained VAE decoder, one explicit loop.

Each step: (1) update D on real images and detached fakes, (2) update G through D (after the optional
D warm-up, once every d_steps), then move the EMA copy of G that draws every sample grid. With a
DiffAugment policy D sees every image, real or fake, in both updates through the same random transforms;
with r1_gamma D's loss also penalises its gradient on real images.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vaegan.augment import diff_augment
from vaegan.checkpoint import GANCheckpoint
from vaegan.config import GANConfig, GANRunConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.errors import VaeganError
from vaegan.losses import (
    adaptive_scale,
    discriminator_loss,
    generator_loss,
    r1_penalty,
    structure_loss,
    top_k_fakes,
)
from vaegan.metrics.monitor import QualityMonitor
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.presets import step_budget
from vaegan.prior import fitted_prior
from vaegan.runs import Run, open_run
from vaegan.training import distributed, speed
from vaegan.training.changes import Changes, Sections
from vaegan.training.common import CPU, adam, autocast, fixed_latents, place, restore_adam
from vaegan.training.loop import TrainingResult, TrainingRun, resume_or_refuse, start_run
from vaegan.viz import save_grid

log = logging.getLogger(__name__)

# Monitor sums per epoch, in this order; the last slot counts steps.
# Anchors on G(mean of q(z|x)) for real x, computed in the same G forward as the fakes.
X_ANCHORS = ("feature", "pixel", "lowpass", "structure")
MONITORS = ("d_loss", "g_loss", "anchor", "d_real", "d_fake", "grad_d", "grad_g")


@dataclass(frozen=True)
class GANNets:
    """What one GAN step touches. trained_* are the networks to call (DDP-wrapped when distributed)."""

    trained_g: torch.nn.Module
    trained_d: torch.nn.Module
    generator: Decoder
    disc: Discriminator
    ema: Decoder
    frozen: VAE
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    augment: Callable[[torch.Tensor], torch.Tensor] = field(default=lambda x: x)  # what D sees of any image

    def state_dicts(self) -> tuple[dict[str, Any], ...]:
        """generator, discriminator, EMA, G's and D's optimiser: GANCheckpoint's order."""
        return tuple(n.state_dict() for n in (self.generator, self.disc, self.ema, self.opt_g, self.opt_d))


def warm_start(generator: Decoder, vae: VAE) -> None:
    """Copy the VAE decoder into the generator; any key or shape mismatch is an error naming the keys."""
    try:
        generator.load_state_dict(vae.decoder.state_dict(), strict=True)
    except RuntimeError as exc:
        raise VaeganError(f"the generator does not match the VAE decoder: {exc}".replace("\n", " ")) from exc


def gan_step(
    nets: GANNets, real: torch.Tensor, z: torch.Tensor, gc: GANConfig, step: int, device: torch.device, bf16: bool
) -> torch.Tensor:
    """Training step `step` on real (B, C, H, W) and prior z (B, latent_dim); returns the MONITORS.

    (1) update D on real vs detached G(z); (2) after the D warm-up and once every d_steps, update G
    through the updated D, then move the EMA.
    """
    g_moves = step >= gc.d_warmup_steps and step % gc.d_steps == 0
    weight = anchor_weight(step, gc) if g_moves else 0.0
    fake, fake_x = generate(
        nets.trained_g, nets.frozen, z, real, gc.anchor in X_ANCHORS and weight > 0, g_moves, device, bf16
    )
    d_loss, real_logits, fake_logits = discriminator_step(
        nets.trained_d, nets.opt_d, nets.augment, real, fake, gc, device, bf16, step
    )
    grad_d = grad_norm(nets.trained_d)
    g_loss = anchor = grad_g = torch.zeros((), device=device)
    if g_moves:
        g_loss, anchor, grad_g = generator_step(nets, z, fake, fake_x, real, gc, weight, device, bf16)
        update_ema(nets.ema, nets.generator, ema_decay(step, gc.ema_decay))
    return torch.stack(
        [
            d_loss,
            g_loss,
            anchor,
            torch.sigmoid(real_logits.float()).mean(),
            torch.sigmoid(fake_logits.float()).mean(),
            grad_d,
            grad_g,
        ]
    )


def discriminator_step(
    disc: torch.nn.Module,
    opt_d: torch.optim.Optimizer,
    augment: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    gc: GANConfig,
    device: torch.device,
    bf16: bool,
    step: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1) One D update on real images and *detached* fakes; returns (loss, real logits, fake logits).

    On the steps `r1_weight` names, the loss adds R1's mean over the (augmented) real images D saw.
    """
    r1 = r1_weight(step, gc)
    # One forward over real and fake together: one pass for DistributedDataParallel, bigger kernels.
    seen = augment(torch.cat([real, fake.detach()])).detach().requires_grad_(r1 > 0)
    with autocast(device, bf16):
        real_logits, fake_logits = disc(seen).split([len(real), len(fake)])
    loss = discriminator_loss(real_logits, fake_logits, gc.loss)
    if r1 > 0:
        loss = loss + r1 * r1_penalty(real_logits, seen)[: len(real)].mean()
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return loss.detach(), real_logits.detach(), fake_logits.detach()


def generator_step(
    nets: GANNets,
    z: torch.Tensor,
    fake: torch.Tensor,
    fake_x: torch.Tensor | None,
    real: torch.Tensor,
    gc: GANConfig,
    weight: float,
    device: torch.device,
    bf16: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2) One G update through D on fake = G(z) (graph kept); returns (adversarial loss, anchor, grad norm).

    D sees the fakes through the same augmentation as in (1). `fake_x` is G(mean of q(z|x)) for the
    X_ANCHORS, else None. G's update needs only D's gradient with respect to its input, so D runs here
    unwrapped with its weights frozen: no weight gradients (about a third of D's backward) and, under
    DistributedDataParallel, no all-reduce of gradients nobody uses. D's weights are the same on every
    rank after (1), so every rank computes the same function.
    """
    anchor = torch.zeros((), device=fake.device)
    nets.disc.requires_grad_(False)
    try:
        with autocast(device, bf16):
            g_loss = generator_loss(top_k_fakes(nets.disc(nets.augment(fake)), gc.top_k), gc.loss)
            if weight > 0:
                anchor = anchor_loss(gc.anchor, nets.frozen, nets.disc, z, fake, fake_x, real, gc.anchor_pool)
        nets.opt_g.zero_grad(set_to_none=True)
        adversarial = g_loss
        if gc.adaptive_weight and weight > 0:
            adversarial = g_loss * adaptive_scale(g_loss, weight * anchor, last_layer(nets.generator))
        (adversarial + weight * anchor).backward()
    finally:
        nets.disc.requires_grad_(True)
    norm = grad_norm(nets.trained_g)
    nets.opt_g.step()
    return g_loss.detach(), anchor.detach(), norm


def last_layer(generator: Decoder) -> torch.Tensor:
    """The weight of G's image-making convolution, where the adaptive weight compares gradients."""
    weight = generator.to_image.weight
    assert isinstance(weight, torch.Tensor)
    return weight


def refuse_unsupported(gc: GANConfig, vae_cfg: VAERunConfig) -> None:
    """Settings that cannot work with this VAE or process count, refused before any data is loaded."""
    if distributed.world_size() > 1 and gc.anchor == "feature":
        # G's update runs the unwrapped D, so DDP would allow it now, but no two-process test covers it yet
        raise VaeganError("the feature anchor is untested under torchrun; use --anchor pixel or --anchor decoder")
    if gc.adaptive_weight and distributed.world_size() > 1:
        # its gradients are taken outside DistributedDataParallel's backward, which would not average them
        raise VaeganError("--adaptive-weight is not supported under torchrun; run it in one process")
    if gc.adaptive_weight and (gc.anchor in ("none", "decoder") or gc.anchor_weight <= 0):
        # the decoder anchor is exactly 0 at G's warm start (G is the decoder), so D's term would get 0 too
        raise VaeganError(
            "--adaptive-weight scales D's term against the pixel, lowpass or feature anchor; add --anchor pixel"
        )
    if gc.adaptive_weight and gc.anchor_decay_steps:
        # the scale follows the anchor down, so the mix would stay 1:1 and jump to D alone at the end
        raise VaeganError("--adaptive-weight keeps D's term level with the anchor's; drop --anchor-decay")
    width = vae_cfg.model.base_channels
    if gc.disc_init == "encoder" and gc.disc_channels != width:
        raise VaeganError(f"--disc-init encoder needs D as wide as the encoder: use --disc-channels {width}")
    size = vae_cfg.model.image_size
    if gc.anchor == "lowpass" and gc.anchor_pool > size:
        raise VaeganError(f"--anchor-pool {gc.anchor_pool} is larger than the {size} px images; use at most {size}")


def r1_weight(step: int, gc: GANConfig) -> float:
    """The R1 term's weight in D's loss at `step`: gamma / 2, or with lazy regularisation (StyleGAN2,
    Karras et al. 2020) gamma / 2 * r1_every on every r1_every-th step and 0 between. The penalty's double
    backward is about a third of a 64x64 GAN step on 2 CPU cores; taken every 16th step it is ~2%."""
    if gc.r1_gamma <= 0 or step % gc.r1_every:
        return 0.0
    return gc.r1_gamma / 2 * gc.r1_every


def ema_decay(step: int, decay: float) -> float:
    """The EMA's decay with the usual warm-up, min(decay, (1 + t) / (10 + t)): early on the average
    follows G closely, so a short run does not sample from weights still mostly at their start."""
    return min(decay, (1 + step) / (10 + step))


def anchor_weight(step: int, gc: GANConfig) -> float:
    if gc.anchor == "none":
        return 0.0
    if gc.anchor_decay_steps <= 0:
        return gc.anchor_weight
    return gc.anchor_weight * max(0.0, 1.0 - step / gc.anchor_decay_steps)


def grad_norm(module: torch.nn.Module) -> torch.Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))) if grads else torch.zeros(())


@torch.no_grad()
def sample_diversity(ema: Decoder, z: torch.Tensor) -> float:
    """pairwise_diversity of the EMA generator's samples from a fixed z, the same every epoch."""
    return pairwise_diversity(ema(z).float())


def pairwise_diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images (flattened): near 0 when a generator has collapsed."""
    flat = images.flatten(1).float()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


def train_gan(
    cfg: GANRunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    wanted: Sections | None = None,
    splits: DataSplits | None = None,
    progress: bool | None = None,
) -> TrainingResult:
    """Train the GAN stage for cfg.gan.epochs, writing metrics, grids and checkpoints under run_dir.

    resume=True continues run_dir's checkpoint exactly, with the `wanted` settings a resume may change.
    """
    run_dir = Path(run_dir)
    saved, changes = resume_or_refuse(run_dir, "gan", resume, wanted)
    if isinstance(saved, GANCheckpoint):
        cfg = saved.config
    vae_run = open_run(cfg.vae_checkpoint)
    vae_cfg, vae_path = vae_run.config, str(vae_run.stage("vae").checkpoint_path.resolve())
    latent_dim, value_range = vae_cfg.model.latent_dim, vae_cfg.model.value_range
    refuse_unsupported(cfg.gan, vae_cfg)
    splits = splits or load_splits(vae_cfg.data)
    if saved is None:  # small data: enough epochs for min_steps (a resumed run keeps its budget)
        cfg = replace(cfg, gan=step_budget(cfg.gan, len(splits.train), "GAN"))
    gc = cfg.gan
    run = open_gan_run(cfg, vae_cfg, run_dir, splits, saved is None, progress, changes)
    device = run.device
    images = splits.train.images.to(device)
    nets = build_nets(gc, vae_run.vae(), vae_cfg, run)
    # run.config, not cfg: a time limit (max_minutes) lowers the epochs the checkpoint says were asked for
    run.snapshot = lambda loop: GANCheckpoint(run.config, loop, vae_path, vae_cfg, *nets.state_dicts())
    draw_z, grid_z = latent_source(gc, vae_run, splits.train.images, device)
    diversity_z = draw_z(gc.diversity_samples, torch.Generator(device).manual_seed(gc.seed + 1))
    real_diversity = pairwise_diversity(to_float(splits.train.images[: gc.diversity_samples], value_range))
    if isinstance(saved, GANCheckpoint):
        restore_nets(nets, saved)
        run.restore(saved.loop)
    elif run.ctx.is_main:
        draw_samples(nets.ema, grid_z, run_dir / "grids", 0, value_range)

    record: dict[str, Any] = {}
    with run:
        for _ in run.epochs():
            for index in run.batches(len(images)):
                # z for the whole global batch, so every process count draws the same numbers.
                z = run.ctx.shard(draw_z(len(index), run.noise))
                real = to_float(images[run.ctx.shard(index)], value_range).contiguous(memory_format=run.layout)
                run.add(gan_step(nets, real, z, gc, run.loop.step, device, run.bf16), 1)  # real: (B, C, H, W)

            values = dict(zip(MONITORS, run.epoch_means(), strict=True))
            values["diversity"] = sample_diversity(nets.ema, diversity_z) / real_diversity
            monitor_noise = torch.Generator(device).manual_seed(gc.seed + 2)  # the same z every epoch
            record = run.end_epoch(
                values,
                lambda z, g=monitor_noise: nets.ema(draw_z(len(z), g)),  # type: ignore[misc]
                latent_dim,
                value_range,
                lambda folder, epoch: draw_samples(nets.ema, grid_z, folder, epoch, value_range),
                f"D(x) {values['d_real']:.3f} D(G(z)) {values['d_fake']:.3f} D loss {values['d_loss']:.3f} "
                f"G loss {values['g_loss']:.3f} diversity {values['diversity']:.2f}",
            )
            warn_of_collapse(values["diversity"], gc.collapse_fraction, run.ctx.is_main)
    return TrainingResult(run.checkpoint_path, record)


def latent_source(
    gc: GANConfig, vae_run: Run, images: torch.Tensor, device: torch.device
) -> tuple[Callable[[int, torch.Generator], torch.Tensor], torch.Tensor]:
    """(draw(n, generator) -> G's z on `device`, the fixed z of the per-epoch grids).

    normal: N(0, I), and the VAE stage's grid z, so GAN grid k and VAE grid k decode the very same z.
    fitted: the Gaussian mixture fitted to the latents of `images`, the training images (prior.py), fitted once per VAE
    checkpoint and saved beside it, so a resumed or distributed run draws from the very same mixture.
    """
    latent_dim, seed = vae_run.config.model.latent_dim, vae_run.config.train.seed
    if gc.latents == "normal":
        grid_z = fixed_latents(gc.grid_size, latent_dim, seed).to(device)
        return lambda n, g: torch.randn(n, latent_dim, generator=g, device=device), grid_z
    prior = fitted_prior(vae_run, images=images).to(device)
    grid_z = prior.sample(gc.grid_size, torch.Generator(device).manual_seed(seed + 7919))
    return lambda n, g: prior.sample(n, g), grid_z


def open_gan_run(
    cfg: GANRunConfig,
    vae_cfg: VAERunConfig,
    run_dir: Path,
    splits: DataSplits,
    is_new: bool,
    progress: bool | None,
    changes: Changes,
) -> TrainingRun:
    gc = cfg.gan
    return start_run(
        "gan",
        run_dir,
        cfg,
        gc,
        lambda every: QualityMonitor(vae_cfg.data, splits, every, gc.quality_samples, gc.epochs),
        n_sums=len(MONITORS),  # per-step values, one weight per step
        is_new=is_new,
        advice="lower --lr-g/--lr-d (or train again with --spectral-norm)",
        progress=progress,
        changes=changes,
        probe=lambda device, processes: gan_probe(gc, vae_cfg, splits.train.images, device, processes),
    )


def gan_probe(
    gc: GANConfig, vae_cfg: VAERunConfig, images: torch.Tensor, device: torch.device = CPU, processes: int = 1
) -> speed.Probe:
    """The real GAN step (D, then G through D) on a real batch (one process's share of it), for the auto
    settings to time on `device`."""
    m, batch = vae_cfg.model, min(gc.batch_size // processes, len(images))
    shape = f"gan|{m.image_size}px|{m.channels}ch|z{m.latent_dim}|w{m.base_channels}|d{gc.disc_channels}|b{batch}"
    shape += f"|{gc.anchor}|sn{int(gc.spectral_norm)}" + ("|patch" if gc.disc_head == "patch" else "")
    shape += speed.decoder_key(m)
    shape += "|adaptive" if gc.adaptive_weight else ""  # two more backward passes to the last layer

    def prepare(bf16: bool, layout: torch.memory_format) -> Callable[[], object]:
        generator = place(Decoder(m), device, layout)
        disc = place(Discriminator.for_config(m, gc), device, layout)
        nets = GANNets(
            generator,
            disc,
            generator,
            disc,
            copy.deepcopy(generator),
            VAE(m).requires_grad_(False).to(device),
            adam(generator.parameters(), lr=gc.lr_g),
            adam(disc.parameters(), lr=gc.lr_d),
        )
        real = to_float(images[:batch].to(device), m.value_range).contiguous(memory_format=layout)
        z = torch.randn(batch, m.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)

        def step() -> object:
            return gan_step(nets, real, z, gc, gc.d_warmup_steps, device, bf16)  # past the D warm-up: G moves too

        return step

    return speed.Probe(shape, speed.timer(prepare, device), vae_cfg.data.cache_dir)


def build_nets(gc: GANConfig, vae: VAE, vae_cfg: VAERunConfig, run: TrainingRun) -> GANNets:
    """G (the VAE decoder, or random for init=scratch), D, the EMA of G, the frozen VAE and both optimisers."""
    device = run.device
    torch.manual_seed(gc.seed)
    generator = Decoder(vae_cfg.model)
    if gc.init == "vae":
        warm_start(generator, vae)
    place(generator, device, run.layout)
    disc = Discriminator.for_config(vae_cfg.model, gc, vae.encoder)
    place(disc, device, run.layout)
    frozen = vae.to(device).requires_grad_(False)  # the anchor's target, never trained here
    ema = copy.deepcopy(generator).requires_grad_(False)
    betas = (gc.beta1, gc.beta2)
    opt_g = adam(generator.parameters(), lr=gc.lr_g, betas=betas)
    opt_d = adam(disc.parameters(), lr=gc.lr_d, betas=betas)
    wrap = run.ctx.wrap
    value_range = vae_cfg.model.value_range
    run.postfix = {"D(x)": MONITORS.index("d_real"), "D(G(z))": MONITORS.index("d_fake")}
    run.watch = {"d_loss": MONITORS.index("d_loss"), "g_loss": MONITORS.index("g_loss")}
    # PSNR of G(mean of q(z|x)) beside the VAE decoder's: does the GAN keep the latent meaning?
    run.quality.track_reconstruction(lambda x: frozen.encode(x.to(device)).mean, value_range, frozen.decode)
    return GANNets(
        wrap(generator, device),
        wrap(disc, device),
        generator,
        disc,
        ema,
        frozen,
        opt_g,
        opt_d,
        lambda x: diff_augment(x, gc.diffaugment, value_range),
    )


def restore_nets(nets: GANNets, saved: GANCheckpoint) -> None:
    nets.generator.load_state_dict(saved.generator)
    nets.disc.load_state_dict(saved.discriminator)
    nets.ema.load_state_dict(saved.ema)
    restore_adam(nets.opt_g, saved.opt_g, saved.config.gan.lr_g)
    restore_adam(nets.opt_d, saved.opt_d, saved.config.gan.lr_d)


def warn_of_collapse(diversity: float, threshold: float, is_main: bool) -> None:
    if is_main and diversity < threshold:
        log.warning(
            "possible mode collapse: sample diversity is %.2f of the real data's (threshold %.2f). "
            "Look at the grids; try --anchor decoder, --spectral-norm or a lower --lr-g",
            diversity,
            threshold,
        )


@torch.no_grad()
def draw_samples(
    ema: Decoder, grid_z: torch.Tensor, folder: Path, epoch: int, value_range: tuple[float, float]
) -> None:
    save_grid(ema(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)


def generate(
    generator: torch.nn.Module,
    frozen: VAE,
    z: torch.Tensor,
    real: torch.Tensor,
    feature_anchor: bool,
    with_graph: bool,
    device: torch.device,
    bf16: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """fake = G(z), and for the feature and pixel anchors also G(mean of q(z|x)) from the same single forward.

    One forward per step keeps DistributedDataParallel's bookkeeping simple; without a G update this
    step there is no graph to keep.
    """
    if feature_anchor:
        with torch.no_grad():
            z = torch.cat([z, frozen.encode(real).mean])
    with torch.set_grad_enabled(with_graph), autocast(device, bf16):
        out = generator(z)
    if not feature_anchor:
        return out, None
    fake, fake_x = out.split(len(real))
    return fake, fake_x


def anchor_loss(
    kind: str,
    frozen: VAE,
    disc: Discriminator,
    z: torch.Tensor,
    fake: torch.Tensor,
    fake_x: torch.Tensor | None,
    real: torch.Tensor,
    pool: int = GANConfig.anchor_pool,
) -> torch.Tensor:
    """Keeps G near what the VAE taught it, per-pixel (or per-feature) mean squared error.

    decoder: ||G(z) - Dec_frozen(z)||^2 for the same prior z.
    feature: Larsen et al. 2016 (arXiv:1512.09300): D's last conv features of G(z_x) against those of
    the real x, with z_x the frozen encoder's posterior mean (deterministic, so every process count agrees).
    With the patch head, D's last conv map is its 8x8 one (128 channels at 64 px), not the 4x4 one.
    pixel: ||G(z_x) - x||^2 itself, the VAE's own reconstruction task kept while D sharpens G: what keeps
    the encoder's latents meaning the same images through the GAN (issue 12's PSNR through G).
    lowpass: the pixel anchor on `pool` x `pool` block means of both images. Colours, layout and shapes, what
    PSNR mostly measures, stay tied to x, while detail finer than a block, where the squared error can only
    pull G toward the blurry mean of what fits, is left to D.
    structure: 1 - MS-SSIM(G(z_x), x) (vaegan.metrics.ssim): local means, contrasts and correlations tied to x
    at three scales instead of every pixel's value, so D may move pixels that keep the structure.
    """
    if kind == "decoder":
        with torch.no_grad():
            target = frozen.decode(z)
        return F.mse_loss(fake.float(), target.float())
    assert fake_x is not None, f"the {kind} anchor needs G(z_x)"
    if kind == "pixel":
        return F.mse_loss(fake_x.float(), real.float())
    if kind == "lowpass":
        return F.mse_loss(F.avg_pool2d(fake_x.float(), pool), F.avg_pool2d(real.float(), pool))
    if kind == "structure":
        return structure_loss(fake_x, real, frozen.cfg.value_range).mean()
    with torch.no_grad():
        target = disc.feature_maps(real)
    return F.mse_loss(disc.feature_maps(fake_x).float(), target.float())


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; with decay 0 the EMA is the model itself."""
    ema_params: list[torch.Tensor] = list(ema.parameters())
    params: list[torch.Tensor] = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
