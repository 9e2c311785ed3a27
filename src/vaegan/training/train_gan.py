"""Stage 2: train a GAN whose generator starts as the trained VAE decoder, one explicit loop.

The step itself (D, then G through D, then the EMA) is gan_step.py's; this file builds the networks,
the latent source and the run around it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import GANCheckpoint
from vaegan.config import GANConfig, GANRunConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.errors import VaeganError
from vaegan.models.gan import build_discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.presets import gpu_budget, step_budget
from vaegan.prior import fitted_prior, saved_prior
from vaegan.runs import Run, open_run
from vaegan.training import speed
from vaegan.training.changes import Sections
from vaegan.training.common import CPU, fixed_latents, place, resolve_device, restore_adam
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.gan_step import MONITORS, GANNets, gan_step
from vaegan.training.loop import Placement, Sampler, ScoreHook, StepHook, TrainingResult, TrainingRun, setup_run
from vaegan.training.run_folder import resume_or_refuse
from vaegan.training.stopping import Clock
from vaegan.viz import save_grid

log = logging.getLogger(__name__)


def warm_start(generator: Decoder, vae: VAE) -> None:
    """Copy the VAE decoder into the generator; any key or shape mismatch is an error naming the keys."""
    try:
        generator.load_state_dict(vae.decoder.state_dict(), strict=True)
    except RuntimeError as exc:
        raise VaeganError(f"the generator does not match the VAE decoder: {exc}".replace("\n", " ")) from exc


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
    on_step: StepHook | None = None,
    score: ScoreHook | None = None,
    clock: Clock | None = None,
) -> TrainingResult:
    """Train the GAN stage for cfg.gan.epochs, writing metrics, grids and checkpoints under run_dir.

    resume=True continues run_dir's checkpoint exactly, with the `wanted` settings a resume may change.
    on_step(step, values) sees each step's MONITORS, as device tensors;
    score(seconds, sampler) is called after every step with the clock paused (the race scores samples so);
    `clock` is what cfg.gan.max_minutes counts on (default: one started with the first epoch).
    """
    run_dir = Path(run_dir)
    saved, changes = resume_or_refuse(run_dir, "gan", resume, wanted)
    if isinstance(saved, GANCheckpoint):
        cfg = saved.config
    # a resumed GAN follows its own link to its VAE (runs.find_vae), which survives moving the two together
    vae_file = open_run(run_dir).stage("vae").checkpoint_path if saved else cfg.vae_checkpoint
    vae_run = open_run(vae_file)
    vae_path = os.path.abspath(vae_run.stage("vae").checkpoint_path)
    cfg = replace(cfg, vae_checkpoint=vae_path)  # config.json: where the VAE was, from any folder
    vae_link = os.path.relpath(vae_path, os.path.abspath(run_dir))  # the checkpoint: where it is beside the GAN
    vae_cfg = vae_run.config
    if cfg.gan.latents == "fitted":
        saved_prior(vae_run)  # a damaged prior.pt is refused before any data is read or anything written
    latent_dim, value_range = vae_cfg.model.latent_dim, vae_cfg.model.value_range
    splits = splits or load_splits(vae_cfg.data)
    if saved is None:  # a GPU's batch; small data: enough epochs for min_steps (a resumed run keeps its budget)
        if resolve_device(cfg.gan.device).type == "cuda":
            cfg = replace(cfg, gan=gpu_budget(cfg.gan, (wanted or {}).get("gan", {}), "GAN"))
        cfg = replace(cfg, gan=step_budget(cfg.gan, len(splits.train), "GAN"))
    gc = cfg.gan
    probe = lambda device, processes: gan_probe(gc, vae_cfg, splits.train.images, device, processes)  # noqa: E731
    placement = setup_run(run_dir, cfg, gc, is_new=saved is None, probe=probe)
    device, ctx = placement.device, placement.ctx
    images = splits.train.images.to(device)
    nets = build_nets(gc, vae_run.vae(), vae_cfg, placement)
    draw_z, grid_z = latent_source(gc, vae_run, splits.train.images, device)
    diversity_z = draw_z(gc.diversity_samples, torch.Generator(device).manual_seed(gc.seed + 1))
    real_diversity = pairwise_diversity(to_float(splits.train.images[: gc.diversity_samples], value_range))
    if isinstance(saved, GANCheckpoint):
        restore_nets(nets, saved)
    elif ctx.is_main:
        draw_samples(nets.ema, grid_z, run_dir / "grids", 0, value_range)
    quality = QualityMonitor(
        vae_cfg.data, splits, gc.quality_every if ctx.is_main else 0, gc.quality_samples, gc.epochs
    )
    # PSNR of G(mean of q(z|x)) beside the VAE decoder's: does the GAN keep the latent meaning?
    encode = lambda x: nets.frozen.encode(x.to(device)).mean  # noqa: E731
    quality.track_reconstruction(encode, value_range, nets.frozen.decode, decode=nets.ema)
    sampler = Sampler("gan", lambda z: nets.ema(z.to(device)), lambda: draw_z, value_range, nets.disc, encode)
    run = TrainingRun(
        "gan",
        run_dir,
        cfg,
        placement,
        quality=quality,
        snapshot=lambda config, loop: GANCheckpoint(config, loop, vae_link, vae_cfg, *nets.state_dicts()),
        n_sums=len(MONITORS),  # per-step values, one weight per step
        watch={"d_loss": MONITORS.index("d_loss"), "g_loss": MONITORS.index("g_loss")},
        postfix={"D(x)": MONITORS.index("d_real"), "D(G(z))": MONITORS.index("d_fake")},
        advice="lower --lr-g/--lr-d (or train again with a higher --r1-gamma)",
        progress=progress,
        saved=saved.loop if isinstance(saved, GANCheckpoint) else None,
        changes=changes,
        on_step=on_step,
        scorer=None if score is None else lambda seconds: score(seconds, sampler),
        clock=clock,
        placed=(nets.generator, nets.disc, nets.ema),
    )

    record: dict[str, Any] = {}
    with run:
        for _ in run.epochs():
            for index in run.batches(len(images)):
                # z for the whole global batch, so every process count draws the same numbers.
                z = ctx.shard(draw_z(len(index), run.noise))
                # run.placement, not placement: the pace check may switch precision or layout (pace.py)
                real = to_float(images[ctx.shard(index)], value_range).contiguous(memory_format=run.placement.layout)
                monitors = gan_step(nets, real, z, gc=gc, step=run.loop.step, device=device, bf16=run.placement.bf16)
                run.add(monitors, 1)  # real: (B, C, H, W)

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
            warn_of_collapse(values["diversity"], gc.collapse_fraction, ctx.is_main)
    return run.result(record)


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
    prior = fitted_prior(vae_run, images=images, device=device).to(device)
    grid_z = prior.sample(gc.grid_size, torch.Generator(device).manual_seed(seed + 7919))
    return lambda n, g: prior.sample(n, g), grid_z


def gan_probe(
    gc: GANConfig, vae_cfg: VAERunConfig, images: torch.Tensor, device: torch.device = CPU, processes: int = 1
) -> speed.Probe:
    """The real GAN step (D, then G through D) on a real batch (one process's share of it), for the auto
    settings to time on `device`."""
    m, batch = vae_cfg.model, min(gc.batch_size // processes, len(images))

    def prepare(layout: torch.memory_format) -> Callable[[bool], object]:
        generator = place(Decoder(m), device, layout)
        disc = place(build_discriminator(m, gc), device, layout)
        nets = GANNets.build(generator, disc, VAE(m).requires_grad_(False).to(device), gc)
        real = to_float(images[:batch].to(device), m.value_range).contiguous(memory_format=layout)
        z = torch.randn(batch, m.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
        step = gc.d_warmup_steps  # past the D warm-up: G moves too
        return lambda bf16: gan_step(nets, real, z, gc=gc, step=step, device=device, bf16=bf16)

    return speed.Probe(speed.step_key("gan", batch, m, gc), speed.timer(prepare, device), vae_cfg.data.cache_dir)


def build_nets(gc: GANConfig, vae: VAE, vae_cfg: VAERunConfig, placement: Placement) -> GANNets:
    """G (the VAE decoder, or random for init=scratch), D, the EMA of G, the frozen VAE and both optimisers."""
    device, layout = placement.device, placement.layout
    torch.manual_seed(gc.seed)
    generator = Decoder(vae_cfg.model)
    if gc.init == "vae":
        warm_start(generator, vae)
    place(generator, device, layout)
    disc = place(build_discriminator(vae_cfg.model, gc, vae.encoder), device, layout)
    frozen = vae.to(device).requires_grad_(False)  # the anchor's target, never trained here
    return GANNets.build(generator, disc, frozen, gc, wrap=lambda net: placement.ctx.wrap(net, device))


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
            "Look at the grids; try --anchor decoder, a higher --r1-gamma or a lower --lr-g",
            diversity,
            threshold,
        )


@torch.no_grad()
def draw_samples(
    ema: Decoder, grid_z: torch.Tensor, folder: Path, epoch: int, value_range: tuple[float, float]
) -> None:
    save_grid(ema(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)
