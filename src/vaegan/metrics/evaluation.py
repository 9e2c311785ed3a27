"""Evaluate a trained run folder offline: likelihood bounds, reconstruction, and sample quality.

Accepts a train-vae run, a train-gan run (its VAE is found through the checkpoint) or a pipeline run
(RUN/vae and RUN/gan). Sample quality is measured for the VAE's prior samples, the GAN generator's (EMA
weights) when there is one, and for real *training* images: the `reference` row is what a perfect
generator would score with the same number of samples, the floor every other row should be read against.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vaegan.data import ImageDataset, load_splits
from vaegan.errors import VaeganError
from vaegan.metrics.artifacts import artifact_score
from vaegan.metrics.coverage import mode_coverage
from vaegan.metrics.features import FeatureNet, cache_path, feature_net_for
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.quality import class_predictions, compare_features, embed, sample_images, uint8_to_unit
from vaegan.runs import Run, open_run

log = logging.getLogger(__name__)

MIN_SAMPLES = 5  # density/coverage use each image's 5th nearest neighbour

DENSITIES = {
    "bce": "Bernoulli (bpd: the usual convention on grey levels)",
    "mse_sum": "Gaussian, variance 1/2 (bpd: 8-bit bins of width (hi - lo) / 255)",
    "mse_mean": "Gaussian, variance C*H*W/2 (bpd: 8-bit bins of width (hi - lo) / 255)",
}


def find_stages(run: Run) -> tuple[Path, Path | None]:
    """(VAE checkpoint, GAN checkpoint or None) of a run."""
    gan = run.stages.get("gan")
    return run.stage("vae").checkpoint_path, gan.checkpoint_path if gan else None


def pick_split(splits: Any, split: str) -> ImageDataset:
    if split not in ("train", "val", "test"):
        raise VaeganError(f"split must be train, val or test, got {split!r}")
    data: ImageDataset = getattr(splits, split)
    if len(data) == 0:
        raise VaeganError(f"the {split} split is empty; pick another with --split")
    return data


def sample_quality(
    fake: torch.Tensor, real: torch.Tensor, real_features: torch.Tensor, net: FeatureNet
) -> dict[str, float]:
    """Feature metrics (and mode coverage for a classifier) of uint8 `fake` against uint8 `real`."""
    metrics = compare_features(real_features, embed(net, uint8_to_unit(fake)))
    metrics["artifact"] = artifact_score(fake, real)
    if net.kind == "classifier":
        metrics.update(mode_coverage(class_predictions(net, fake), class_predictions(net, real), net.outputs))
    return metrics


@torch.no_grad()
def evaluate_run(
    run: str | Path,
    split: str = "test",
    k: int = 64,
    samples: int = 5000,
    max_images: int | None = None,
    cache_dir: str | Path | None = None,
    inception: str | Path | None = None,
    seed: int = 0,
    feature_steps: int = 1500,
) -> dict[str, Any]:
    """All metrics of a run as a JSON-ready dict (see the CLI's `vaegan evaluate --help` for the keys)."""
    if samples <= MIN_SAMPLES:
        raise VaeganError(f"--samples must be more than {MIN_SAMPLES} for k-NN metrics, got {samples}")
    opened = open_run(run)
    vae_path, gan_path = find_stages(opened)
    vae, cfg = opened.vae(), opened.config
    splits = load_splits(cfg.data)
    data = pick_split(splits, split)
    images = data.images[:max_images] if max_images else data.images
    value_range = cfg.model.value_range
    report: dict[str, Any] = {
        "run": str(run),
        "vae_checkpoint": str(vae_path),
        "gan_checkpoint": str(gan_path) if gan_path else None,
        "data": cfg.data.source,
        "split": split,
        "n_images": len(images),
        "model": cfg.model.kind,
        "reconstruction": cfg.loss.reconstruction,
        "density": DENSITIES[cfg.loss.reconstruction] if cfg.model.kind == "vae" else None,
        "k": k if cfg.model.kind == "vae" else None,
    }
    log.info("likelihood on %d %s images (k=%d)", len(images), split, k)
    report["likelihood"] = likelihood_metrics(vae, images, cfg.loss.reconstruction, value_range, k=k, seed=seed)

    net = feature_net_for(cfg.data, splits, cache_dir, steps=feature_steps)
    report["feature_net"] = {
        "kind": net.kind,
        "test_accuracy": net.accuracy,
        "path": str(cache_path(cfg.data, cache_dir)),
    }
    n = min(samples, len(data.images))
    if n <= MIN_SAMPLES:
        raise VaeganError(f"only {n} {split} images: k-NN metrics need more than {MIN_SAMPLES}; use another --split")
    real = data.images[:n]
    real_features = embed(net, uint8_to_unit(real))
    generator = torch.Generator().manual_seed(seed)
    fakes = {"vae_samples": sample_images(vae.decode, cfg.model.latent_dim, n, value_range, generator)}
    if gan_path is not None:
        gan = opened.generator()
        fakes["gan_samples"] = sample_images(gan, cfg.model.latent_dim, n, value_range, generator)
    reference = splits.train.images[torch.randperm(len(splits.train), generator=generator)[:n]]
    for name, fake in {"reference": reference, **fakes}.items():
        log.info("sample quality: %s (%d images)", name, n)
        report[name] = sample_quality(fake, real, real_features, net)

    if inception is not None:
        from vaegan.metrics.inception import load_inception
        from vaegan.metrics.quality import fid, kid

        net3 = load_inception(inception)
        real3 = embed(net3, uint8_to_unit(real), batch_size=50)
        report["inception"] = {}
        for name, fake in {"reference": reference, **fakes}.items():
            fake3 = embed(net3, uint8_to_unit(fake), batch_size=50)
            report["inception"][name] = {"fid": fid(real3, fake3), "kid": kid(real3, fake3)}
    return report
