"""Benchmark in vaegan's own feature space: sample quality and likelihood of every model it trains, at fixed
step budgets, over seeds (the Inception race at equal wall-clock is benchmarks/quality.py).

    python benchmarks/own_features.py [--steps 600] [--gan-steps 600] [--seeds 3] [--data fashion-mnist]
    python benchmarks/own_features.py --data emoji       # the same at 64x64 RGB; its section joins the report

Variants (each trained for exactly --steps optimiser steps, batch 64, from its own seed):
  vae-mse_sum, vae-mse_mean, vae-bce   the VAE with each reconstruction loss, beta = 1
  vae-beta0                            the KL ablation: beta = 0, reconstruction only, with the encoder's
                                       sampling noise kept. It isolates what the KL term buys in prior
                                       samples (the decoder never learns that z ~ N(0, I)); "KL only"
                                       without reconstruction would be a posterior equal to the prior and
                                       a constant decoder, which teaches nothing.
  ae                                   the plain autoencoder (mse_sum), decoded from z ~ N(0, I)
  gan-{nonsaturating,minimax}-vae      the GAN whose generator starts as the vae-mse_sum decoder
  gan-{nonsaturating,minimax}-scratch  the same GAN from random weights
Metrics: FID, KID, precision/recall, density/coverage and mode coverage in the feature space of
vaegan.metrics.features (trained once per dataset and cached), on --samples generated images against
as many held-out images; for the VAEs also -ELBO, bits/dim and PSNR on 1000 held-out images; for the
GANs the sample diversity and whether it fell below the collapse warning's threshold at any epoch.
Each dataset's results land in docs/results/<data>/results.json with one sample grid per variant
(seed 0, under --grids); docs/RESULTS.md is then rebuilt (report.py), its own-feature section from every
dataset's JSON (mean +- sample std over seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from report import DATASETS, machine, write_report

from vaegan.config import GANConfig, GANRunConfig, vae_run_config
from vaegan.data import DataSplits, load_splits
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.quality import embed, quality_metrics, uint8_to_unit
from vaegan.presets import dataset_defaults
from vaegan.runs import load_generator, load_vae
from vaegan.training.feature_net import feature_net_for
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae
from vaegan.viz import save_grid

BATCH = 64
VAE_VARIANTS = {  # name -> (model kind, reconstruction, beta)
    "vae-mse_sum": ("vae", "mse_sum", 1.0),
    "vae-mse_mean": ("vae", "mse_mean", 1.0),
    "vae-bce": ("vae", "bce", 1.0),
    "vae-beta0": ("vae", "mse_sum", 0.0),
    "ae": ("ae", "mse_sum", 1.0),
}
GAN_VARIANTS = {
    f"gan-{loss}-{init}": (loss, init) for init in ("vae", "scratch") for loss in ("nonsaturating", "minimax")
}
COLUMNS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "classes_covered",
    "class_kl",
    "neg_elbo",
    "bpd_elbo",
    "psnr",
    "diversity",
)


def budget(steps: int, n_train: int) -> tuple[int, int]:
    """(epochs, images) so that epochs * images / BATCH = steps: one pass over a subset, or several."""
    epochs = max(1, math.ceil(steps * BATCH / n_train))
    return epochs, steps * BATCH // epochs


def subsample(splits: DataSplits, n: int, seed: int) -> DataSplits:
    index = torch.randperm(len(splits.train), generator=torch.Generator().manual_seed(seed))[:n]
    return replace(splits, train=splits.train.subset(index.sort().values))


def data_settings(source: str, cache_dir: str | None) -> tuple[dict[str, Any], int]:
    """The dataset's own defaults (28 px grey for the IDX sets, 64 px RGB for emoji) and latent size."""
    defaults = dataset_defaults(source)
    data = {"source": source, **defaults["data"], "cache_dir": cache_dir}
    if source == "emoji":
        # Emoji have no test set; a fifth held out (about 760 images) is the real side of the metrics.
        data["val_fraction"] = 0.2
    return data, defaults["model"]["latent_dim"]


