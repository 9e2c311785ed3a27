"""The own-feature network's training, and the quality measured in it while vaegan trains.

FID and friends need an embedding where distances mean something (metrics/features.py says why vaegan
trains its own). The net is fitted once per dataset on the real training images, never on what it judges:
- labelled data (Fashion-MNIST, MNIST, emoji groups): a small conv classifier on cross-entropy.
- unlabelled folders: a SimCLR-style encoder (Chen et al. 2020, arXiv:2002.05709): two random
  augmentations of each image are pulled together and away from the rest of the batch (NT-Xent loss).
RECIPES fix its cost: a small share of the quick preset's training time on either kind of data; it ranks
sample sets much as the 1,500-step nets did, bar sets within FID's small-sample floor of each other
(docs/results/own-features/cost.json). Where no progress bar shows (a redirected log, CI), it logs a line
every tenth of its steps instead.
`feature_net_for` loads the cached net or fits and caches it; QualityMonitor measures a stage's samples in it
every few epochs: FID & co. against the held-out split embedded once per run, a fresh fixed noise seed per
measurement so successive epochs compare, and with `track_reconstruction` the PSNR of decode(mean of q(z|x))
(metrics/psnr.py): the VAE's own, or the GAN's beside the VAE's.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vaegan.checkpoint import write_atomically
from vaegan.config import DataConfig
from vaegan.data import DataSplits, ImageDataset
from vaegan.errors import VaeganError, first_time
from vaegan.metrics.collapse import features_at_chance
from vaegan.metrics.features import FeatureNet, accuracy, cache_path, load_feature_net
from vaegan.metrics.psnr import posterior_psnr
from vaegan.metrics.quality import (
    MIN_IMAGES,
    embed,
    fid,
    quality_metrics,
    reference_pick,
    small_sample_note,
    uint8_to_unit,
)
from vaegan.progress import progress_bar
from vaegan.training.placement import memory_layout

log = logging.getLogger(__name__)

PROGRESS_LINES = 10  # log lines per training where no bar shows: one per tenth of the steps


@dataclass(frozen=True)
class Recipe:
    """Adam steps and batch size of one kind of feature net: together they fix its cost."""

    steps: int
    batch_size: int


# About 6% of the quick preset's training time, labelled or not; 1,500 x 128 cost 15% and 86%
# (docs/results/own-features/cost.json).
RECIPES = {"classifier": Recipe(steps=600, batch_size=128), "simclr": Recipe(steps=300, batch_size=64)}


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


def kind_for(train: ImageDataset) -> str:
    """'classifier' when `train` has labels, else 'simclr'."""
    return "classifier" if train.labels is not None else "simclr"


def new_feature_net(train: ImageDataset) -> FeatureNet:
    """An untrained classifier when `train` has labels, else an untrained SimCLR encoder."""
    n_classes = int(train.labels.max()) + 1 if train.labels is not None else 64  # 64: SimCLR's projection
    return FeatureNet(train.images.shape[1], n_classes, kind_for(train))


def train_feature_net(
    train: ImageDataset,
    steps: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    lr: float = 2e-3,
    layout: torch.memory_format = torch.contiguous_format,
) -> FeatureNet:
    """A classifier when `train` has labels, else a SimCLR encoder; `steps` Adam steps on the CPU (steps
    and batch size default to the kind's RECIPES).

    `layout` is the input batches' memory format while training, which the feature maps follow (the
    weights stay contiguous, as in training.common.place): speed only, the same function."""
    recipe = RECIPES[kind_for(train)]
    steps, batch_size = steps or recipe.steps, batch_size or recipe.batch_size
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net = new_feature_net(train)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    net.train()
    with torch.enable_grad():  # callers may sit under no_grad (evaluation), training still needs it
        fit(net, train, steps, batch_size, opt, sched, g, layout)
    return net.eval()


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
        lines = not quiet and bar.disable  # no bar to watch: a log line per tenth instead
        started = time.perf_counter()
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
            if lines and (step + 1) * PROGRESS_LINES // steps > step * PROGRESS_LINES // steps:
                log_progress(net.kind, step + 1, steps, loss.item(), time.perf_counter() - started)


def log_progress(kind: str, done: int, steps: int, loss: float, seconds: float) -> None:
    """'feature net (simclr): 90/300 steps (30%), loss 3.912, 21s so far, about 49s to go'."""
    left = seconds * (steps - done) / done
    log.info(
        "feature net (%s): %d/%d steps (%d%%), loss %.3f, %.0fs so far, about %.0fs to go",
        kind,
        done,
        steps,
        100 * done // steps,
        loss,
        seconds,
        left,
    )


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


def feature_net_for(
    data: DataConfig,
    splits: DataSplits,
    cache_dir: str | Path | None = None,
    steps: int | None = None,
    seed: int = 0,
) -> FeatureNet:
    """The cached feature net of `data`, trained on `splits.train` on first use (once per dataset);
    `steps` defaults to the kind's RECIPES."""
    path = cache_path(data, cache_dir)
    if path.is_file():
        try:
            return load_feature_net(path)
        except VaeganError as exc:  # a damaged or forged cache is rebuilt, never fatal and never run
            log.warning("%s: training it again", str(exc).split("; delete it")[0])
    recipe = RECIPES[kind_for(splits.train)]
    steps = steps or recipe.steps
    log.info(
        "training the %s feature net once (%s, %d steps), for FID and co.; cached at %s",
        data.source,
        kind_for(splits.train),
        steps,
        path,
    )
    started = time.perf_counter()
    layout = memory_layout("auto", torch.device("cpu"))  # fp32 only: bf16 would change the features
    net = train_feature_net(splits.train, steps=steps, seed=seed, layout=layout)
    seconds = time.perf_counter() - started
    if net.kind == "classifier" and splits.test.labels is not None:
        net.accuracy = accuracy(net, splits.test)
        log.info("feature classifier: test accuracy %.3f after %.0fs", net.accuracy, seconds)
    save_feature_net(
        net,
        path,
        {
            "steps": steps,
            "batch_size": recipe.batch_size,
            "seed": seed,
            "train_seconds": seconds,
            "source": data.source,
        },
    )
    return net.requires_grad_(False)


