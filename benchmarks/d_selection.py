"""Benchmark: samplers of a trained GAN in Inception FID: the best 1/k of k x N samples by D's logit, or a
cooler fitted prior, against plain samples.

    PYTHONPATH=src python benchmarks/d_selection.py runs/emoji --samples 1000 --pools 1 2 4 --temperatures 0.8

Draws k x --samples images from the run's EMA generator (z from its fitted prior, or N(0, I) for a GAN
trained on that), ranks them by its discriminator's logit (a patch D's mean) and keeps the top --samples:
top-k selection, the deterministic cousin of discriminator rejection sampling (Azadi et al. 2019). Pool 1
is the plain sampler. Each --temperatures row scales every mixture component's spread (no selection).
Scored against the protocol's real set (docs/FID.md); a grid of each row's 32 most D-favoured images lands
in --grids. Every row's pool is drawn from the same seed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from vaegan.checkpoint import GANCheckpoint
from vaegan.data import to_uint8
from vaegan.metrics.inception_fid import describe, embed_images, fid_kid, load_fid_net, real_features
from vaegan.models.gan import Discriminator
from vaegan.models.vae import Decoder
from vaegan.prior import sample_latents
from vaegan.runs import Run, open_run
from vaegan.viz import save_grid

CHUNK = 250


def trained_nets(run: Run) -> tuple[Decoder, Discriminator]:
    """The run's EMA generator and its discriminator, in eval mode on the CPU."""
    checkpoint = run.stage("gan").checkpoint
    assert isinstance(checkpoint, GANCheckpoint)
    disc = Discriminator.for_config(run.config.model, checkpoint.config.gan)
    disc.load_state_dict(checkpoint.discriminator)
    return run.generator(), disc.eval()


@torch.no_grad()
def ranked_samples(
    run: Run, nets: tuple[Decoder, Discriminator], n: int, pool: int, temperature: float, seed: int
) -> tuple[torch.Tensor, float]:
    """(the n uint8 images D rates highest of n x pool drawn, best first; their mean logit)."""
    generator, disc = nets
    g = torch.Generator().manual_seed(seed)
    images, logits = [], []
    for start in range(0, n * pool, CHUNK):
        z = sample_latents(run, "gan", min(CHUNK, n * pool - start), g, temperature)
        x = generator(z)
        images.append(to_uint8(x, run.config.model.value_range))
        logits.append(disc(x).reshape(len(x), -1).mean(1))
    kept = torch.cat(logits).argsort(descending=True)[:n]
    return torch.cat(images)[kept], float(torch.cat(logits)[kept].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run folder with a GAN stage (make run's runs/emoji)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--pools", type=int, nargs="+", default=[1, 2, 4], help="k: keep the best 1/k")
    parser.add_argument("--temperatures", type=float, nargs="*", default=[0.8])
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument("--grids", type=Path, default=Path("/tmp/d_selection"))
    args = parser.parse_args()
    run = open_run(args.run)
    nets = trained_nets(run)
    net = load_fid_net()
    real, real_name = real_features(net, run.config.data)
    print(f"{args.samples} generated against {len(real)} real ({real_name})", flush=True)
    rows = [(f"top 1/{k} by D", k, 1.0) for k in args.pools] + [(f"temperature {t:g}", 1, t) for t in args.temperatures]
    for label, pool, temperature in rows:
        started = time.perf_counter()
        images, mean_logit = ranked_samples(run, nets, args.samples, pool, temperature, args.seed)
        scores = describe(fid_kid(real, embed_images(net, images, desc=label)))
        seconds = time.perf_counter() - started
        print(f"{label}: {scores}, mean D logit {mean_logit:.2f} ({seconds:.0f}s)", flush=True)
        save_grid(images[:32], args.grids / f"{label.replace(' ', '-').replace('/', 'of')}.png", nrow=8)


if __name__ == "__main__":
    main()
