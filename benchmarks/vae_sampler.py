"""Benchmark: which sampler gets the most out of one VAE, and how far any sampler could go.

    python benchmarks/vae_sampler.py --data fashion-mnist --minutes 15 --samples 2000
    python benchmarks/vae_sampler.py --data emoji --steps 1500 --samples 1000 --components 100 --temperatures

Trains the VAE alone as the race's "vae" variant does (race.py: today's defaults, one seed, for
--minutes of wall-clock, or for --steps optimiser steps, a budget that the machine's load does not
change, at --precision), keeps its weights under the cache so a second run scores the same
VAE, then scores in Inception features (the protocol's real side, docs/FID.md):
- reconstructions: the decoder on the posterior means of the first --samples real images the FID is
  scored against. No sampler of this decoder can beat its own reconstructions of those images by much, so
  this row is the ceiling: a gap to it is the sampler's, the rest is the decoder's blur;
- z ~ N(0, I), the plain VAE's sampler;
- the fitted prior (prior.py) at each K of --components, and at each --temperatures for the preset's K.
First it prints how the latent is used: KL(q(z|x) || N(0, I)) per dimension over those real images (a
dimension under latent.ACTIVE_KL nats carries nothing) and the reconstructions' PSNR; --stats-only stops there.
`--vae-set model.latent_dim=64` (quality.py's flag) trains and scores a VAE other than the preset's;
`--lr-decay` lets its learning rate fall linearly to 0 over --steps (a budgeted schedule, Li et al. 2020).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable

import torch
from quality import configs, vae_overrides, vae_setting
from race import FP32, VAETrainer, auto_settings

from vaegan.config import GANConfig, VAERunConfig
from vaegan.data import load_splits, to_float, to_uint8
from vaegan.latent import active_units, kl_per_dim
from vaegan.metrics.features import cache_root
from vaegan.metrics.inception_fid import describe, embed_images, fid_kid, load_fid_net, real_features, reference_images
from vaegan.metrics.psnr import posterior_psnr
from vaegan.models.vae import VAE
from vaegan.prior import fit_mixture, posterior_means


def weights_name(cfg: VAERunConfig, budget: str, seed: int, precision: str) -> str:
    """The cached weights' file name: keyed by everything the VAE trained with, so a preset that changes
    (the grey latent went from 32 to 64 dimensions) trains a new VAE instead of loading the old one's."""
    trained_with = [dataclasses.asdict(section) for section in (cfg.data, cfg.model, cfg.loss, cfg.train)]
    digest = hashlib.sha256(json.dumps(trained_with, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return f"vae-{cfg.data.source}-{budget}-seed{seed}-{precision}-{digest}.pt"


def trained_vae(args: argparse.Namespace, cfg: VAERunConfig, gan: GANConfig, images: torch.Tensor) -> VAETrainer:
    """The VAE of the race's "vae" variant after --minutes (or --steps), trained once and kept under the cache."""
    budget = f"{args.steps}steps" if args.steps else f"{args.minutes:g}min"
    budget += "-lrdecay" if args.lr_decay else ""
    path = cache_root(cfg.data) / "benchmarks" / weights_name(cfg, budget, args.seed, args.precision)
    settings = auto_settings(cfg, gan, images)[0] if args.precision == "auto" else FP32
    trainer = VAETrainer(cfg, images, args.seed, settings, decay_steps=args.steps if args.lr_decay else 0)
    if path.is_file():
        trainer.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        print(f"loaded {path}")
        return trainer
    started = time.perf_counter()
    while (trainer.steps < args.steps) if args.steps else (time.perf_counter() - started < args.minutes * 60):
        trainer.step()
    print(f"trained {trainer.steps} steps in {time.perf_counter() - started:.0f}s ({settings.note})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trainer.model.state_dict(), path)
    return trainer


@torch.no_grad()
def latent_use(vae: VAE, images: torch.Tensor, value_range: tuple[float, float]) -> str:
    """KL per latent dimension (nats, mean over `images`), largest first, and the reconstructions' PSNR."""
    posterior = vae.encode(to_float(images, value_range))
    kl = kl_per_dim(posterior.mean, posterior.logvar).sort(descending=True).values
    active = int(active_units(kl).sum())
    psnr = posterior_psnr(lambda x: vae.encode(x).mean, vae.decode, images, value_range)
    return (
        f"latent: {active} of {len(kl)} dimensions active, KL {float(kl.sum()):.1f} nats "
        f"(per dimension {float(kl[0]):.2f} .. {float(kl[-1]):.2f}); reconstructions' PSNR {psnr:.2f} dB"
    )


@torch.no_grad()
def decoded(
    decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, value_range: tuple[float, float]
) -> torch.Tensor:
    """uint8 images of decode(z), 250 latents at a time."""
    return torch.cat([to_uint8(decode(part).float(), value_range) for part in z.split(250)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--steps", type=int, help="train this many optimiser steps instead of --minutes")
    parser.add_argument("--precision", choices=("fp32", "auto"), default="fp32", help="fp32: the race's vae variant")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--components", type=int, nargs="+", default=[10, 100, 300])
    parser.add_argument("--temperatures", type=float, nargs="*", default=[0.9])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vae-set", type=vae_setting, action="append", metavar="SECTION.FIELD=NUMBER")
    parser.add_argument("--lr-decay", action="store_true", help="the learning rate falls linearly to 0 over --steps")
    parser.add_argument("--cache-dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stats-only", action="store_true", help="print the latent's use and PSNR, score nothing")
    args = parser.parse_args()
    if args.lr_decay and not args.steps:
        parser.error("--lr-decay decays over --steps; give --steps N")
    torch.set_num_threads(args.threads)
    cfg, gan = configs(args.data, args.cache_dir, vae_overrides=vae_overrides(args.vae_set))
    images = load_splits(cfg.data).train.images
    trainer = trained_vae(args, cfg, gan, images)
    vae, value_range = trainer.model.eval(), cfg.model.value_range
    held_out = reference_images(cfg.data)[0][: args.samples]
    print(latent_use(vae, held_out, value_range), flush=True)
    if args.stats_only:
        return
    net = load_fid_net()
    real, real_name = real_features(net, cfg.data, args.cache_dir)
    print(f"{args.samples} generated against {len(real)} real ({real_name})")
    g = torch.Generator().manual_seed(10_000 + args.seed)

    def score(row: str, fake: torch.Tensor) -> None:
        print(f"{row}: {describe(fid_kid(real, embed_images(net, fake, desc=row)))}", flush=True)

    score("reconstructions of the real side's images", decoded(vae.decode, posterior_means(vae, held_out), value_range))
    score("z ~ N(0, I)", decoded(vae.decode, torch.randn(args.samples, cfg.model.latent_dim, generator=g), value_range))
    latents = posterior_means(vae, images)
    for k in args.components:
        started = time.perf_counter()
        prior = fit_mixture(latents, k)
        fit_seconds = time.perf_counter() - started
        temperatures = [1.0, *args.temperatures] if k == cfg.model.prior_components else [1.0]
        for t in temperatures:
            z = prior.sample(args.samples, g, temperature=t)
            score(
                f"fitted prior, K={k}, temperature {t:g} (fit {fit_seconds:.0f}s)", decoded(vae.decode, z, value_range)
            )


if __name__ == "__main__":
    main()
