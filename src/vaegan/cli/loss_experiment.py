"""`vaegan loss-experiment`: the lecture's four reconstruction losses trained side by side (loss_experiment.py)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from vaegan.cli.options import add_flags, sections_from_args
from vaegan.cli.outputs import add_run_out
from vaegan.errors import VaeganError
from vaegan.presets import merge
from vaegan.settings import VAE_FLAGS

log = logging.getLogger(__name__)

# The experiment sets these itself: the loss is what varies (the course note's losses alone, no MS-SSIM
# term), the grids and FID timing make the picture.
OWN = ("--data", "--recon", "--msssim-weight", "--model", "--quality-every")
FLAGS = tuple(flag for flag in VAE_FLAGS if flag.name not in OWN)
DEFAULT_SOURCES = ("fashion-mnist", "mnist")  # MNIST only when its files are already on this machine
QUICK_EPOCHS = 3
QUICK_IMAGES = 12800  # 100 steps an epoch at batch 128


def register(sub: Any) -> None:
    p = sub.add_parser(
        "loss-experiment",
        help="train the VAE with mse_sum, mse_mean, bce and KL only on the same data; one GIF and a table",
    )
    p.add_argument(
        "--data",
        action="append",
        help="a dataset, repeatable (default: fashion-mnist, and mnist when its files are present)",
    )
    add_run_out(p, "runs/loss-experiment", "folder of the experiment, a run folder per dataset and loss inside")
    p.set_defaults(out=Path("runs/loss-experiment"))
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"a laptop budget: {QUICK_EPOCHS} epochs on the first {QUICK_IMAGES} training images (flags still win)",
    )
    p.add_argument("--max-train-images", type=int, help="train on the first N training images (default: all)")
    add_flags(p, FLAGS)
    p.set_defaults(func=run_loss_experiment_command)


def run_loss_experiment_command(args: argparse.Namespace) -> int:
    from vaegan.config import vae_run_config
    from vaegan.data import load_splits
    from vaegan.loss_experiment import run_loss_experiment

    if args.quick:
        args.epochs = args.epochs or QUICK_EPOCHS
        args.max_train_images = args.max_train_images or QUICK_IMAGES
    if args.max_train_images is not None and args.max_train_images < 1:
        raise VaeganError(f"--max-train-images must be at least 1, got {args.max_train_images}")
    for source in args.data or DEFAULT_SOURCES:
        sections = merge(sections_from_args(args, FLAGS, source), {"data": {"source": source}})
        try:
            splits = load_splits(vae_run_config(**sections).data)
        except VaeganError as exc:
            if args.data or source == DEFAULT_SOURCES[0]:
                raise
            log.info("%s skipped: %s", source, exc)  # the optional default dataset is not on this machine
            continue
        name = Path(source).name if Path(source).exists() else source.replace(":", "-")
        result = run_loss_experiment(sections, args.out / name, splits=splits, max_train_images=args.max_train_images)
        print(f"{source}: {result.gif}, {result.last_frame}, {result.table} (and table.json)")
        print(result.table.read_text())
    return 0
