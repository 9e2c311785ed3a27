"""Stage 2: train a GAN whose generator starts as the trained VAE decoder, one explicit loop.

Each step: (1) update D on real images and detached fakes, (2) update G through D (after the optional
D warm-up, once every d_steps), then move the EMA copy of G that draws every sample grid.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

from vaegan.checkpoint import (
    BEST_NAME,
    CHECKPOINT_NAME,
    load_checkpoint,
    resolve_checkpoint,
    restore_rng_state,
    rng_state,
    save_checkpoint,
)
from vaegan.config import GANConfig, GANRunConfig, VAERunConfig, from_dict, to_dict
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.errors import VaeganError
from vaegan.losses import discriminator_loss, generator_loss
from vaegan.metrics.monitor import QualityMonitor
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.runs import load_vae
from vaegan.training import distributed
from vaegan.training.common import (
    MetricsLog,
    Progress,
    StopRequest,
    TrainingStopped,
    adam,
    autocast,
    batches,
    check_finite,
    epoch_order,
    fixed_latents,
    memory_format,
    n_batches,
    open_run,
    place,
    resolve_device,
    restore_adam,
    restore_position,
    use_bf16,
    write_run_config,
)
from vaegan.viz import save_grid

log = logging.getLogger(__name__)

# Monitor sums per epoch, in this order; the last slot counts steps.
MONITORS = ("d_loss", "g_loss", "anchor", "d_real", "d_fake", "grad_d", "grad_g")


@dataclass(frozen=True)
class GANNets:
    """What one GAN step touches. trained_* are the networks to call (DDP-wrapped when distributed)."""

    trained_g: torch.nn.Module
    trained_d: torch.nn.Module
    generator: Decoder
    ema: Decoder
    frozen: VAE
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer


@dataclass(frozen=True)
class GANResult:
    checkpoint: Path
    metrics: dict[str, Any]


def warm_start(generator: Decoder, vae: VAE) -> None:
    """Copy the VAE decoder into the generator; any key or shape mismatch is an error naming the keys."""
    try:
        generator.load_state_dict(vae.decoder.state_dict(), strict=True)
    except RuntimeError as exc:
        raise VaeganError(f"the generator does not match the VAE decoder: {exc}".replace("\n", " ")) from exc


def gan_step(
    nets: GANNets, real: torch.Tensor, z: torch.Tensor, gc: GANConfig, step: int, device: torch.device, bf16: bool
) -> torch.Tensor:
    """Training step `step` on real (B, C, H, W) and prior z (B, latent_dim); returns the MONITORS and a 1.

    (1) update D on real vs detached G(z); (2) after the D warm-up and once every d_steps, update G
    through the updated D, then move the EMA.
    """
    g_moves = step >= gc.d_warmup_steps and step % gc.d_steps == 0
    weight = anchor_weight(step, gc) if g_moves else 0.0
    fake, fake_x = generate(
        nets.trained_g, nets.frozen, z, real, gc.anchor == "feature" and weight > 0, g_moves, device, bf16
    )
    d_loss, real_logits, fake_logits = discriminator_step(nets.trained_d, nets.opt_d, real, fake, gc.loss, device, bf16)
    grad_d = grad_norm(nets.trained_d)
    g_loss = anchor = grad_g = torch.zeros((), device=device)
    if g_moves:
        g_loss, anchor, grad_g = generator_step(
            nets.trained_g, nets.trained_d, nets.opt_g, z, fake, fake_x, real, gc, weight, nets.frozen, device, bf16
        )
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
            torch.ones((), device=device),
        ]
    )


def discriminator_step(
    disc: torch.nn.Module,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    fake: torch.Tensor,
    kind: str,
    device: torch.device,
    bf16: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(1) One D update on real images and *detached* fakes; returns (loss, real logits, fake logits)."""
    with autocast(device, bf16):
        # One forward over real and fake together: one pass for DistributedDataParallel, bigger kernels.
        real_logits, fake_logits = disc(torch.cat([real, fake.detach()])).split([len(real), len(fake)])
    loss = discriminator_loss(real_logits, fake_logits, kind)
    opt_d.zero_grad(set_to_none=True)
    loss.backward()
    opt_d.step()
    return loss.detach(), real_logits.detach(), fake_logits.detach()


