"""The lecture's loss experiment: one VAE trained four ways, played side by side in one GIF, and a table.

A course note this project grew from trains the same convolutional VAE for 10 epochs at batch 128 with
(1) MSE summed, (2) MSE averaged, (3) binary cross-entropy and (4) no reconstruction term (KL only), and
shows each training as a GIF. Here the four are `train_vae` runs that share data, split, seed, model and
budget and differ only in `--recon` (losses.py says what each reduction does to the balance with the KL).
Every run draws its per-epoch grids from the same fixed z and the same held-out images, so the GIF's four
panels (z decoded, then a row of originals over their reconstructions) compare image by image.

    out/<data>/<recon>/      each variant's run folder (config, metrics, grids, checkpoint)
    out/<data>/losses.gif    the four panels through every epoch; losses.png is its last frame
    out/<data>/table.md      per variant: the loss terms at the end, -ELBO, PSNR, FID, when the loss hit 0
    out/<data>/table.json    the same numbers, unrounded, with the settings that made them
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vaegan.config import VAERunConfig, to_dict, vae_run_config
from vaegan.data import DataSplits, load_splits
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.pictures import MIN_CELL
from vaegan.presets import Sections, merge
from vaegan.runs import open_run
from vaegan.training.train_vae import train_vae
from vaegan.viz import label_image, save_gif, tile

log = logging.getLogger(__name__)

# The four trainings in the note's order: --recon value -> panel title.
VARIANTS = {
    "mse_sum": "MSE summed (mse_sum)",
    "mse_mean": "MSE averaged (mse_mean)",
    "bce": "binary cross-entropy (bce)",
    "none": "KL only (none)",
}
ZERO_LOSS = 1e-3  # nats: "the total loss became zero" in the note, as a threshold on the per-step loss
GRID_SIZE = 64  # z per sample grid (8 x 8) and held-out images per reconstruction grid (8 per row)
SAMPLE_ROWS = 4  # rows of 8 decoded z shown per panel
PER_ROW = 8  # images per row in both grids (train_vae.write_grids)

COLUMNS = {  # table.json key -> markdown header
    "train_reconstruction": "reconstruction (train, last epoch)",
    "train_kl": "KL (train, last epoch, nats)",
    "val_neg_elbo": "-ELBO (val, nats; a bound on -log p(x))",
    "psnr": "PSNR (val, dB)",
    "first_step_below": f"first step with loss < {ZERO_LOSS:g} nats",
    "fid": "FID (own features)",
}


@dataclass(frozen=True)
class ExperimentResult:
    folder: Path
    gif: Path
    last_frame: Path
    table: Path  # markdown; table.json beside it
    rows: dict[str, dict[str, Any]]  # --recon value -> the table's values


def variant_config(sections: Sections, recon: str) -> VAERunConfig:
    """The run config of one variant: `sections` with this reconstruction loss alone, FID at the last epoch.

    No MS-SSIM term (the colour default adds one): the experiment compares the course note's four losses, and
    the KL-only variant must have no reconstruction term at all.
    """
    only_recon = {"reconstruction": recon, "msssim_weight": 0.0}
    cfg = vae_run_config(**merge(sections, {"loss": only_recon, "model": {"kind": "vae"}}))
    train = replace(cfg.train, grid_size=GRID_SIZE, quality_every=cfg.train.epochs)
    return replace(cfg, train=train)


def run_loss_experiment(
    sections: Sections,
    out: Path,
    *,
    splits: DataSplits | None = None,
    max_train_images: int | None = None,
    progress: bool | None = None,
) -> ExperimentResult:
    """Train the four variants of VARIANTS on one dataset (`sections`, as the CLI builds them) under `out`.

    `max_train_images` keeps the first n training images (a quick budget); validation stays whole.
    """
    out = Path(out)
    configs = {recon: variant_config(sections, recon) for recon in VARIANTS}
    first = next(iter(configs.values()))
    splits = splits or load_splits(first.data)
    if max_train_images is not None:
        splits = replace(splits, train=splits.train.subset(torch.arange(min(max_train_images, len(splits.train)))))
    rows = {}
    for recon, cfg in configs.items():
        log.info("loss experiment: %s, %d epochs", VARIANTS[recon], cfg.train.epochs)
        rows[recon] = train_variant(cfg, out / recon, splits, progress)
    epochs, source = first.train.epochs, first.data.source
    frames = [experiment_frame(out, epoch, first.data.image_size) for epoch in range(1, epochs + 1)]
    labels = [f"{source}, {len(splits.train)} training images: epoch {e} of {epochs}" for e in range(1, epochs + 1)]
    gif = save_gif(frames, out / "losses.gif", labels, ms_per_frame=600)
    last = out / "losses.png"
    label_image(frames[-1], labels[-1]).save(last)
    table = write_tables(out, rows, first, len(splits.train), len(splits.val))
    return ExperimentResult(out, gif, last, table, rows)


def train_variant(cfg: VAERunConfig, run_dir: Path, splits: DataSplits, progress: bool | None) -> dict[str, Any]:
    """Train one variant, then measure it on the held-out split: the row of the table."""
    losses: list[torch.Tensor] = []  # each step's total loss, left on the device until the end
    result = train_vae(cfg, run_dir, splits=splits, progress=progress, on_step=lambda _, v: losses.append(v[0]))
    per_step = torch.stack(losses).cpu()  # (steps,)
    below = (per_step < ZERO_LOSS).nonzero()
    record = result.metrics
    vae = open_run(run_dir).vae()
    recon = cfg.loss.reconstruction
    held_out = likelihood_metrics(vae, splits.val.images, recon, cfg.model.value_range, k=0)
    return {
        "train_reconstruction": record["train/reconstruction"],
        "train_kl": record["train/kl"],
        "val_neg_elbo": held_out.get("nll_elbo"),  # absent for KL only: no decoder likelihood, no bound
        "psnr": held_out["psnr"],
        "first_step_below": int(below[0]) + 1 if len(below) else None,
        "fid": record.get("quality/fid"),
        "steps": len(per_step),
        "final_step_loss": float(per_step[-1]),
    }


def experiment_frame(out: Path, epoch: int, image_size: int) -> Image.Image:
    """The four variants' panels after `epoch`, two by two."""
    return tile(
        [variant_panel(out / recon / "grids", epoch, image_size, title) for recon, title in VARIANTS.items()], 2
    )


