"""Benchmark: do a fitted prior's samples copy training images? Nearest-training-image distances.

    PYTHONPATH=src:benchmarks python benchmarks/memorisation.py --data emoji --vae-steps 1500

Trains the dataset's default VAE as benchmarks/levers.py does (batch 64, one seed, a fifth of emoji held
out), then for each sampler (N(0, I) and mixtures of 10, 30 and 100 components fitted to the training
latents) measures every sample's RMS pixel distance (on [0, 1]) to its nearest training image. The yardstick
is the same distance for the held-out images, which the VAE never saw, and for the VAE's reconstructions
of training images (a copy through the decoder's blur): samples near the copies' distance are copies
rather than new pictures. Also printed: the share of samples nearer to a training image than the median
held-out image is (about 50% for samples as new as held-out images).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from levers import train_row_vae
from own_features import budget, data_settings, subsample

from vaegan.config import vae_run_config
from vaegan.data import load_splits, to_uint8
from vaegan.metrics.quality import uint8_to_unit
from vaegan.prior import fit_mixture, posterior_means, through_prior
from vaegan.runs import load_vae


def nearest_distances(images: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """RMS pixel distance from each uint8 image to its nearest uint8 training image, (N,)."""
    flat_train = uint8_to_unit(train).flatten(1)
    flat = uint8_to_unit(images).flatten(1)
    return torch.cat([torch.cdist(part, flat_train).min(1).values for part in flat.split(250)]) / flat.shape[1] ** 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="emoji")
    parser.add_argument("--vae-steps", type=int, default=1500)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--components", default="10,30,100")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    data, _ = data_settings(args.data, args.cache_dir)
    splits = load_splits(vae_run_config(data=data).data)
    epochs, n = budget(args.vae_steps, len(splits.train))
    vae_splits = subsample(splits, n, args.seed)
    train = vae_splits.train.images
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        train_row_vae("vae", data, epochs, args.seed, vae_splits, Path(tmp) / "vae")
        vae, cfg = load_vae(Path(tmp) / "vae")
    print(
        f"{args.data}: VAE {args.vae_steps} steps in {time.perf_counter() - started:.0f}s, {len(train)} training images"
    )
    held_out = nearest_distances(splits.val.images, train)
    median = held_out.median()
    print(f"held-out images ({len(held_out)}): nearest-training RMS distance median {median:.4f}")
    vr = cfg.model.value_range
    with torch.no_grad():  # the copy level: the VAE's own reconstructions of training images, blur and all
        copies = to_uint8(vae.decode(posterior_means(vae, train[: args.samples])).float(), vr)
    print(f"reconstructions of training images (copies): median {nearest_distances(copies, train).median():.4f}")
    noise = torch.Generator().manual_seed(args.seed)
    samplers = {"N(0, I)": lambda z: vae.decode(torch.randn(len(z), cfg.model.latent_dim, generator=noise))}
    z = posterior_means(vae, train)
    for k in (int(c) for c in args.components.split(",")):
        samplers[f"mixture of {k}"] = through_prior(vae.decode, fit_mixture(z, k, seed=args.seed), args.seed)
    with torch.no_grad():
        for name, decode in samplers.items():
            fake = to_uint8(decode(torch.zeros(args.samples, cfg.model.latent_dim)).float(), vr)
            d = nearest_distances(fake, train)
            share = float((d < median).float().mean())
            print(
                f"{name}: median {d.median():.4f}, 10th percentile {d.quantile(0.1):.4f}, "
                f"nearer than the median held-out image: {share:.0%}"
            )


if __name__ == "__main__":
    main()
