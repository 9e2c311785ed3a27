"""Stage 1: train the VAE (or the AE baseline) on in-memory uint8 images, one explicit loop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import VAECheckpoint
from vaegan.config import GANConfig, LossConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.losses import kl_weight, vae_loss
from vaegan.metrics.collapse import Diversity
from vaegan.models.vae import VAE
from vaegan.prior import fit_to_images
from vaegan.training.changes import Sections
from vaegan.training.common import (
    adam,
    autocast,
    compiled,
    fixed_latents,
    place,
    restore_adam,
    warm_up_lr,
)
from vaegan.training.epoch_log import DrawGrids, held_out_grid
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.loop import (
    Hooks,
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


def train_vae(
    cfg: VAERunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    wanted: Sections | None = None,
    splits: DataSplits | None = None,
    progress: bool | None = None,
    on_step: StepHook | None = None,
    clock: Clock | None = None,
) -> TrainingResult:
    """Train exactly `cfg` (presets.vae_budget sizes a new one), writing config, metrics, grids and checkpoints
    under run_dir. resume=True takes the config from run_dir's checkpoint and continues at its exact batch and
    noise, with the `wanted` settings a resume may change (training.changes: more epochs, another --lr, ...).
    on_step sees each step's (total, reconstruction, kl) batch means; clock: loop.Hooks."""
    run_dir = Path(run_dir)
    saved, changes = resume_or_refuse(run_dir, "vae", resume, wanted)
    cfg = saved.config if isinstance(saved, VAECheckpoint) else cfg
    splits = splits or load_splits(cfg.data, run_dir if saved else None)
    placement = setup_run(run_dir, cfg, cfg.train, is_new=saved is None, stage="vae")
    device, ctx, value_range = placement.device, placement.ctx, cfg.model.value_range
    if isinstance(saved, VAECheckpoint):  # before anything is written: a refused resume changes nothing
        check_saved_loop(saved.loop, cfg.train, VAE_REPORTING, len(splits.train), ctx.world_size, run_dir)
    images = splits.train.images.to(device)
    model, optimizer = build_vae(cfg, placement, saved)
    step = vae_step_for(cfg, ctx.wrap(model, device), optimizer, placement)
    sampler = vae_sampler(model, images, device, value_range)
    run = TrainingRun(
        "vae",
        run_dir,
        cfg,
        placement,
        quality=vae_quality(cfg, splits, ctx.is_main, sampler),
        snapshot=lambda config, loop: VAECheckpoint(config, loop, model.state_dict(), optimizer.state_dict()),
        reporting=VAE_REPORTING,
        progress=progress,
        resume=(saved.loop, changes) if isinstance(saved, VAECheckpoint) else None,
        hooks=Hooks(on_step, clock),
        sampler=sampler,
    )
    val_images = held_out(splits, cfg)
    draw = grid_writer(model, cfg, val_images, device)
    diversity = sample_diversity(model, cfg, splits, device)
    record: Record = {}
    with run:
        while run.next_epoch():
            model.train()
            for index in run.epoch_batches(len(images)):
                # eps for the whole global batch, so every process count draws the same numbers.
                eps = torch.randn(len(index), cfg.model.latent_dim, generator=run.noise, device=device)
                index, eps = ctx.shard(index), ctx.shard(eps)
                x = to_float(images[index], value_range).contiguous(memory_format=placement.layout)  # (B, C, H, W)
                losses = step(x, eps, run.loop.step)
                run.add(torch.stack([losses["total"], losses["reconstruction"], losses["kl"]]), len(index))
                if run.end_step():
                    break
            record = end_vae_epoch(run, model, cfg, val_images, draw, diversity)
    return run.result(record)


def end_vae_epoch(
    run: TrainingRun, model: VAE, cfg: VAERunConfig, val_images: torch.Tensor, draw: DrawGrids, diversity: Diversity
) -> Record:
    """The epoch's training means, validation on held-out images and sample diversity, then the run's record,
    grids and checkpoint."""
    train = dict(zip(("train/total", "train/reconstruction", "train/kl"), run.epoch_means(), strict=True))
    val = validate(model, val_images, cfg, run.placement.device, run.placement.bf16)
    beta = kl_weight(run.loop.step, cfg.loss.beta, cfg.loss.kl_warmup_steps)
    values = {"beta": beta, **train, **val, "diversity": diversity.measure()}
    summary = (
        f"train {train['train/total']:.4g}, val -ELBO {val['val/neg_elbo']:.4g} "
        f"(rec {val['val/reconstruction']:.4g}, kl {val['val/kl']:.4g})"
    )
    return run.end_epoch(values, run.sampler.decode, cfg.model.latent_dim, draw, summary)


