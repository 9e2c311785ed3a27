"""`vaegan sample` and `vaegan reconstruct`: pictures from a trained run's checkpoint alone.

Both work on VAE and GAN runs: a GAN run decodes with its EMA generator (and encodes with its VAE), and
`--stage vae|gan` picks the stage of a pipeline run folder that holds both. Like every tool they write into
-o DIR, by default the run folder (cli/outputs.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from vaegan.cli.outputs import add_out, picture_path
from vaegan.config import MAX_SEED
from vaegan.limits import MAX_SAMPLES, check_count, check_finite
from vaegan.prior import SAMPLERS, stage_latents


def register(sub: Any) -> None:
    p = sub.add_parser("sample", help="decode z from the prior or the fitted prior into a PNG grid")
    p.add_argument("run", type=Path, help="a run folder or checkpoint file")
    p.add_argument("-n", "--num", type=int, default=64, help="number of images (default 64)")
    add_out(p, "samples_STAGE_SAMPLER.png (e.g. samples_gan_fitted.png)")
    p.add_argument("--seed", type=int, default=0, help="seed of z (default 0)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of z (default 1)")
    p.add_argument("--stage", choices=("vae", "gan"), help="VAE decoder or GAN generator (default: GAN if trained)")
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default="auto",
        help="z from N(0, I) (prior), or from the prior fitted to the training images' latents: a Gaussian mixture "
        "(--prior-components) or a flow, as the run's [model] prior says (fitted once, saved as prior.pt or "
        "flow_prior.pt beside the VAE checkpoint); auto: fitted for the VAE, and "
        "for the GAN the z it was trained on (its --latents) (default auto)",
    )
    p.set_defaults(func=run_sample)

    p = sub.add_parser("reconstruct", help="encode images and decode their means, originals above reconstructions")
    p.add_argument("run", type=Path, help="a run folder or checkpoint file")
    p.add_argument("--images", nargs="+", type=Path, required=True, help="image files or folders")
    add_out(p, "reconstructions_STAGE.png")
    p.add_argument("--stage", choices=("vae", "gan"), help="VAE decoder or GAN generator (default: GAN if trained)")
    p.set_defaults(func=run_reconstruct)

    p = sub.add_parser("nearest", help="samples beside their nearest training images, and the copy rate")
    p.add_argument("run", type=Path, help="a run folder or checkpoint file")
    p.add_argument("-n", "--num", type=int, default=16, help="samples shown, each with 3 neighbours (default 16)")
    p.add_argument("--samples", type=int, default=1000, help="samples the copy rate counts over (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of z (default 0)")
    p.add_argument("--stage", choices=("vae", "gan"), help="VAE decoder or GAN generator (default: GAN if trained)")
    add_out(p, "nearest_STAGE.png")
    p.set_defaults(func=run_nearest)


def run_sample(args: argparse.Namespace) -> int:
    from vaegan.api import UNIT, load
    from vaegan.viz import check_image_path, save_grid

    check_count(args.num, 1, MAX_SAMPLES, "-n")  # one grid; more is a job for a loop over seeds
    check_finite(args.temperature, "--temperature", low=0)
    check_count(args.seed, 0, MAX_SEED, "--seed")
    model = load(args.run, args.stage)
    # the file says what it shows: samples_gan_fitted.png, samples_vae_prior.png, ...
    sampler = args.sampler
    if sampler == "auto":
        sampler = "fitted" if stage_latents(model.run, model.stage) == "fitted" else "prior"
    path = picture_path(args.out, args.run, f"samples_{model.stage}_{sampler}.png")
    check_image_path(path)  # before the decoding
    images = model.sample(args.num, seed=args.seed, temperature=args.temperature, sampler=args.sampler)
    print(save_grid(images, path, UNIT))
    return 0


def run_reconstruct(args: argparse.Namespace) -> int:
    from vaegan.api import UNIT, load
    from vaegan.viz import check_image_path, save_grid

    model = load(args.run, args.stage)
    path = picture_path(args.out, args.run, f"reconstructions_{model.stage}.png")
    check_image_path(path)  # before the encoding
    images = model.images(args.images)
    x, recon = images.float() / 255, model.reconstruct(images)
    per_row = min(8, len(x))
    rows = [t for i in range(0, len(x), per_row) for t in (x[i : i + per_row], recon[i : i + per_row])]
    print(save_grid(torch.cat(rows), path, UNIT, nrow=per_row))
    return 0


def run_nearest(args: argparse.Namespace) -> int:
    from vaegan.config import MAX_QUALITY_SAMPLES
    from vaegan.limits import MAX_GRID
    from vaegan.lookalikes import nearest_audit

    check_count(args.num, 1, MAX_GRID, "-n")
    check_count(args.samples, 2, MAX_QUALITY_SAMPLES, "--samples")
    found = nearest_audit(args.run, args.stage, args.num, args.samples, args.seed)
    path = picture_path(args.out, args.run, f"nearest_{found.stage}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    found.picture.save(path)
    if found.copy_rate is None:
        print(
            f"copy rate: none: the samples are about one picture (diversity {found.diversity:.2f} of the training "
            f"images'), so the {found.stage.upper()} collapsed and copies nothing; see its run's summary.txt"
        )
    else:
        print(
            f"copy rate: {found.copy_rate:.0%} of {found.samples} samples are near copies of a training image "
            f"(held-out images: {found.floor:.0%}; a generator that hands back its training images: near 100%)"
        )
    print(
        "near copy: nearer its nearest training image than half the held-out images are to theirs "
        f"(a distance under {found.threshold:.2f})"
    )
    print(
        "distance (left of each row): Euclidean, from the sample to its nearest training image in vaegan's own "
        "feature space (the one FID uses); lower = closer"
    )
    print(f"picture: {path}")
    return 0
