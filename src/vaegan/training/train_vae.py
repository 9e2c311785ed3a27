"""Stage 1: train the VAE (or the AE baseline) on in-memory uint8 images, one explicit loop."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import VAECheckpoint
from vaegan.config import LossConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_float
from vaegan.losses import kl_weight, vae_loss
from vaegan.models.vae import VAE
from vaegan.presets import gpu_budget, step_budget
from vaegan.prior import fit_to_images
from vaegan.training import compiling, speed
from vaegan.training.changes import Sections
from vaegan.training.common import (
    CPU,
    adam,
    autocast,
    fixed_latents,
    place,
    resolve_device,
    restore_adam,
    warm_up_lr,
)
from vaegan.training.feature_net import QualityMonitor
from vaegan.training.loop import Placement, Sampler, ScoreHook, StepHook, TrainingResult, TrainingRun, setup_run
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
    score: ScoreHook | None = None,
    clock: Clock | None = None,
) -> TrainingResult:
    """Train for cfg.train.epochs epochs, writing config, metrics, grids and checkpoints under run_dir.

    resume=True takes the config from run_dir's checkpoint and continues at its exact batch and noise,
    with the `wanted` settings a resume may change (training.changes: more epochs, another --lr, ...).
    on_step(step, values) sees each step's (total, reconstruction, kl) batch means, as device tensors;
    score(seconds, sampler) is called after every step with the clock paused (the race scores samples so);
    `clock` is what cfg.train.max_minutes counts on (default: one started with the first epoch).
    """
    run_dir = Path(run_dir)
    saved, changes = resume_or_refuse(run_dir, "vae", resume, wanted)
    if isinstance(saved, VAECheckpoint):
        cfg = saved.config
    splits = splits or load_splits(cfg.data)
    if saved is None:  # a GPU's batch; small data: enough epochs for min_steps (a resumed run keeps its budget)
        if resolve_device(cfg.train.device).type == "cuda":
            cfg = dataclasses.replace(cfg, train=gpu_budget(cfg.train, (wanted or {}).get("train", {}), "VAE"))
        cfg = dataclasses.replace(cfg, train=step_budget(cfg.train, len(splits.train), "VAE"))
    model_cfg, value_range = cfg.model, cfg.model.value_range
    val_images = held_out(splits, cfg)
    probe = lambda device, processes: vae_probe(cfg, splits.train.images, device, processes)  # noqa: E731
    placement = setup_run(run_dir, cfg, cfg.train, is_new=saved is None, probe=probe)
    device, ctx = placement.device, placement.ctx
    train_images = splits.train.images.to(device)
    model, optimizer = build_vae(cfg, placement, saved)
    trained = ctx.wrap(model, device)  # the same module, with gradients averaged over ranks
    steps_done = saved.loop.step if isinstance(saved, VAECheckpoint) else 0
    fast = compiled_parts(model)  # the trial's compiled graphs are training's: built once
    verdict, placement = compile_choice(cfg, placement, fast, model, optimizer, train_images, steps_done)
    forward, loss_fn = fast if verdict.compiled else (trained, vae_loss)
    quality = QualityMonitor(
        cfg.data,
        splits,
        cfg.train.quality_every if ctx.is_main else 0,
        cfg.train.quality_samples,
        cfg.train.epochs,
    )
    encode = lambda x: model.encode(x.to(device)).mean  # noqa: E731
    quality.track_reconstruction(encode, value_range)
    decode = lambda z: model.decode(z.to(device))  # noqa: E731
    # the race's VAE sampler: the mixture fitted to the training latents, as `vaegan sample` draws a VAE's
    sampler = Sampler("vae", decode, lambda: fit_to_images(model, train_images).sample, value_range, encode=encode)
    run = TrainingRun(
        "vae",
        run_dir,
        cfg,
        placement,
        quality=quality,
        snapshot=lambda config, loop: VAECheckpoint(config, loop, model.state_dict(), optimizer.state_dict()),
        n_sums=3,  # total, reconstruction, kl: per-image means, weighted by images
        watch={"train/total": 0},
        postfix={"loss": 0},
        advice="a lower --lr (or a smaller --beta)",
        progress=progress,
        saved=saved.loop if isinstance(saved, VAECheckpoint) else None,
        changes=changes,
        on_step=on_step,
        scorer=None if score is None else lambda seconds: score(seconds, sampler),
        clock=clock,
        placed=(model,),
    )
    draw = grid_writer(model, cfg, val_images, device)

    record: dict[str, Any] = {}
    with run:
        for _ in run.epochs():
            model.train()
            for index in run.batches(len(train_images)):
                # eps for the whole global batch, so every process count draws the same numbers.
                eps = torch.randn(len(index), model_cfg.latent_dim, generator=run.noise, device=device)
                index, eps = ctx.shard(index), ctx.shard(eps)
                # run.placement, not placement: the pace check may switch precision or layout (pace.py)
                x = to_float(train_images[index], value_range).contiguous(memory_format=run.placement.layout)
                beta = kl_weight(run.loop.step, cfg.loss.beta, cfg.loss.kl_warmup_steps)
                warm_up_lr(optimizer, cfg.train.lr, run.loop.step, cfg.train.lr_warmup_steps)
                losses = vae_step(  # x: (B, C, H, W)
                    forward,
                    optimizer,
                    x,
                    eps,
                    loss=cfg.loss,
                    beta=beta,
                    value_range=value_range,
                    device=device,
                    bf16=run.placement.bf16,
                    loss_fn=loss_fn,
                )
                run.add(torch.stack([losses["total"], losses["reconstruction"], losses["kl"]]), len(index))

            beta = kl_weight(run.loop.step, cfg.loss.beta, cfg.loss.kl_warmup_steps)
            train = dict(zip(("train/total", "train/reconstruction", "train/kl"), run.epoch_means(), strict=True))
            val = validate(model, val_images, cfg, device, run.placement.bf16)
            record = run.end_epoch(
                {"beta": beta, **train, **val},
                decode,
                model_cfg.latent_dim,
                value_range,
                draw,
                f"train {train['train/total']:.4g}, val -ELBO {val['val/neg_elbo']:.4g} "
                f"(rec {val['val/reconstruction']:.4g}, kl {val['val/kl']:.4g})",
            )
    return run.result(record)


def build_vae(cfg: VAERunConfig, placement: Placement, saved: object) -> tuple[VAE, torch.optim.Optimizer]:
    """The model and its Adam, fresh from the seed or with the weights and state `saved` left."""
    torch.manual_seed(cfg.train.seed)
    model = place(VAE(cfg.model), placement.device, placement.layout)
    optimizer = adam(model.parameters(), lr=cfg.train.lr)
    if isinstance(saved, VAECheckpoint):
        model.load_state_dict(saved.model)
        restore_adam(optimizer, saved.optimizer, cfg.train.lr)
    return model, optimizer


def compile_choice(
    cfg: VAERunConfig,
    placement: Placement,
    fast: tuple[Callable[..., Any], Callable[..., dict[str, torch.Tensor]]],
    model: VAE,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    steps_done: int,
) -> tuple[compiling.Verdict, Placement]:
    """Whether the steps run compiled (`fast`: compiled_parts(model)), by --compile (compiling.decide), and
    the placement with the chosen step's pace for pace.py. Under torchrun the steps stay eager: DDP's hooks
    would split the compiled graph."""
    s = cfg.train
    if s.compile == "off" or placement.ctx.world_size > 1:
        return compiling.Verdict(False, "eager"), placement
    fast_model, fast_loss = fast
    m, batch = cfg.model, min(s.batch_size, len(images))
    eps = torch.randn(batch, m.latent_dim, generator=torch.Generator().manual_seed(0)).to(placement.device)

    def step(compiled: bool, size: int) -> object:
        x = to_float(images[:size], m.value_range).contiguous(memory_format=placement.layout)
        return vae_step(
            fast_model if compiled else model,
            optimizer,
            x,
            eps[:size],
            loss=cfg.loss,
            beta=1.0,
            value_range=m.value_range,
            device=placement.device,
            bf16=placement.bf16,
            loss_fn=fast_loss if compiled else vae_loss,
        )

    sizes = [batch] + ([len(images) % batch] if len(images) % batch else [])
    trial = compiling.Trial(step, sizes, (model, optimizer), placement.device)
    per_epoch = -(-len(images) // batch)
    verdict = compiling.decide(
        s.compile,
        trial,
        shape=speed.step_key("vae", batch, m, cfg.loss, s),
        planned_steps=max(s.epochs * per_epoch - steps_done, 0),
        max_seconds=60 * s.max_minutes,
        cache_dir=cfg.data.cache_dir,
        seconds_per_step=placement.seconds_per_step,  # the speed probe's, where it timed one
    )
    log.info("vae step: %s", verdict.note)
    if not verdict.compiled:
        return verdict, placement
    return verdict, dataclasses.replace(placement, seconds_per_step=verdict.seconds_per_step)


def compiled_parts(model: VAE) -> tuple[Callable[..., Any], Callable[..., dict[str, torch.Tensor]]]:
    """The VAE's forward and vae_loss under torch.compile, as vae_step calls them (compiling.compiled)."""
    compiled_loss = compiling.compiled(vae_loss)

    def fast_loss(x_hat: torch.Tensor, x: torch.Tensor, kl: torch.Tensor, kind: str, beta: float, *rest: Any) -> Any:
        # beta as a tensor: dynamo takes a float for a constant, and the KL warm-up changes it every step
        return compiled_loss(x_hat, x, kl, kind, torch.tensor(beta, dtype=torch.float32), *rest)

    return compiling.compiled(model), fast_loss


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


