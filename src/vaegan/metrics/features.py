"""The feature network sample-quality metrics are computed in, trained by vaegan itself once per dataset.

FID and friends need an embedding where distances mean something. Inception-V3 needs a download and was
trained on ImageNet photos, so for 28 px clothes or emoji vaegan trains a small judge on the *real training
images* instead (training/feature_net.py; it never sees the VAE or GAN being judged, nor the test split):
a classifier on labelled data, whose features are its penultimate layer (the recipe of Inception features)
and whose logits also give mode coverage (coverage.py); a SimCLR-style encoder on unlabelled folders.
  Limits: it is small and briefly trained (a third of the quick preset's training time at most, by
  training/feature_net.RECIPES), and a SimCLR encoder is blind by construction to what its
  augmentations vary (small shifts and crops, brightness and contrast), so a generator that gets global
  brightness wrong is under-penalised; numbers compare runs on the same data, never datasets or papers.
Nets are cached under DataConfig.cache_dir (or ~/.cache/vaegan)/features, keyed by the dataset's
source, size and channels, as tensors-only checkpoints loaded with weights_only=True.
Inputs are float images in [0, 1], (B, C, H, W), at the dataset's size.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from torch import nn

from vaegan.checkpoint import read_tensors
from vaegan.config import DataConfig
from vaegan.data import ImageDataset
from vaegan.errors import VaeganError

FEATURE_VERSION = 2  # bump when the architecture or recipe changes, so stale caches are not reused


class FeatureNet(nn.Module):
    """Three stride-2 convs -> global average pool -> `width` features -> head (classes or projection)."""

    def __init__(self, channels: int, outputs: int, kind: str, width: int = 128) -> None:
        super().__init__()
        self.kind, self.channels, self.outputs, self.width = kind, channels, outputs, width
        self.trunk = nn.Sequential(
            # Stride 2 from the first layer: 28 px -> 14 -> 7 -> 4, so it trains in minutes on a CPU.
            nn.Conv2d(channels, 32, 3, 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3, 2, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(64, width, 3, 2, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = (
            nn.Linear(width, outputs)
            if kind == "classifier"
            else nn.Sequential(nn.Linear(width, width), nn.ReLU(inplace=True), nn.Linear(width, outputs))
        )
        self.accuracy: float | None = None  # test accuracy of a classifier, set after training or loading

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, width): the embedding FID, KID, PR and DC are computed in."""
        return self.trunk(x * 2.0 - 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@torch.no_grad()
def accuracy(net: FeatureNet, data: ImageDataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of a classifier on labelled `data`."""
    assert data.labels is not None and net.kind == "classifier"
    correct = 0
    for start in range(0, len(data), batch_size):
        logits = net(data.images[start : start + batch_size].float() / 255.0)
        correct += int((logits.argmax(1) == data.labels[start : start + batch_size]).sum())
    return correct / max(1, len(data))


def dataset_slug(data: DataConfig, version: int) -> str:
    """<name>-<hash of source, root, size, channels, version>-<size>px-<channels>ch: one per dataset."""
    source = data.source
    if Path(source).expanduser().is_dir():
        source = str(Path(source).expanduser().resolve())
    key = f"{source}|{data.root}|{data.image_size}|{data.channels}|{version}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    name = "".join(c if c.isalnum() else "-" for c in Path(data.source).name or data.source)[:40]
    return f"{name}-{digest}-{data.image_size}px-{data.channels}ch"


def cache_root(data: DataConfig, cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else the data config's, else ~/.cache/vaegan."""
    return Path(cache_dir or data.cache_dir or Path.home() / ".cache" / "vaegan").expanduser()


def cache_path(data: DataConfig, cache_dir: str | Path | None = None) -> Path:
    """<cache>/features/<name>-<hash>-<size>px-<channels>ch-v<version>.pt, unique per dataset."""
    return cache_root(data, cache_dir) / "features" / f"{dataset_slug(data, FEATURE_VERSION)}-v{FEATURE_VERSION}.pt"


def load_feature_net(path: Path) -> FeatureNet:
    """A cached net (training/feature_net.save_feature_net wrote it), frozen, in eval mode."""
    payload = read_tensors(path, "feature net", "delete it and it will be retrained")  # one line, no torch advice
    try:
        with torch.device("meta"):  # the net its config declares, sized before a byte of it is allocated
            declared = FeatureNet(**payload["config"])
        want = {k: (tuple(v.shape), v.dtype) for k, v in declared.state_dict().items()}
        stored = payload["model"]
        got = {k: (tuple(v.shape), v.dtype) for k, v in stored.items() if isinstance(v, torch.Tensor)}
        if got != want or len(got) != len(stored):
            raise ValueError(f"its weights do not fit the net its config declares ({payload['config']})")
        net = FeatureNet(**payload["config"])
        net.load_state_dict(stored)
    except Exception as exc:  # a foreign file, an old layout or a forged config
        reason = " ".join(str(exc).split())[:200]
        raise VaeganError(f"cannot read feature net {path}: {reason}; delete it and it will be retrained") from exc
    net.accuracy = payload.get("accuracy")
    return net.eval().requires_grad_(False)


def train_seconds(path: Path) -> float:
    """The seconds the net cached at `path` took to train (save_feature_net records them); 0 with no file."""
    if not path.is_file():
        return 0.0
    return float(read_tensors(path, "feature net", "delete it and it will be retrained").get("train_seconds", 0.0))


# Inception's cost on a 2-core CPU (docs/FID.md: 12-15 images/s), and the samples per set limits_line suggests
INCEPTION_IMAGES_PER_S, INCEPTION_SAMPLES = 12, 1000


def limits_line(net: FeatureNet, data: DataConfig, n_train: int, n_val: int) -> str:
    """The line beside FIDs in these features: what a net trained a minute on the data can judge, and what
    a number that judges quality costs. Blobs that read as emoji in 4 of 32 samples scored GAN 0.59 beside a
    real-vs-real 0.27 (issue 68): the net ranks runs on one dataset, it does not say "nearly real"."""
    seconds = train_seconds(cache_path(data, data.cache_dir))
    trained = f" {seconds:.0f}s" if seconds else ""
    # Inception's protocol scores every image of a folder against each of evaluate's 3 sample sets
    minutes = math.ceil((n_train + n_val + 3 * INCEPTION_SAMPLES) / INCEPTION_IMAGES_PER_S / 60)
    return (
        f"  these features are a small {net.kind} trained{trained} on the {n_train} training images: they rank "
        "runs on this data, but cannot tell blobs from real pictures, so an FID near the floor does not mean "
        f"near-real samples; Inception's can: vaegan evaluate RUN --features inception --samples "
        f"{INCEPTION_SAMPLES} (about {minutes} min on a 2-core CPU, seconds on a GPU)"
    )