def generator_step(
    generator: torch.nn.Module,
    disc: torch.nn.Module,
    opt_g: torch.optim.Optimizer,
    z: torch.Tensor,
    fake: torch.Tensor,
    fake_x: torch.Tensor | None,
    real: torch.Tensor,
    gc: GANConfig,
    weight: float,
    frozen: VAE,
    device: torch.device,
    bf16: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(2) One G update through D on fake = G(z) (graph kept); returns (adversarial loss, anchor, grad norm).

    `fake_x` is G(mean of q(z|x)) for the feature anchor, else None. Gradients also land in D's
    parameters, but only opt_g steps, and D's own step zeroes them first.
    """
    anchor = torch.zeros((), device=fake.device)
    with autocast(device, bf16):
        g_loss = generator_loss(disc(fake), gc.loss)
        if weight > 0:
            anchor = anchor_loss(gc.anchor, frozen, disc, z, fake, fake_x, real)
    opt_g.zero_grad(set_to_none=True)
    (g_loss + weight * anchor).backward()
    norm = grad_norm(generator)
    opt_g.step()
    return g_loss.detach(), anchor.detach(), norm


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
    splits: DataSplits | None = None,
    progress: bool | None = None,
) -> GANResult:
    """Train the GAN stage for cfg.gan.epochs, writing metrics, grids and checkpoints under run_dir."""
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME
    state = open_run(run_dir, "gan", resume)
    if state is not None:
        cfg = from_dict(GANRunConfig, state["config"])
    gc = cfg.gan
    ctx, device = distributed.setup(resolve_device(gc.device))
    distributed.check_batch(gc.batch_size, ctx)
    if ctx.active and gc.anchor == "feature":
        raise VaeganError("the feature anchor runs D twice per G step, which DDP does not allow; use --anchor decoder")
    ctx.barrier()  # every rank has looked for the checkpoint before rank 0 writes anything
    vae, vae_cfg = load_vae(cfg.vae_checkpoint)
    vae_path = str(resolve_checkpoint(cfg.vae_checkpoint).resolve())
    write_run_config(cfg, run_dir, ctx.is_main, new=state is None)
    bf16 = use_bf16(gc.precision, device)
    fmt = memory_format(gc.memory_format, device, vae_cfg.model.image_size)
    splits = splits or load_splits(vae_cfg.data)
    images = splits.train.images.to(device)
    value_range = vae_cfg.model.value_range
    latent_dim = vae_cfg.model.latent_dim

    torch.manual_seed(gc.seed)
    generator = Decoder(vae_cfg.model)
    if gc.init == "vae":
        warm_start(generator, vae)
    place(generator, device, fmt)
    disc = Discriminator(vae_cfg.model.image_size, vae_cfg.model.channels, gc.disc_channels, gc.spectral_norm)
    place(disc, device, fmt)
    frozen = vae.to(device).requires_grad_(False)  # the anchor's target, never trained here
    ema = copy.deepcopy(generator).requires_grad_(False)
    betas = (gc.beta1, gc.beta2)
    opt_g = adam(generator.parameters(), lr=gc.lr_g, betas=betas)
    opt_d = adam(disc.parameters(), lr=gc.lr_d, betas=betas)
    nets = GANNets(ctx.wrap(generator, device), ctx.wrap(disc, device), generator, ema, frozen, opt_g, opt_d)
    noise = torch.Generator(device).manual_seed(gc.seed + 1)
    # The VAE stage's grid seed, so GAN grid k and VAE grid k decode the very same z.
    grid_z = fixed_latents(gc.grid_size, latent_dim, vae_cfg.train.seed).to(device)
    real_diversity = pairwise_diversity(to_float(splits.train.images[: gc.diversity_samples], value_range))

    epoch, batch_in_epoch, step = 1, 0, 0
    sums = torch.zeros(len(MONITORS) + 1, device=device)
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    quality = QualityMonitor(
        vae_cfg.data, splits, gc.quality_every if ctx.is_main else 0, gc.quality_samples, gc.epochs
    )
    if state is None:
        if ctx.is_main:
            with torch.no_grad():
                save_grid(ema(grid_z).float(), run_dir / "grids" / "samples_e000.png", value_range)
    else:
        generator.load_state_dict(state["generator"])
        disc.load_state_dict(state["discriminator"])
        ema.load_state_dict(state["ema"])
        restore_adam(opt_g, state["opt_g"])
        restore_adam(opt_d, state["opt_d"])
        restore_rng_state(state["rng"], {"noise": noise})
        quality.best_fid = state.get("best_fid", math.inf)
        epoch, batch_in_epoch, step, sums = restore_position(state, "gan", ctx.is_main, sums, metrics, run_dir)

    def checkpoint(path: Path = ckpt_path) -> None:
        if not ctx.is_main:
            return
        save_checkpoint(
            {
                "stage": "gan",
                "config": to_dict(cfg),
                "vae_checkpoint": vae_path,
                "vae_config": to_dict(vae_cfg),  # rebuilds the generator without the VAE file
                "generator": generator.state_dict(),
                "discriminator": disc.state_dict(),
                "ema": ema.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
                "step": step,
                "sums": sums.cpu(),
                "rng": rng_state({"noise": noise}),
                "best_fid": quality.best_fid,
            },
            path,
        )

    bar = Progress("gan", gc.epochs, enabled=progress if ctx.is_main else False)
    record: dict[str, Any] = {}
    with StopRequest() as stop:
        while epoch <= gc.epochs:
            order = epoch_order(len(images), gc.seed, epoch)
            bar.start_epoch(epoch, n_batches(len(order), gc.batch_size), batch_in_epoch)
            started = time.perf_counter()
            for index in batches(order, gc.batch_size, start=batch_in_epoch, min_size=ctx.world_size):
                # z for the whole global batch, so every process count draws the same numbers.
                z = ctx.shard(torch.randn(len(index), latent_dim, generator=noise, device=device))
                real = to_float(images[ctx.shard(index)], value_range).contiguous(memory_format=fmt)  # (B, C, H, W)
                values = gan_step(nets, real, z, gc, step, device, bf16)
                step += 1
                batch_in_epoch += 1
                sums += values
                bar.step(
                    {"D(x)": float(values[3]), "D(G(z))": float(values[4])}
                    if bar.interactive and step % 10 == 0
                    else None
                )
                if ctx.any(stop.requested, device):
                    check_finite(ctx.sum_(sums), "a GAN loss", ckpt_path)
                    checkpoint()
                    raise TrainingStopped(
                        f"stopped at GAN epoch {epoch}, step {step}; checkpoint saved. Resume with --resume"
                    )

            train_seconds = time.perf_counter() - started
            check_finite(ctx.sum_(sums), f"a GAN loss in epoch {epoch}", ckpt_path)
            means = (sums[:-1] / sums[-1]).tolist()
            record = {"stage": "gan", "epoch": epoch, "step": step, **dict(zip(MONITORS, means, strict=True))}
            with torch.no_grad():
                samples = ema(fixed_latents(gc.diversity_samples, latent_dim, gc.seed + 1).to(device)).float()
            record["diversity"] = pairwise_diversity(samples) / real_diversity
            record["train_seconds"] = train_seconds
            record["seconds"] = time.perf_counter() - started
            diverged = abs(record["g_loss"]) > 1e3 or abs(record["d_loss"]) > 1e3
            if diverged:
                raise VaeganError(
                    f"the GAN diverged in epoch {epoch} "
                    f"(D loss {record['d_loss']:.3g}, G loss {record['g_loss']:.3g}); "
                    f"the last good checkpoint {ckpt_path} is kept. Try --spectral-norm or lower learning rates"
                )
            new_best = quality.update(record, epoch, lambda z: ema(z.to(device)), latent_dim, value_range)
            if ctx.is_main:
                with torch.no_grad():
                    save_grid(ema(grid_z).float(), run_dir / "grids" / f"samples_e{epoch:03d}.png", value_range)
                metrics.append(record)
            if ctx.is_main and record["diversity"] < gc.collapse_fraction:
                log.warning(
                    "possible mode collapse: sample diversity is %.2f of the real data's (threshold %.2f). "
                    "Look at the grids; try --anchor decoder, --spectral-norm or a lower --lr-g",
                    record["diversity"],
                    gc.collapse_fraction,
                )
            bar.end_epoch(
                f"gan epoch {epoch}/{gc.epochs}: D(x) {record['d_real']:.3f} D(G(z)) {record['d_fake']:.3f} "
                f"D loss {record['d_loss']:.3f} G loss {record['g_loss']:.3f} "
                f"diversity {record['diversity']:.2f}, {record['seconds']:.1f}s"
            )
            epoch, batch_in_epoch = epoch + 1, 0
            sums = torch.zeros(len(MONITORS) + 1, device=device)
            if (epoch - 1) % gc.checkpoint_every == 0 or epoch > gc.epochs:
                checkpoint()
            if new_best:
                checkpoint(run_dir / BEST_NAME)
    ctx.barrier()
    return GANResult(checkpoint=ckpt_path, metrics=record)


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
    """fake = G(z), and for the feature anchor also G(mean of q(z|x)) from the same single forward.

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
    disc: torch.nn.Module,
    z: torch.Tensor,
    fake: torch.Tensor,
    fake_x: torch.Tensor | None,
    real: torch.Tensor,
) -> torch.Tensor:
    """Keeps G near what the VAE taught it, per-pixel (or per-feature) mean squared error.

    decoder: ||G(z) - Dec_frozen(z)||^2 for the same prior z.
    feature: Larsen et al. 2016 (arXiv:1512.09300): D's last conv features of G(z_x) against those of
    the real x, with z_x the frozen encoder's posterior mean (deterministic, so every process count agrees).
    """
    if kind == "decoder":
        with torch.no_grad():
            target = frozen.decode(z)
        return F.mse_loss(fake.float(), target.float())
    assert fake_x is not None, "the feature anchor needs G(z_x)"
    plain = cast(Discriminator, disc)  # train_gan refuses the feature anchor under DDP, so D is unwrapped
    with torch.no_grad():
        target = plain.feature_maps(real)
    return F.mse_loss(plain.feature_maps(fake_x).float(), target.float())


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model; with decay 0 the EMA is the model itself."""
    ema_params: list[torch.Tensor] = list(ema.parameters())
    params: list[torch.Tensor] = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)


def load_generator(path_or_run: str | Path, use_ema: bool = True) -> tuple[Decoder, VAERunConfig]:
    """The trained generator (EMA weights by default) of a GAN checkpoint, in eval mode on the CPU."""
    payload = load_checkpoint(path_or_run)
    if payload["stage"] != "gan":
        raise VaeganError(f"{payload['path']} is a VAE checkpoint; pass the GAN run (train-gan's --out)")
    vae_cfg = from_dict(VAERunConfig, payload["vae_config"])
    generator = Decoder(vae_cfg.model)
    generator.load_state_dict(payload["ema" if use_ema else "generator"])
    return generator.eval(), vae_cfg