DIVERSITY_SAMPLES = 64  # decoded once an epoch: a diversity near 0 is plain at this count, and cheap


def sample_diversity(model: VAE, cfg: VAERunConfig, splits: DataSplits, device: torch.device) -> Diversity:
    """The decoder's samples of fixed z ~ N(0, I) against the training images, as the GAN's diversity: near 0 for
    a decoder that has not learnt to draw (metrics.collapse)."""
    z = fixed_latents(DIVERSITY_SAMPLES, cfg.model.latent_dim, cfg.train.seed + 1).to(device)
    real = splits.train.images[: GANConfig.diversity_samples]  # the GAN's default: the two stages' compare
    return Diversity(model.decode, z, to_float(real, cfg.model.value_range))


VAE_REPORTING = Reporting(
    n_sums=3,  # total, reconstruction, kl: per-image means, weighted by images
    watch={"train/total": 0},
    postfix={"loss": 0},
    advice="a lower --lr (or a smaller --beta)",
)


def vae_sampler(model: VAE, images: torch.Tensor, device: torch.device, value_range: tuple[float, float]) -> Sampler:
    """The VAE as its quality metrics draw it: decoding z from the prior fitted to the training latents, as `vaegan
    sample` draws a VAE's, and encoding to posterior means for PSNR."""
    encode = lambda x: model.encode(x.to(device)).mean  # noqa: E731
    decode = lambda z: model.decode(z.to(device))  # noqa: E731
    return Sampler("vae", decode, lambda: fit_to_images(model, images).sample, value_range, encode=encode)


def vae_quality(cfg: VAERunConfig, splits: DataSplits, is_main: bool, sampler: Sampler) -> QualityMonitor:
    """FID & co. every quality_every epochs (rank 0 alone), PSNR through the posterior means."""
    s = cfg.train
    quality = QualityMonitor(cfg.data, splits, s.quality_every if is_main else 0, s.quality_samples, s.epochs)
    assert sampler.encode is not None
    quality.track_reconstruction(sampler.encode, sampler.value_range)
    return quality


def build_vae(cfg: VAERunConfig, placement: Placement, saved: object) -> tuple[VAE, torch.optim.Optimizer]:
    """The model and its Adam, fresh from the seed or with the weights and state `saved` left."""
    torch.manual_seed(cfg.train.seed)
    model = place(VAE(cfg.model), placement.device, placement.layout)
    optimizer = adam(model.parameters(), lr=cfg.train.lr)
    if isinstance(saved, VAECheckpoint):
        model.load_state_dict(saved.model)
        restore_adam(optimizer, saved.optimizer, cfg.train.lr)
    return model, optimizer


VAEStep = Callable[[torch.Tensor, torch.Tensor, int], dict[str, torch.Tensor]]  # (x, eps, step number) -> losses


def vae_step_for(
    cfg: VAERunConfig, model: Callable[..., Any], optimizer: torch.optim.Optimizer, placement: Placement
) -> VAEStep:
    """The stage's training step, for the loop and the benchmarks alike: the learning-rate and KL warm-ups of
    step t, then vae_step; under --compile on, the VAE and its loss compiled (off under torchrun: DDP's hooks
    would split the graph)."""
    m, loss, s = cfg.model, cfg.loss, cfg.train
    forward, loss_fn = model, vae_loss
    if s.compile == "on" and placement.ctx.world_size == 1:
        forward, loss_fn = compiled_parts(model)

    def step(x: torch.Tensor, eps: torch.Tensor, t: int) -> dict[str, torch.Tensor]:
        warm_up_lr(optimizer, s.lr, t, s.lr_warmup_steps)
        beta = kl_weight(t, loss.beta, loss.kl_warmup_steps)
        return vae_step(
            forward,
            optimizer,
            x,
            eps,
            loss=loss,
            beta=beta,
            value_range=m.value_range,
            device=placement.device,
            bf16=placement.bf16,
            loss_fn=loss_fn,
        )

    return step


