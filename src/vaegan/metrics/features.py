"""The feature network sample-quality metrics are computed in: trained by vaegan itself, once per dataset.

FID and friends need an embedding where distances mean something. Inception-V3 needs a download and was
trained on ImageNet photos, so for 28 px clothes or emoji we train a small judge on the *real training
images* instead (it never sees the VAE or GAN being judged, nor the test split):
- labelled data (Fashion-MNIST, MNIST, emoji groups): a small conv classifier; features are its penultimate
  layer, the same recipe as Inception features, and its logits also give mode coverage (coverage.py).
- unlabelled folders: a SimCLR-style encoder (Chen et al. 2020, arXiv:2002.05709): two random
  augmentations of each image are pulled together and away from the rest of the batch (NT-Xent loss).
  Limits: it is small and briefly trained, and it is blind by construction to what the augmentations
  vary (small shifts and crops, brightness and contrast), so a generator that gets global brightness
  wrong is under-penalised; numbers compare runs on the same data, never datasets or papers.
Nets are cached under DataConfig.cache_dir (or ~/.cache/vaegan)/features, keyed by the dataset's
source, size and channels, as tensors-only checkpoints loaded with weights_only=True.
Inputs are float images in [0, 1], (B, C, H, W), at the dataset's size.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vaegan.checkpoint import write_atomically
from vaegan.config import DataConfig
from vaegan.data import DataSplits, ImageDataset
from vaegan.errors import VaeganError
from vaegan.progress import progress_bar
from vaegan.training import speed

log = logging.getLogger(__name__)

FEATURE_VERSION = 1  # bump when the architecture or recipe changes, so stale caches are not reused


class FeatureNet(nn.Module):
    """Three stride-2 convs -> global average pool -> `width` features -> head (classes or projection)."""

    def __init__(self, channels: int, outputs: int, kind: str, width: int = 128) -> None:
        super().__init__()
        self.kind, self.channels, self.outputs, self.width = kind, channels, outputs, width
        self.trunk = nn.Sequential(
            # Stride 2 from the first layer: 28 px -> 14 -> 7 -> 4, trains in about a minute on a CPU.
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


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SimCLR-style views without torchvision: random scale/shift crop, flip, brightness and contrast."""
    b = len(x)
    scale = torch.empty(b).uniform_(0.7, 1.0, generator=generator)
    shift = torch.empty(b, 2).uniform_(-0.15, 0.15, generator=generator)
    flip = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1], theta[:, :, 2] = scale * flip, scale, shift
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    contrast = torch.empty(b, 1, 1, 1).uniform_(0.7, 1.3, generator=generator)
    bright = torch.empty(b, 1, 1, 1).uniform_(-0.15, 0.15, generator=generator)
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    return ((out - mean) * contrast + mean + bright).clamp(0.0, 1.0)


def nt_xent(a: torch.Tensor, b: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the 2B - 1 other views by cosine similarity."""
    z = F.normalize(torch.cat([a, b]), dim=1)  # (2B, P)
    sim = z @ z.T / temperature
    sim.fill_diagonal_(float("-inf"))
    n = len(a)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim, target)


def new_feature_net(train: ImageDataset) -> FeatureNet:
    """An untrained classifier when `train` has labels, else an untrained SimCLR encoder."""
    labelled = train.labels is not None
    n_classes = int(train.labels.max()) + 1 if train.labels is not None else 0
    return FeatureNet(train.images.shape[1], n_classes if labelled else 64, "classifier" if labelled else "simclr")


def train_feature_net(
    train: ImageDataset,
    steps: int = 1500,
    batch_size: int = 128,
    seed: int = 0,
    lr: float = 2e-3,
    layout: torch.memory_format = torch.contiguous_format,
) -> FeatureNet:
    """A classifier when `train` has labels, else a SimCLR encoder; `steps` Adam steps on the CPU.

    `layout` is the input batches' memory format while training, which the feature maps follow (the
    weights stay contiguous, as in training.common.place): speed only, the same function."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = new_feature_net(train)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    with torch.enable_grad():  # callers may sit under no_grad (evaluation), training still needs it
        fit(net, train, steps, batch_size, opt, sched, g, layout)
    return net.eval()