def collapsed(run: Path, fraction: float) -> bool:
    """Whether the GAN's sample diversity fell below the collapse warning's threshold at any epoch."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return any(r["diversity"] < fraction for r in records if r.get("stage") == "gan")


def run_variants(args: argparse.Namespace, work: Path) -> tuple[dict[str, list[dict[str, float]]], dict[str, Any]]:
    data, latent_dim = data_settings(args.data, args.cache_dir)
    splits = load_splits(vae_run_config(data=data).data)
    net = feature_net_for(vae_run_config(data=data).data, splits, args.cache_dir)
    samples = min(args.samples, len(splits.test))
    info: dict[str, Any] = {
        "feature_accuracy": net.accuracy,
        "samples": samples,
        "train_images": len(splits.train),
        "image_size": data["image_size"],
        "channels": data["channels"],
    }
    real = splits.test.images[:samples]
    real_features = embed(net, uint8_to_unit(real))
    results: dict[str, list[dict[str, float]]] = {}
    grids: dict[str, torch.Tensor] = {}

    def score(name: str, decode: Any, latent_dim: int, value_range: tuple[float, float], seed: int) -> dict:
        g = torch.Generator().manual_seed(seed)
        metrics = quality_metrics(
            decode,
            latent_dim,
            real,
            value_range,
            net,
            n=samples,
            generator=g,
            real_features=real_features,
        )
        if seed == args.first_seed:
            with torch.no_grad():
                grids[name] = decode(torch.randn(32, latent_dim, generator=torch.Generator().manual_seed(0)))
                save_grid(grids[name].float(), args.grids / args.data / f"{name}.png", value_range, nrow=8)
        return metrics

    for seed in range(args.first_seed, args.first_seed + args.seeds):
        epochs, n = budget(args.steps, len(splits.train))
        train_splits = subsample(splits, n, seed)
        for name, (kind, recon, beta) in VAE_VARIANTS.items():
            t0 = time.perf_counter()
            cfg = vae_run_config(
                data=data,
                model={"kind": kind, "latent_dim": latent_dim},
                loss={"reconstruction": recon, "beta": beta},
                train={
                    "epochs": epochs,
                    "batch_size": BATCH,
                    "seed": seed,
                    "device": "cpu",
                    "grid_size": 16,
                    "quality_every": 0,  # scored once at the end, below
                },
            )
            run = work / f"{name}-s{seed}"
            train_vae(cfg, run, splits=train_splits, progress=False)
            vae, cfg = load_vae(run)
            m = score(name, vae.decode, cfg.model.latent_dim, cfg.model.value_range, seed)
            m.update(likelihood_metrics(vae, splits.test.images[:1000], recon, cfg.model.value_range, k=0))
            m["seconds"] = time.perf_counter() - t0
            results.setdefault(name, []).append(m)
            print(f"seed {seed} {name}: fid {m['fid']:.3g} ({m['seconds']:.0f}s)", flush=True)
        gan_epochs, gan_n = budget(args.gan_steps, len(splits.train))
        gan_splits = subsample(splits, gan_n, seed + 1000)
        for name, (loss, init) in GAN_VARIANTS.items():
            t0 = time.perf_counter()
            # EMA half-life tied to the budget: with decay 0.999 and 600 steps, the "trained" generator
            # would still be 55% its initial weights.
            gan = GANConfig(
                loss=loss,
                init=init,
                epochs=gan_epochs,
                batch_size=BATCH,
                seed=seed,
                device="cpu",
                grid_size=16,
                quality_every=0,
                ema_decay=min(0.999, 1.0 - 10.0 / args.gan_steps),
            )
            run = work / f"{name}-s{seed}"
            train_gan(
                GANRunConfig(vae_checkpoint=str(work / f"vae-mse_sum-s{seed}"), gan=gan),
                run,
                splits=gan_splits,
                progress=False,
            )
            generator, vcfg = load_generator(run)
            m = score(name, generator, vcfg.model.latent_dim, vcfg.model.value_range, seed)
            final = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
            m["diversity"] = final["diversity"]
            m["collapsed"] = collapsed(run, gan.collapse_fraction)
            m["seconds"] = time.perf_counter() - t0
            results.setdefault(name, []).append(m)
            print(f"seed {seed} {name}: fid {m['fid']:.3g} ({m['seconds']:.0f}s)", flush=True)
    return results, info


def save_results(args: argparse.Namespace, results: dict, info: dict, seconds: float) -> Path:
    path = args.grids / args.data / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "data": args.data,
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "minutes": seconds / 60,
        "steps": args.steps,
        "gan_steps": args.gan_steps,
        "seeds": args.seeds,
        "info": info,
        "results": results,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="VAE optimiser steps per run (default 600)")
    parser.add_argument("--gan-steps", type=int, default=600, help="GAN steps per run (default 600)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--data", default="fashion-mnist", choices=DATASETS, help="labelled data to train on")
    parser.add_argument("--samples", type=int, default=2000, help="generated images per metric (default 2000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", help="feature-net cache (default ~/.cache/vaegan)")
    parser.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"), help="the report to rebuild")
    parser.add_argument("--grids", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    (args.grids / args.data).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vaegan-bench-") as work:
        results, info = run_variants(args, Path(work))
    saved = save_results(args, results, info, time.perf_counter() - started)
    write_report(args.grids, args.out)
    print(f"wrote {saved} and {args.out}")


if __name__ == "__main__":
    main()
