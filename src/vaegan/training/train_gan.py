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

import torch

from vaegan.checkpoint import GANCheckpoint, LoopState
from vaegan.config import GANConfig, GANRunConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.errors import VaeganError, first_time
from vaegan.metrics.collapse import Diversity
from vaegan.models.gan import build_discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.prior import fitted_prior, saved_prior
from vaegan.runs import Run, open_run
from vaegan.training.changes import Sections
from vaegan.training.common import fixed_latents, place, restore_adam
from vaegan.training.epoch_log import DrawGrids, held_out_grid
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.gan_step import G_MONITORS, MONITORS, GANNets, g_moved, gan_step
from vaegan.training.loop import (
    Hooks,
    Latents,
    Record,
    Reporting,
    Sampler,
    StepHook,
    TrainingResult,
    TrainingRun,
    check_saved_loop,
)
from vaegan.training.placement import Placement, setup_run
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


def refuse_before_data(gc: GANConfig, vae_run: Run) -> None:
    """What a GAN stage refuses before any data is read or anything written: a damaged prior.pt."""
    if gc.latents == "fitted":
        saved_prior(vae_run)


def train_gan(
    cfg: GANRunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    wanted: Sections | None = None,
    splits: DataSplits | None = None,
    progress: bool | None = None,
    on_step: StepHook | None = None,
    clock: Clock | None = None,
) -> TrainingResult:
    """Train exactly `cfg` (presets.gan_budget sizes a new one), writing metrics, grids and checkpoints under
    run_dir. resume=True continues run_dir's checkpoint exactly, with the `wanted` settings a resume may change.
    on_step sees each step's MONITORS; clock: loop.Hooks."""
    run_dir = Path(run_dir)
    saved, changes = resume_or_refuse(run_dir, "gan", resume, wanted)
    cfg = saved.config if isinstance(saved, GANCheckpoint) else cfg
    cfg, vae_run, vae_link = link_vae(cfg, run_dir, resumed=saved is not None)
    vae_cfg, gc = vae_run.config, cfg.gan
    refuse_before_data(gc, vae_run)
    splits = splits or load_splits(vae_cfg.data, vae_run.path)
    placement = setup_run(run_dir, cfg, gc, is_new=saved is None, stage="gan")
    device, ctx, value_range = placement.device, placement.ctx, vae_cfg.model.value_range
    if isinstance(saved, GANCheckpoint):  # before a prior is fitted and saved: a refused resume writes nothing
        check_saved_loop(saved.loop, gc, GAN_REPORTING, len(splits.train), ctx.world_size, run_dir)
    images = splits.train.images.to(device)
    nets = build_nets(gc, vae_run.vae(), vae_cfg, placement)
    draw_z, grid_z = latent_source(gc, vae_run, splits.train.images, device)
    grid_means = held_out_means(nets, splits, gc.grid_size, value_range, device)
    diversity = gan_diversity(nets, draw_z, splits, gc, value_range)
    draw = lambda folder, epoch: draw_samples(nets.ema, grid_z, grid_means, folder, epoch, value_range)  # noqa: E731
    start_nets(nets, saved, draw, run_dir, ctx.is_main)
    sampler = gan_sampler(nets, draw_z, device, value_range)
    quality = gan_quality(vae_cfg, gc, splits, ctx.is_main, nets, sampler)
    run = TrainingRun(
        "gan",
        run_dir,
        cfg,
        placement,
        quality=quality,
        snapshot=lambda config, loop: GANCheckpoint(config, loop, vae_link, vae_cfg, *nets.state_dicts()),
        reporting=GAN_REPORTING,
        progress=progress,
        resume=(saved.loop, changes) if isinstance(saved, GANCheckpoint) else None,
        hooks=Hooks(on_step, clock),
        sampler=sampler,
    )
    record: Record = {}
    with run:
        while run.next_epoch():
            for index in run.epoch_batches(len(images)):
                z = ctx.shard(draw_z(len(index), run.noise))  # the global batch's: same for any process count
                real = to_float(images[ctx.shard(index)], value_range).contiguous(memory_format=placement.layout)
                monitors = gan_step(nets, real, z, gc=gc, step=run.loop.step, device=device, bf16=placement.bf16)
                run.add(monitors, 1)  # real: (B, C, H, W)
                if run.end_step():
                    break
            record = end_gan_epoch(run, nets, draw_z, diversity, draw, vae_cfg.model.latent_dim)
    return run.result(record)