def real_side(splits: DataSplits, samples: int) -> torch.Tensor:
    """The real images FID & co. score samples against: the first `samples` held out (training images where
    none are held out). Fewer than MIN_IMAGES and nothing is measured, nor the feature net trained."""
    held_out = splits.val if len(splits.val) else splits.train
    return held_out.images[:samples]


class QualityMonitor:
    """FID, KID, precision/recall, density/coverage (and mode coverage) of a decoder, every `every` epochs,
    with quality/fid_reference: real training images scored as a sample set at the same count, the floor
    below which FID cannot separate samples from real images. Off, with one warning, below MIN_IMAGES
    held-out images."""

    def __init__(self, data: DataConfig, splits: DataSplits, every: int, samples: int, epochs: int) -> None:
        self.data, self.splits, self.every, self.epochs = data, splits, every, epochs
        self.real = real_side(splits, samples)
        self.samples = len(self.real)
        note = small_sample_note(self.samples) if every else None
        if self.samples < MIN_IMAGES and note:
            note += ", and so is training their feature net; add images or raise --val-fraction"
        if note and first_time(("quality note", data.source, note)):  # a pipeline's GAN would say it again
            log.warning("%s", note)
        if self.samples < MIN_IMAGES:
            self.every = 0
        # the real-vs-real floor at the same count, from training images; none when nothing is held out
        pick = reference_pick(len(splits.train), self.samples)
        self.reference = splits.train.images[pick] if len(splits.val) else None
        self.reference_fid: float | None = None
        self.net: FeatureNet | None = None
        self.real_features: torch.Tensor | None = None
        self.best_fid = math.inf  # saved in checkpoints, so a resumed run keeps its best
        self.encode_mean: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.reconstruct: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.baseline: Callable[[], float] | None = None
        self.baseline_psnr: float | None = None

    def track_reconstruction(
        self,
        encode_mean: Callable[[torch.Tensor], torch.Tensor],
        value_range: tuple[float, float],
        baseline: Callable[[torch.Tensor], torch.Tensor] | None = None,
        decode: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Measure quality/psnr of the stage's decoder through `encode_mean` (x -> mean of q(z|x)) from now
        on; with `baseline` (the frozen VAE decoder of a GAN run) also quality/psnr_vae, computed once.
        `decode` is the decoder to reconstruct with when the one `update` gets draws its own z (a GAN on
        the fitted prior), so PSNR scores reconstructions, never samples."""
        self.encode_mean, self.reconstruct = encode_mean, decode
        if baseline is not None:
            self.baseline = lambda: posterior_psnr(encode_mean, baseline, self.real, value_range)

    def due(self, epoch: int) -> bool:
        """On every `every`-th epoch and the last one; never when `every` is 0."""
        return self.every > 0 and (epoch % self.every == 0 or epoch == self.epochs)

    def update(
        self,
        record: dict[str, float],
        epoch: int,
        decode: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        value_range: tuple[float, float],
    ) -> bool:
        """Adds the `quality/` metrics to the epoch's record when due; True when FID beat the best so far."""
        if not self.due(epoch):
            return False
        record.update(self.measure(decode, latent_dim, value_range))
        if "quality/fid" not in record or record["quality/fid"] >= self.best_fid:
            return False
        self.best_fid = record["quality/fid"]
        return True

    @torch.no_grad()
    def measure(
        self, decode: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, value_range: tuple[float, float]
    ) -> dict[str, float]:
        """The metrics under `quality/` keys, for metrics.jsonl; none, from then on, in a net at chance."""
        if self.net is None:
            self.net = feature_net_for(self.data, self.splits, self.data.cache_dir)
            if withheld := features_at_chance(self.net, self.splits.test):
                log.warning("%s", withheld)
                self.every = 0
                return {}
            self.real_features = embed(self.net, uint8_to_unit(self.real))
        if self.reference is not None and self.reference_fid is None and self.real_features is not None:
            reference = embed(self.net, uint8_to_unit(self.reference), desc="features: real reference")
            self.reference_fid = fid(self.real_features, reference)
        values = quality_metrics(
            decode,
            latent_dim,
            self.real,
            value_range,
            self.net,
            n=self.samples,
            generator=torch.Generator().manual_seed(0),
            real_features=self.real_features,
        )
        if self.reference_fid is not None:
            values["fid_reference"] = self.reference_fid
        if self.encode_mean is not None:
            values["psnr"] = posterior_psnr(self.encode_mean, self.reconstruct or decode, self.real, value_range)
        if self.baseline is not None:
            self.baseline_psnr = self.baseline_psnr if self.baseline_psnr is not None else self.baseline()
            values["psnr_vae"] = self.baseline_psnr
        return {f"quality/{k}": v for k, v in values.items()}