def compiled_parts(model: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., dict[str, torch.Tensor]]]:
    """The VAE's forward and vae_loss under torch.compile, as vae_step calls them."""
    compiled_loss = compiled(vae_loss)

    def fast_loss(x_hat: torch.Tensor, x: torch.Tensor, kl: torch.Tensor, kind: str, beta: float, *rest: Any) -> Any:
        # beta as a tensor: dynamo takes a float for a constant, and the KL warm-up changes it every step
        return compiled_loss(x_hat, x, kl, kind, torch.tensor(beta, dtype=torch.float32), *rest)

    return compiled(model), fast_loss


def held_out(splits: DataSplits, cfg: VAERunConfig) -> torch.Tensor:
    """The validation images; the training images, with a warning, when none were held out."""
    if len(splits.val):
        return splits.val.images
    log.warning(
        "no images held out for validation (%d images, val fraction %g): val/ metrics are measured on the "
        "training images, so they show fit, not generalisation; add images or raise --val-fraction",
        len(splits.train),
        cfg.data.val_fraction,
    )
    return splits.train.images


def vae_step(
    model: Callable[..., Any],
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    eps: torch.Tensor,
    *,
    loss: LossConfig,
    beta: float,
    value_range: tuple[float, float],
    device: torch.device,
    bf16: bool,
    loss_fn: Callable[..., dict[str, torch.Tensor]] = vae_loss,
) -> dict[str, torch.Tensor]:
    """One optimiser step on the batch x (B, C, H, W) in `value_range` with reparameterisation noise eps
    (B, latent_dim); `beta` is the KL weight of this step (warm-up applied). `model` and `loss_fn`: the
    VAE and vae_loss, or their torch.compile'd copies (compiled_parts)."""
    with autocast(device, bf16):
        x_hat, posterior = model(x, eps=eps)
    losses = loss_fn(x_hat, x, posterior.kl(), loss.reconstruction, beta, loss.msssim_weight, value_range)
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    optimizer.step()
    return losses


@torch.no_grad()
def validate(
    model: VAE, images: torch.Tensor, cfg: VAERunConfig, device: torch.device, bf16: bool, batch_size: int = 256
) -> dict[str, float]:
    """Per-image means on held-out images, with a fixed noise seed so every epoch is scored alike.

    val/neg_elbo is reconstruction + KL (beta = 1): a bound on -log p(x) in nats for bce and mse_sum.
    """
    model.eval()
    noise = torch.Generator(device).manual_seed(0)
    totals = torch.zeros(2, device=device)
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size].to(device), cfg.model.value_range)
        eps = torch.randn(len(x), cfg.model.latent_dim, generator=noise, device=device)
        with autocast(device, bf16):
            x_hat, posterior = model(x, eps=eps)
        losses = vae_loss(x_hat, x, posterior.kl(), cfg.loss.reconstruction, 1.0)
        totals += torch.stack([losses["reconstruction"], losses["kl"]]) * len(x)
    model.train()
    rec, kl = (totals / len(images)).tolist()
    return {"val/reconstruction": rec, "val/kl": kl, "val/neg_elbo": rec + kl}


def grid_writer(
    model: VAE, cfg: VAERunConfig, val_images: torch.Tensor, device: torch.device
) -> Callable[[Path, int], None]:
    """Draws each epoch's grids from the same z and the same validation images, for comparison by eye."""
    grid_z = fixed_latents(cfg.train.grid_size, cfg.model.latent_dim, cfg.train.seed).to(device)
    grid_x = to_float(val_images[: cfg.train.grid_size], cfg.model.value_range).to(device)
    return lambda folder, epoch: write_grids(model, grid_z, grid_x, folder, epoch, cfg.model.value_range)


@torch.no_grad()
def write_grids(
    model: VAE, grid_z: torch.Tensor, grid_x: torch.Tensor, folder: Path, epoch: int, value_range: tuple[float, float]
) -> None:
    """samples_eNNN.png from the fixed z; recon_eNNN.png with originals and mean reconstructions in row pairs;
    heldout_eNNN.png those reconstructions alone, progress.gif's frame (epoch_log.held_out_grid)."""
    model.eval()
    save_grid(model.decode(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)
    recon = model.decode(model.encode(grid_x).mode()).float()
    save_grid(recon, held_out_grid(folder, epoch), value_range)
    per_row = 8
    pairs = [t for i in range(0, len(grid_x), per_row) for t in (grid_x[i : i + per_row], recon[i : i + per_row])]
    save_grid(torch.cat(pairs), folder / f"recon_e{epoch:03d}.png", value_range, nrow=per_row)
    model.train()