GAN_REPORTING = Reporting(
    n_sums=len(MONITORS),  # per-step values, one weight per step
    watch={"d_loss": MONITORS.index("d_loss"), "g_loss": MONITORS.index("g_loss")},
    postfix={"D(x)": MONITORS.index("d_real"), "D(G(z))": MONITORS.index("d_fake")},
    advice="lower --lr-g/--lr-d (or train again with a higher --r1-gamma)",
)


def end_gan_epoch(
    run: TrainingRun, nets: GANNets, draw_z: Latents, diversity: Diversity, draw: DrawGrids, latent_dim: int
) -> Record:
    """The epoch's monitors and diversity, then the run's record (FID & co. of the EMA generator on the same z
    every epoch), grids and checkpoint; a warning when the samples collapse."""
    values = dict(zip(MONITORS, run.epoch_means(), strict=True))
    share = g_share(run.loop, run.config.gan)  # G's monitors: means over the steps G moved
    values |= {key: values[key] / share if share else 0.0 for key in G_MONITORS}
    values["diversity"] = diversity.measure()
    gc = run.config.gan
    decode = quality_draw(nets.ema, draw_z, gc.seed, run.placement.device)
    record = run.end_epoch(values, decode, latent_dim, draw, gan_summary(values))
    if run.placement.ctx.is_main:
        warn_of_collapse(values["diversity"], gc.collapse_fraction, record["epoch"], run.folder.path)
    return record


def g_share(loop: LoopState, gc: GANConfig) -> float:
    """The share of the epoch's steps so far on which G moved, from where the epoch stands (gan_step.g_moved)."""
    first = loop.step - loop.batch_in_epoch
    moved = g_moved(gc, loop.step) - g_moved(gc, first)
    return moved / loop.batch_in_epoch if loop.batch_in_epoch else 0.0