def training_layout(train: ImageDataset, batch_size: int, cache_dir: str | Path | None) -> torch.memory_format:
    """channels_last or contiguous for train_feature_net, by the trainers' own probe (speed.py) in fp32.

    fp32 only: bf16 would change the features every metric is computed in. On a 2-core AMD EPYC with AVX2
    only the probe found channels_last 1.12-1.33x faster for the 64x64 emoji net (docs/PERFORMANCE.md)."""
    n, c, size = len(train), train.images.shape[1], train.images.shape[-1]
    shape = f"features|{size}px|{c}ch|b{batch_size}|{'labels' if train.labels is not None else 'simclr'}"

    def prepare(bf16: bool, layout: torch.memory_format) -> Callable[[], object]:
        net = new_feature_net(train)
        opt = torch.optim.Adam(net.parameters())
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
        index = torch.arange(batch_size) % n
        part = ImageDataset(train.images[index], None if train.labels is None else train.labels[index])
        g = torch.Generator().manual_seed(0)
        return lambda: fit(net, part, 1, batch_size, opt, sched, g, layout, quiet=True)

    with torch.enable_grad():  # callers may sit under no_grad (evaluation), the timed steps train
        choice = speed.choose("fp32", "auto", torch.device("cpu"), shape, speed.timer(prepare), cache_dir)
    return choice.layout


def fit(
    net: FeatureNet,
    train: ImageDataset,
    steps: int,
    batch_size: int,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    g: torch.Generator,
    layout: torch.memory_format = torch.contiguous_format,
    quiet: bool = False,
) -> None:
    with progress_bar(
        steps, f"feature network ({net.kind}, once per dataset)", "step", False if quiet else None
    ) as bar:
        for step in range(steps):
            index = torch.randint(0, len(train), (batch_size,), generator=g)
            x = (train.images[index].float() / 255.0).contiguous(memory_format=layout)
            if train.labels is not None:
                loss = F.cross_entropy(net(x), train.labels[index])
            else:
                loss = nt_xent(net(augment(x, g)), net(augment(x, g)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if step % 50 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            bar.update(1)


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


def save_feature_net(net: FeatureNet, path: Path, extra: dict[str, Any]) -> None:
    write_atomically(
        {
            "stage": "features",
            "config": {
                "kind": net.kind,
                "channels": net.channels,
                "outputs": net.outputs,
                "width": net.width,
            },
            "model": net.state_dict(),
            "accuracy": net.accuracy,
            **extra,
        },
        path,
    )


def load_feature_net(path: Path) -> FeatureNet:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        net = FeatureNet(**payload["config"])
        net.load_state_dict(payload["model"])
    except Exception as exc:  # corrupt file, foreign file or an old layout
        raise VaeganError(f"cannot read feature net {path}: {exc}; delete it and it will be retrained") from exc
    net.accuracy = payload.get("accuracy")
    return net.eval().requires_grad_(False)


def feature_net_for(
    data: DataConfig,
    splits: DataSplits,
    cache_dir: str | Path | None = None,
    steps: int = 1500,
    seed: int = 0,
) -> FeatureNet:
    """The cached feature net of `data`, trained on `splits.train` on first use (~1 min on 2 cores)."""
    path = cache_path(data, cache_dir)
    if path.is_file():
        return load_feature_net(path)
    log.info("training the %s feature net once (%d steps); cached at %s", data.source, steps, path)
    started = time.perf_counter()
    layout = training_layout(splits.train, 128, cache_dir or data.cache_dir)
    net = train_feature_net(splits.train, steps=steps, seed=seed, layout=layout)
    seconds = time.perf_counter() - started
    if net.kind == "classifier" and splits.test.labels is not None:
        net.accuracy = accuracy(net, splits.test)
        log.info("feature classifier: test accuracy %.3f after %.0fs", net.accuracy, seconds)
    save_feature_net(net, path, {"steps": steps, "seed": seed, "train_seconds": seconds, "source": data.source})
    return net.requires_grad_(False)
