"""`vaegan train-vae`: train stage 1 on a dataset, or resume a stopped run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vaegan.cli.options import add_config_flags, add_flags, given_sections, sections_from_args
from vaegan.cli.outputs import add_run_out, resume_conflicts
from vaegan.config import vae_run_config
from vaegan.settings import VAE_FLAGS


def register(sub: Any) -> None:
    p = sub.add_parser("train-vae", help="train the VAE (or --model ae) and write grids, metrics, checkpoints")
    add_run_out(p, "runs/<data>-<model>")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN",
        help="continue the run in this folder exactly where it stopped; --epochs extends it, and --lr, --beta, "
        "cadence, device and precision flags change it from there (model and data flags are refused)",
    )
    add_config_flags(p, "[data], [model], [loss] and [train] sections")
    add_flags(p, VAE_FLAGS)
    p.set_defaults(func=run_train_vae)


def default_run_dir(source: str, kind: str) -> Path:
    name = Path(source).name if Path(source).exists() else source.replace(":", "-")
    return Path("runs") / f"{name}-{kind}"


def run_train_vae(args: argparse.Namespace) -> int:
    from vaegan.data import load_splits
    from vaegan.presets import vae_budget
    from vaegan.training.run_folder import check_new_run
    from vaegan.training.train_vae import train_vae

    if args.resume:
        resume_conflicts(args, "vae")
        result = train_vae(vae_run_config(), args.resume, resume=True, wanted=given_sections(args, VAE_FLAGS))
    else:
        cfg = vae_run_config(**sections_from_args(args, VAE_FLAGS))
        out = args.out or default_run_dir(cfg.data.source, cfg.model.kind)
        check_new_run(out)
        given, splits = given_sections(args, VAE_FLAGS), load_splits(cfg.data)
        result = train_vae(vae_budget(cfg, len(splits.train), given), out, wanted=given, splits=splits)
    print(f"checkpoint: {result.checkpoint}")
    print(f"grids: {result.checkpoint.parent / 'grids'}")
    return 0
