"""Stage 1: train the VAE (or the AE baseline) on in-memory uint8 images, one explicit loop."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import BEST_NAME, CHECKPOINT_NAME, restore_rng_state, rng_state, save_checkpoint
from vaegan.config import VAERunConfig, from_dict, to_dict
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.losses import kl_weight, vae_loss
from vaegan.metrics.monitor import QualityMonitor
from vaegan.models.vae import VAE
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


@dataclass(frozen=True)
class VAEResult:
    checkpoint: Path
    metrics: dict[str, Any]  # the last epoch's record


def train_vae(
    cfg: VAERunConfig,
    run_dir: Path,
    *,
    resume: bool = False,
    splits: DataSplits | None = None,
    progress: bool | None = None,
) -> VAEResult:
    """Train for cfg.train.epochs epochs, writing config, metrics, grids and checkpoints under run_dir.

    With resume=True the config comes from run_dir's checkpoint (cfg is ignored) and training continues
    from the exact batch where it stopped, with the same data order and noise.
    """
    run_dir = Path(run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME
    state = open_run(run_dir, "vae", resume)
    if state is not None:
        cfg = from_dict(VAERunConfig, state["config"])
    ctx, device = distributed.setup(resolve_device(cfg.train.device))
    distributed.check_batch(cfg.train.batch_size, ctx)
    ctx.barrier()  # every rank has looked for the checkpoint before rank 0 writes anything
    write_run_config(cfg, run_dir, ctx.is_main, new=state is None)

    bf16 = use_bf16(cfg.train.precision, device)
    fmt = memory_format(cfg.train.memory_format, device, cfg.model.image_size)
    splits = splits or load_splits(cfg.data)
    train_images = splits.train.images.to(device)
    val_images = splits.val.images if len(splits.val) else splits.train.images
    value_range = cfg.model.value_range
    tc = cfg.train

    torch.manual_seed(tc.seed)
    model = place(VAE(cfg.model), device, fmt)
    optimizer = adam(model.parameters(), lr=tc.lr)
    trained = ctx.wrap(model, device)  # the same module, with gradients averaged over ranks
    noise = torch.Generator(device).manual_seed(tc.seed + 1)  # reparameterisation eps
    grid_z = fixed_latents(tc.grid_size, cfg.model.latent_dim, tc.seed).to(device)
    grid_x = to_float(val_images[: tc.grid_size], value_range).to(device)

    epoch, batch_in_epoch, step = 1, 0, 0
    sums = torch.zeros(4, device=device)  # per-image sums of total, reconstruction, kl; image count
    metrics = MetricsLog(run_dir / "metrics.jsonl")
    quality = QualityMonitor(cfg.data, splits, tc.quality_every if ctx.is_main else 0, tc.quality_samples, tc.epochs)
    if state is not None:
        model.load_state_dict(state["model"])
        restore_adam(optimizer, state["optimizer"])
        restore_rng_state(state["rng"], {"noise": noise})
        quality.best_fid = state.get("best_fid", math.inf)
        epoch, batch_in_epoch, step, sums = restore_position(state, "vae", ctx.is_main, sums, metrics, run_dir)

    def checkpoint(path: Path = ckpt_path) -> None:
        if not ctx.is_main:
            return
        save_checkpoint(
            {
                "stage": "vae",
                "config": to_dict(cfg),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "batch_in_epoch": batch_in_epoch,
                "step": step,
                "sums": sums.cpu(),
                "rng": rng_state({"noise": noise}),
                "best_fid": quality.best_fid,
            },
            path,
        )

    bar = Progress("vae", tc.epochs, enabled=progress if ctx.is_main else False)
    record: dict[str, Any] = {}
    with StopRequest() as stop:
        while epoch <= tc.epochs:
            model.train()
            order = epoch_order(len(train_images), tc.seed, epoch)
            bar.start_epoch(epoch, n_batches(len(order), tc.batch_size), batch_in_epoch)
            started = time.perf_counter()
            for index in batches(order, tc.batch_size, start=batch_in_epoch, min_size=ctx.world_size):
                # eps for the whole global batch, so every process count draws the same numbers.
                eps = torch.randn(len(index), cfg.model.latent_dim, generator=noise, device=device)
                index, eps = ctx.shard(index), ctx.shard(eps)
                x = to_float(train_images[index], value_range).contiguous(memory_format=fmt)  # (B, C, H, W)
                beta = kl_weight(step, cfg.loss.beta, cfg.loss.kl_warmup_steps)
                losses = vae_step(trained, optimizer, x, eps, cfg.loss.reconstruction, beta, device, bf16)
                step += 1
                batch_in_epoch += 1
                parts = torch.stack([losses["total"], losses["reconstruction"], losses["kl"]]).detach()
                sums += torch.cat([parts * len(index), parts.new_tensor([len(index)])])
                bar.step({"loss": float(losses["total"])} if bar.interactive and step % 10 == 0 else None)
                if ctx.any(stop.requested, device):
                    check_finite(ctx.sum_(sums), "the training loss", ckpt_path)
                    checkpoint()
                    raise TrainingStopped(
                        f"stopped at epoch {epoch}, step {step}; checkpoint saved. Resume with --resume"
                    )

            train_seconds = time.perf_counter() - started
            check_finite(ctx.sum_(sums), f"the training loss of epoch {epoch}", ckpt_path)
            train_means = (sums[:3] / sums[3]).tolist()
            record = {
                "stage": "vae",
                "epoch": epoch,
                "step": step,
                "beta": kl_weight(step, cfg.loss.beta, cfg.loss.kl_warmup_steps),
                "train/total": train_means[0],
                "train/reconstruction": train_means[1],
                "train/kl": train_means[2],
                **validate(model, val_images, cfg, device, bf16),
                "train_seconds": train_seconds,  # the steps alone: images / train_seconds is throughput
                "seconds": time.perf_counter() - started,
            }
            new_best = quality.update(
                record, epoch, lambda z: model.decode(z.to(device)), cfg.model.latent_dim, value_range
            )
            if ctx.is_main:
                write_grids(model, grid_z, grid_x, run_dir / "grids", epoch, value_range)
                metrics.append(record)
            bar.end_epoch(
                f"vae epoch {epoch}/{tc.epochs}: train {record['train/total']:.4g}, "
                f"val -ELBO {record['val/neg_elbo']:.4g} (rec {record['val/reconstruction']:.4g}, "
                f"kl {record['val/kl']:.4g}), {record['seconds']:.1f}s"
            )
            epoch, batch_in_epoch = epoch + 1, 0
            sums = torch.zeros(4, device=device)
            if (epoch - 1) % tc.checkpoint_every == 0 or epoch > tc.epochs:
                checkpoint()
            if new_best:
                checkpoint(run_dir / BEST_NAME)
    ctx.barrier()  # the last checkpoint is on disk before any rank reads it (the GAN stage does)
    return VAEResult(checkpoint=ckpt_path, metrics=record)


def vae_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    eps: torch.Tensor,
    reconstruction: str,
    beta: float,
    device: torch.device,
    bf16: bool,
) -> dict[str, torch.Tensor]:
    """One optimiser step on the batch x (B, C, H, W) with reparameterisation noise eps (B, latent_dim)."""
    with autocast(device, bf16):
        x_hat, posterior = model(x, eps=eps)
    losses = vae_loss(x_hat, x, posterior.kl(), reconstruction, beta)
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


@torch.no_grad()
def write_grids(
    model: VAE, grid_z: torch.Tensor, grid_x: torch.Tensor, folder: Path, epoch: int, value_range: tuple[float, float]
) -> None:
    """samples_eNNN.png from the fixed z; recon_eNNN.png with originals and mean reconstructions in row pairs."""
    model.eval()
    save_grid(model.decode(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)
    recon = model.decode(model.encode(grid_x).mode()).float()
    per_row = 8
    pairs = [t for i in range(0, len(grid_x), per_row) for t in (grid_x[i : i + per_row], recon[i : i + per_row])]
    save_grid(torch.cat(pairs), folder / f"recon_e{epoch:03d}.png", value_range, nrow=per_row)
    model.train()
