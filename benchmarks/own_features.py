"""Benchmark in vaegan's own feature space: sample quality and likelihood of every model it trains, at fixed
step budgets, over seeds (Inception FID by step budget is benchmarks/curve.py).

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

    python benchmarks/own_features.py --feature-cost --folder DIR   # the feature net's own cost and ranks

--feature-cost measures the judge itself, on emoji (a classifier) and on DIR, a folder without labels (a
SimCLR encoder): its training time against the quick preset's (rounds interleaved, medians), and the
Spearman rank correlation of nine sample sets' FIDs under the shipped recipe and the 1,500-step one it
replaced; the record lands in docs/results/own-features/cost.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from report import DATASETS, machine, write_report
from throughput import VARIANTS, vaegan_gan, vaegan_vae

from vaegan.config import GANConfig, GANRunConfig, ModelConfig, vae_run_config
from vaegan.data import DataSplits, ImageDataset, load_splits
from vaegan.metrics.features import FeatureNet, load_feature_net
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.quality import embed, fid, quality_metrics, sample_images, uint8_to_unit
from vaegan.presets import dataset_defaults
from vaegan.prior import fit_to_images, through_prior
from vaegan.runs import load_generator, load_vae
from vaegan.training import feature_net as judge
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
    data = {"source": source, **defaults.get("data", {}), "cache_dir": cache_dir}
    if source == "emoji":
        # Emoji have no test set; a fifth held out (about 760 images) is the real side of the metrics.
        data["val_fraction"] = 0.2
    return data, vae_run_config(**defaults).model.latent_dim


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


# --feature-cost: the judge's own cost, and whether the shipped recipe ranks sample sets as the old one did.
OLD_RECIPE = judge.Recipe(steps=1500, batch_size=128)  # both kinds, until FEATURE_VERSION 2
QUICK_EPOCHS = {"vae": 24, "gan": 9}  # the quick preset (presets.py)
MIN_STEPS = 300  # RunSettings.min_steps: small data trains more epochs
SAMPLER_STEPS = (30, 150, 40)  # a short VAE, a longer one, a GAN from the longer one: samplers to rank


def quick_steps(n_train: int) -> dict[str, int]:
    """Optimiser steps of the quick preset's VAE and GAN on `n_train` images: its epochs, or min_steps' more."""
    per_epoch = math.ceil(n_train / BATCH)
    return {stage: max(epochs, math.ceil(MIN_STEPS / per_epoch)) * per_epoch for stage, epochs in QUICK_EPOCHS.items()}


def quick_step_seconds(images: torch.Tensor, model: ModelConfig) -> dict[str, float]:
    """Seconds per VAE and per GAN step of the shipped 64x64 model at batch 64, fp32, in the faster layout."""
    layouts = [v for v in VARIANTS if not v.bf16 and v.fused]
    return {
        "vae": min(BATCH / vaegan_vae(images, model, "mse_sum", BATCH, 6, v)[0] for v in layouts),
        "gan": min(BATCH / vaegan_gan(images, model, BATCH, 4, v)[0] for v in layouts),
    }


def seconds_per_step(train: ImageDataset, batch_size: int, steps: int) -> float:
    """One feature-net training step at `batch_size`, timed over `steps` after two warm-up steps, in the
    faster layout (train_feature_net's probe picks it, as the quick preset's probes do theirs)."""
    seconds = []
    for layout in (torch.contiguous_format, torch.channels_last):
        net = judge.new_feature_net(train)
        opt = torch.optim.Adam(net.parameters())
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        g = torch.Generator().manual_seed(0)
        judge.fit(net, train, 2, batch_size, opt, sched, g, layout, quiet=True)
        started = time.perf_counter()
        judge.fit(net, train, steps, batch_size, opt, sched, g, layout, quiet=True)
        seconds.append((time.perf_counter() - started) / steps)
    return min(seconds)


def feature_cost_timing(data: dict[str, DataSplits], rounds: int) -> dict[str, Any]:
    """Rounds of (the quick preset's steps, the old and the shipped recipe's steps), interleaved; the
    medians give each net's training seconds over the quick preset's seconds of steps on the same data."""
    model = vae_run_config(data={"source": "emoji"}).model
    seconds: dict[str, list[float]] = {}
    for _ in range(rounds):
        step = quick_step_seconds(data["emoji"].train.images, model)
        for name, splits in data.items():
            steps = quick_steps(len(splits.train))
            seconds.setdefault(f"{name}/quick", []).append(sum(steps[k] * step[k] for k in steps))
            recipes = {"old": OLD_RECIPE, "new": judge.RECIPES[judge.kind_for(splits.train)]}
            for label, recipe in recipes.items():
                timed = 10 if splits.train.labels is not None else 6
                each = seconds_per_step(splits.train, recipe.batch_size, timed)
                seconds.setdefault(f"{name}/{label}", []).append(recipe.steps * each)
        seconds.setdefault("load1", []).append(os.getloadavg()[0])
        print({k: round(v[-1], 1) for k, v in seconds.items()}, flush=True)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    ratios = {  # each round's net over the same round's quick preset, then the median over rounds
        name: {
            label: statistics.median(
                a / b for a, b in zip(seconds[f"{name}/{label}"], seconds[f"{name}/quick"], strict=True)
            )
            for label in ("old", "new")
        }
        for name in data
    }
    return {"seconds": seconds, "median_seconds": med, "over_quick": ratios}


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 (N, C, H, W) blurred by a separable Gaussian of `sigma` pixels."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x, c = images.float(), images.shape[1]
    x = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (radius,) * 4, mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c
    )
    x = torch.nn.functional.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return x.round().clamp(0, 255).to(torch.uint8)


def samplers(images: torch.Tensor, model: ModelConfig) -> dict[str, Any]:
    """Decoders of graded quality trained here on `images`: a VAE after SAMPLER_STEPS[0] and [1] steps (the
    longer one also from its fitted prior), and a GAN warm-started from the longer one."""
    short, long, gan_steps = SAMPLER_STEPS
    early = vaegan_vae(images, model, "mse_sum", BATCH, short, VARIANTS[1])[1].eval()
    late = vaegan_vae(images, model, "mse_sum", BATCH, long, VARIANTS[1])[1].eval()
    generator = vaegan_gan(images, model, BATCH, gan_steps, VARIANTS[1], start=late.decoder)[1].eval()
    prior = fit_to_images(late, images[:2000])
    return {
        f"vae {short} steps": early.decode,
        f"vae {long} steps": late.decode,
        f"vae {long} steps, fitted prior": through_prior(late.decode, prior, 0),
        f"gan {gan_steps} steps": generator,
    }


def sample_sets(images: torch.Tensor, decoders: dict[str, Any], model: ModelConfig, n: int) -> dict[str, torch.Tensor]:
    """uint8 image sets of graded quality: real, degraded real, 50 real images repeated, and samples."""
    g = torch.Generator().manual_seed(0)
    real = images[torch.randperm(len(images), generator=g)[:n]]
    noisy = {
        std: (real.float() + 255 * std * torch.randn(real.shape, generator=g)).round().clamp(0, 255)
        for std in (0.05, 0.1)
    }
    sets = {
        "real": real,
        "blur 1px": blur(real, 1.0),
        "blur 2px": blur(real, 2.0),
        "noise 0.05": noisy[0.05].to(torch.uint8),
        "noise 0.1": noisy[0.1].to(torch.uint8),
        "50 images repeated": real[torch.arange(n) % 50],
    }
    with torch.no_grad():
        for name, decode in decoders.items():
            sets[name] = sample_images(decode, model.latent_dim, n, model.value_range, g)
    return sets


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation of two lists without ties."""
    ra, rb = (torch.tensor(v).argsort().argsort().float() for v in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def old_net(splits: DataSplits, path: Path) -> FeatureNet:
    """The 1,500-step, batch-128 net of FEATURE_VERSION 1, trained once and kept at `path`."""
    if not path.is_file():
        net = judge.train_feature_net(splits.train, OLD_RECIPE.steps, OLD_RECIPE.batch_size)
        judge.save_feature_net(net, path, {"steps": OLD_RECIPE.steps, "batch_size": OLD_RECIPE.batch_size})
    return load_feature_net(path)


def feature_ranks(name: str, splits: DataSplits, work: Path, n: int) -> dict[str, Any]:
    """FIDs of ten sample sets under the old and the shipped net, and their Spearman correlation."""
    model = vae_run_config(data={"source": "emoji"}).model
    images = splits.train.images
    nets = {
        "old": old_net(splits, work / f"{name}-old.pt"),
        "new": feature_net_for(vae_run_config(data={"source": SOURCES[name]}).data, splits, work),
    }
    sets = sample_sets(images, samplers(images, model), model, min(n, len(images)))
    fids: dict[str, dict[str, float]] = {}
    for label, net in nets.items():
        real = embed(net, uint8_to_unit(splits.val.images))
        fids[label] = {k: fid(real, embed(net, uint8_to_unit(v))) for k, v in sets.items()}
        print(name, label, {k: round(v, 3) for k, v in fids[label].items()}, flush=True)
    return {"fid": fids, "spearman": spearman(list(fids["old"].values()), list(fids["new"].values()))}


SOURCES: dict[str, str] = {"emoji": "emoji"}  # --folder adds "folder"


def feature_cost(args: argparse.Namespace) -> None:
    """--feature-cost: time and rank check of the own-feature net, written to docs/results/own-features/."""
    SOURCES["folder"] = str(args.folder)
    data = {name: load_splits(vae_run_config(data={"source": source}).data) for name, source in SOURCES.items()}
    args.work.mkdir(parents=True, exist_ok=True)
    started, load = time.perf_counter(), os.getloadavg()[0]
    timing = feature_cost_timing(data, args.rounds)
    ranks = {name: feature_ranks(name, splits, args.work, args.samples) for name, splits in data.items()}
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "load_average": {"start": load, "end": os.getloadavg()[0]},
        "minutes": (time.perf_counter() - started) / 60,
        "recipes": {"old": asdict(OLD_RECIPE), **{k: asdict(v) for k, v in judge.RECIPES.items()}},
        "training_images": {name: len(splits.train) for name, splits in data.items()},
        "quick_preset_steps": {name: quick_steps(len(splits.train)) for name, splits in data.items()},
        "cost_over_quick_training": timing,
        "ranks": ranks,
    }
    path = args.grids / "own-features" / "cost.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


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
    parser.add_argument("--feature-cost", action="store_true", help="the feature net's cost and ranks instead")
    parser.add_argument("--folder", type=Path, help="with --feature-cost: a folder of images without labels")
    parser.add_argument("--work", type=Path, default=Path("feature-cost"), help="--feature-cost's runs and nets")
    parser.add_argument("--rounds", type=int, default=3, help="--feature-cost's interleaved timing rounds")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.feature_cost:
        feature_cost(args)
        return
    (args.grids / args.data).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vaegan-bench-") as work:
        results, info = run_variants(args, Path(work))
    saved = save_results(args, results, info, time.perf_counter() - started)
    write_report(args.grids, args.out)
    print(f"wrote {saved} and {args.out}")


if __name__ == "__main__":
    main()