def vae_probe(cfg: VAERunConfig, images: torch.Tensor, device: torch.device = CPU, processes: int = 1) -> speed.Probe:
    """The real VAE step on a real batch (one process's share of it), for `--precision/--memory-format auto`
    to time on `device`."""
    m, batch = cfg.model, min(cfg.train.batch_size // processes, len(images))

    def prepare(layout: torch.memory_format) -> Callable[[bool], object]:
        model = place(VAE(m), device, layout)
        optimizer = adam(model.parameters(), lr=cfg.train.lr)
        x = to_float(images[:batch].to(device), m.value_range).contiguous(memory_format=layout)
        eps = torch.randn(batch, m.latent_dim, generator=torch.Generator().manual_seed(0)).to(device)
        return lambda bf16: vae_step(
            model, optimizer, x, eps, loss=cfg.loss, beta=1.0, value_range=m.value_range, device=device, bf16=bf16
        )

    shape = speed.step_key("vae", batch, m, cfg.loss, cfg.train)
    return speed.Probe(shape, speed.timer(prepare, device), cfg.data.cache_dir)


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
    VAE and vae_loss, or their torch.compile'd copies (compiling.py)."""
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
    """samples_eNNN.png from the fixed z; recon_eNNN.png with originals and mean reconstructions in row pairs."""
    model.eval()
    save_grid(model.decode(grid_z).float(), folder / f"samples_e{epoch:03d}.png", value_range)
    recon = model.decode(model.encode(grid_x).mode()).float()
    per_row = 8
    pairs = [t for i in range(0, len(grid_x), per_row) for t in (grid_x[i : i + per_row], recon[i : i + per_row])]
    save_grid(torch.cat(pairs), folder / f"recon_e{epoch:03d}.png", value_range, nrow=per_row)
    model.train()