def quality_draw(
    decode: Callable[[torch.Tensor], torch.Tensor], draw_z: Latents, seed: int, device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    """decode of z from draw_z with a generator seeded seed + 2 afresh (the incoming z only sets how many): the
    z of each logged GAN FID & co., which summary.txt scores both stages on, so its GAN FID is the log's."""
    noise = torch.Generator(device).manual_seed(seed + 2)
    return lambda z: decode(draw_z(len(z), noise))


def gan_summary(values: dict[str, float]) -> str:
    return (
        f"D(x) {values['d_real']:.3f} D(G(z)) {values['d_fake']:.3f} D loss {values['d_loss']:.3f} "
        f"G loss {values['g_loss']:.3f} diversity {values['diversity']:.2f}"
    )


def link_vae(cfg: GANRunConfig, run_dir: Path, *, resumed: bool) -> tuple[GANRunConfig, Run, str]:
    """(cfg naming the VAE by its absolute path, for config.json; the VAE's run; its path relative to run_dir,
    for the checkpoint). A resumed GAN follows its own link to its VAE (runs.find_vae), which survives moving
    the two together."""
    vae_file = open_run(run_dir).stage("vae").checkpoint_path if resumed else cfg.vae_checkpoint
    vae_run = open_run(vae_file)
    vae_path = os.path.abspath(vae_run.stage("vae").checkpoint_path)
    return replace(cfg, vae_checkpoint=vae_path), vae_run, os.path.relpath(vae_path, os.path.abspath(run_dir))


def gan_quality(
    vae_cfg: VAERunConfig,
    gc: GANConfig,
    splits: DataSplits,
    is_main: bool,
    nets: GANNets,
    sampler: Sampler,
) -> QualityMonitor:
    """FID & co. every quality_every epochs (rank 0 alone), and PSNR of G(mean of q(z|x)) beside the VAE
    decoder's: does the GAN keep the latent meaning?"""
    quality = QualityMonitor(vae_cfg.data, splits, gc.quality_every if is_main else 0, gc.quality_samples, gc.epochs)
    assert sampler.encode is not None
    quality.track_reconstruction(sampler.encode, vae_cfg.model.value_range, nets.frozen.decode, decode=nets.ema)
    return quality


def gan_sampler(nets: GANNets, draw_z: Latents, device: torch.device, value_range: tuple[float, float]) -> Sampler:
    """The GAN as its quality metrics draw it: the EMA generator on the prior's z, and the frozen encoder's means."""
    encode = lambda x: nets.frozen.encode(x.to(device)).mean  # noqa: E731
    return Sampler("gan", lambda z: nets.ema(z.to(device)), lambda: draw_z, value_range, encode=encode)


def latent_source(
    gc: GANConfig, vae_run: Run, images: torch.Tensor, device: torch.device
) -> tuple[Callable[[int, torch.Generator], torch.Tensor], torch.Tensor]:
    """(draw(n, generator) -> G's z on `device`, the fixed z of the per-epoch grids).

    normal: N(0, I), and the VAE stage's grid z, so GAN grid k and VAE grid k decode the very same z.
    fitted: the prior fitted to the latents of `images`, the training images (prior.py: the mixture or the flow), fitted
    once per VAE checkpoint and saved beside it, so a resumed or distributed run draws from the very same prior.
    """
    latent_dim, seed = vae_run.config.model.latent_dim, vae_run.config.train.seed
    if gc.latents == "normal":
        grid_z = fixed_latents(gc.grid_size, latent_dim, seed).to(device)
        return lambda n, g: torch.randn(n, latent_dim, generator=g, device=device), grid_z
    prior = fitted_prior(vae_run, images=images, device=device).to(device)
    grid_z = prior.sample(gc.grid_size, torch.Generator(device).manual_seed(seed + 7919))
    return lambda n, g: prior.sample(n, g), grid_z


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


def start_nets(nets: GANNets, saved: object, draw: DrawGrids, run_dir: Path, is_main: bool) -> None:
    """A resumed run's networks as saved; a new one's epoch-0 grids: the warm-started G, the VAE's decoder."""
    if isinstance(saved, GANCheckpoint):
        restore_nets(nets, saved)
    elif is_main:
        draw(run_dir / "grids", 0)


def restore_nets(nets: GANNets, saved: GANCheckpoint) -> None:
    nets.generator.load_state_dict(saved.generator)
    nets.disc.load_state_dict(saved.discriminator)
    nets.ema.load_state_dict(saved.ema)
    restore_adam(nets.opt_g, saved.opt_g, saved.config.gan.lr_g)
    restore_adam(nets.opt_d, saved.opt_d, saved.config.gan.lr_d)


def gan_diversity(
    nets: GANNets, draw_z: Latents, splits: DataSplits, gc: GANConfig, value_range: tuple[float, float]
) -> Diversity:
    """The EMA generator's diversity on fixed z over the training images': near 0 when G collapsed."""
    device = next(nets.ema.parameters()).device
    z = draw_z(gc.diversity_samples, torch.Generator(device).manual_seed(gc.seed + 1))
    return Diversity(nets.ema, z, to_float(splits.train.images[: gc.diversity_samples], value_range))


def warn_of_collapse(diversity: float, threshold: float, epoch: int, run_dir: Path) -> None:
    """A collapsed G stays collapsed: one warning per run, each epoch's value in metrics.jsonl."""
    if diversity < threshold and first_time(("mode collapse", str(run_dir))):
        log.warning(
            "possible mode collapse at epoch %d: sample diversity is %.2f of the real data's (threshold %.2f; "
            "said once, metrics.jsonl has it per epoch). Look at the grids; try --anchor decoder, a higher "
            "--r1-gamma or a lower --lr-g",
            epoch,
            diversity,
            threshold,
        )


@torch.no_grad()
def held_out_means(
    nets: GANNets, splits: DataSplits, n: int, value_range: tuple[float, float], device: torch.device
) -> torch.Tensor:
    """The posterior means (n, latent_dim) of the held-out images the VAE's grids decode, by the frozen encoder."""
    return nets.frozen.encode(to_float(splits.held_out.images[:n].to(device), value_range)).mean


@torch.no_grad()
def draw_samples(
    ema: Decoder,
    grid_z: torch.Tensor,
    grid_means: torch.Tensor,
    folder: Path,
    epoch: int,
    value_range: tuple[float, float],
) -> None:
    """samples_eNNN.png from the GAN's fixed z; heldout_eNNN.png from the held-out images' means, as the VAE's."""
    save_grid(ema(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)
    save_grid(ema(grid_means).float(), held_out_grid(folder, epoch), value_range)
