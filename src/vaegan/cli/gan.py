"""`vaegan train-gan` (stage 2 from a trained VAE) and `vaegan run` (both stages: the main job)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from vaegan.cli.options import add_config_flags, add_flags, given_sections, sections_from_args
from vaegan.cli.outputs import add_run_out, resume_conflicts
from vaegan.cli.train import default_run_dir
from vaegan.config import GANConfig, GANRunConfig, from_dict
from vaegan.errors import VaeganError
from vaegan.settings import GAN_FLAGS, GAN_RUNTIME_FLAGS, VAE_FLAGS, pipeline_configs

log = logging.getLogger(__name__)


def register(sub: Any) -> None:
    p = sub.add_parser("train-gan", help="train a GAN whose generator starts as a trained VAE's decoder")
    p.add_argument("--vae", help="the trained VAE: a train-vae run folder or checkpoint")
    add_run_out(p, "<vae run>-gan")
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN",
        help="continue this GAN run exactly where it stopped; --gan-epochs extends it, and --lr-g/--lr-d, cadence, "
        "device and precision flags change it from there (model flags are refused)",
    )
    add_config_flags(p, "a [gan] section")
    add_flags(p, GAN_FLAGS + GAN_RUNTIME_FLAGS)
    p.set_defaults(func=run_train_gan)

    p = sub.add_parser("run", help="the main job: train the VAE, then the GAN from it, and compare them")
    add_run_out(p, "runs/<data>")
    add_config_flags(p, "[data], [model], [loss], [train] and [gan] sections")
    add_flags(p, VAE_FLAGS + GAN_FLAGS)
    p.set_defaults(func=run_pipeline_command)


def run_train_gan(args: argparse.Namespace) -> int:
    from vaegan.training.train_gan import refuse_before_data, train_gan

    if args.resume:
        resume_conflicts(args, "gan", "--vae")
        wanted = given_sections(args, GAN_FLAGS + GAN_RUNTIME_FLAGS)
        result = train_gan(GANRunConfig(vae_checkpoint="resume"), args.resume, resume=True, wanted=wanted)
    else:
        if not args.vae:
            raise VaeganError("train-gan needs a trained VAE: pass --vae RUN_OR_CHECKPOINT (from vaegan train-vae)")
        from vaegan.data import load_splits
        from vaegan.presets import gan_budget
        from vaegan.runs import open_run
        from vaegan.training.run_folder import check_new_run

        vae_run = open_run(args.vae)
        vae_run.vae()  # its weights load, before anything else is read
        vae_cfg = vae_run.config
        if "gan" in vae_run.stages:  # a GAN run names the VAE it started from: that one is meant, say so
            log.warning(
                "--vae %s holds a GAN stage: the new GAN starts from the VAE that GAN was trained from, %s",
                args.vae,
                vae_run.stage("vae").checkpoint_path,
            )
        sections = sections_from_args(args, GAN_FLAGS + GAN_RUNTIME_FLAGS, source=vae_cfg.data.source)
        cfg = GANRunConfig(vae_checkpoint=args.vae, gan=from_dict(GANConfig, sections.get("gan", {})))
        out = args.out or Path(f"{Path(args.vae).with_suffix('')}-gan")
        given = given_sections(args, GAN_FLAGS + GAN_RUNTIME_FLAGS)
        check_new_run(out)
        refuse_before_data(cfg.gan, vae_run)
        splits = load_splits(vae_cfg.data, args.vae)
        result = train_gan(gan_budget(cfg, len(splits.train), given), out, wanted=given, splits=splits)
    print(f"checkpoint: {result.checkpoint}")
    print(f"grids: {result.checkpoint.parent / 'grids'}")
    return 0


def run_pipeline_command(args: argparse.Namespace) -> int:
    from vaegan.pipeline import run_pipeline

    vae_cfg, gan_cfg, wanted = pipeline_configs(given_sections(args, VAE_FLAGS + GAN_FLAGS), args.preset)
    out = args.out or Path("runs") / default_run_dir(vae_cfg.data.source, "").name.rstrip("-")
    result = run_pipeline(vae_cfg, gan_cfg, out, wanted=wanted)
    if result is not None:  # None on the other ranks under torchrun: rank 0 reports
        print(result.summary.read_text(), end="")
        print(f"run folder: {result.run_dir}")
    return 0