def variant_panel(grids: Path, epoch: int, image_size: int, title: str) -> Image.Image:
    """The first SAMPLE_ROWS rows of the epoch's prior-sample grid over its first originals/reconstructions
    row pair, each enlarged to MIN_CELL pixels per image and captioned, under the variant's title."""
    factor = max(1, MIN_CELL // image_size)
    parts = []
    for name, rows, caption in (
        ("samples", SAMPLE_ROWS, "decoded from the same fixed z"),
        ("recon", 2, "held-out images over their reconstructions"),
    ):
        with Image.open(grids / f"{name}_e{epoch:03d}.png") as grid:
            part = grid_rows(grid, rows, image_size)
        parts.append(
            label_image(part.resize((part.width * factor, part.height * factor), Image.Resampling.NEAREST), caption)
        )
    return label_image(tile(parts, 1, gap=4), title)


def grid_rows(grid: Image.Image, rows: int, image_size: int) -> Image.Image:
    """The top `rows` rows of a viz.make_grid picture with PER_ROW images of `image_size` per row."""
    padding = (grid.width - PER_ROW * image_size) // (PER_ROW + 1)
    return grid.convert("RGB").crop((0, 0, grid.width, min(grid.height, padding + rows * (image_size + padding))))


def write_tables(out: Path, rows: dict[str, dict[str, Any]], cfg: VAERunConfig, n_train: int, n_val: int) -> Path:
    """table.json (everything) and table.md (the COLUMNS, one row per variant)."""
    settings = {
        "data": cfg.data.source,
        "train_images": n_train,
        "val_images": n_val,
        "epochs": cfg.train.epochs,
        "batch_size": cfg.train.batch_size,
        "seed": cfg.train.seed,
        "fid_samples": min(cfg.train.quality_samples, n_val),
        "config": to_dict(cfg),
    }
    (out / "table.json").write_text(json.dumps({"settings": settings, "variants": rows}, indent=2) + "\n")
    lines = [
        f"{cfg.data.source}: {n_train} training images, {cfg.train.epochs} epochs at batch {cfg.train.batch_size}, "
        f"seed {cfg.train.seed}; validation on {n_val} held-out images",
        "",
        "| loss | " + " | ".join(COLUMNS.values()) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for recon, row in rows.items():
        lines.append(f"| {VARIANTS[recon]} | " + " | ".join(cell(row[key]) for key in COLUMNS) + " |")
    path = out / "table.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
