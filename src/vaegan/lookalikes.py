"""`vaegan nearest`: generated samples beside their nearest training images, and the copy rate.

A generator trained on a few dozen images can hand them back (lightweight-gan #28: "generated outputs are
identical to all input images"); FastGAN ships a nearest-neighbour script for that reason. The picture shows
each of the first n samples beside its NEIGHBOURS nearest training images in vaegan's own feature space (the
one training's FID uses), with its Euclidean distance there to the nearest, and the copy rate counts, over
`samples` draws, how many sit nearer a training image than half the held-out images do (metrics/copies.py);
the held-out images' own rate is the floor. Samples that are about one picture (metrics.collapse) get no
copy rate: a collapsed stage's blank squares sat nearer a training icon than held-out icons did, and were
called copies at a rate of 1.000 (issue 68).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from vaegan.config import GANConfig
from vaegan.data import load_splits, to_uint8
from vaegan.metrics.collapse import COLLAPSED_DIVERSITY, relative_diversity
from vaegan.metrics.copies import MAX_TRAIN, CopyCheck
from vaegan.metrics.quality import embed, uint8_to_unit
from vaegan.pictures import grid_image, load_models, with_header, with_row_labels, with_title
from vaegan.prior import sample_latents
from vaegan.runs import open_run
from vaegan.training import feature_net

NEIGHBOURS = 3


@dataclass(frozen=True)
class Lookalikes:
    picture: Image.Image
    stage: str
    copy_rate: float | None  # over `samples` draws; None for samples that are about one picture
    diversity: float  # the samples' pairwise distance over the training images' (metrics.collapse)
    floor: float  # held-out images' own rate
    samples: int
    threshold: float  # feature distance to the nearest training image under which a sample counts as a copy


@torch.no_grad()
def nearest_audit(
    run: str | Path, stage: str | None = None, n: int = 16, samples: int = 1000, seed: int = 0
) -> Lookalikes:
    """The first `n` of `samples` generated images beside their nearest training images, and the copy rate."""
    opened = open_run(run)
    models = load_models(opened, stage)
    cfg = models.cfg
    splits = load_splits(cfg.data, opened.path)
    net = feature_net.feature_net_for(cfg.data, splits, cfg.data.cache_dir)
    train = splits.train.images[:MAX_TRAIN]
    train_features = embed(net, uint8_to_unit(train), desc="features: training images")
    held_out = splits.val if len(splits.val) >= 2 else splits.test
    check = CopyCheck.fit(train_features, embed(net, uint8_to_unit(held_out.images), desc="features: held out"))
    z = sample_latents(opened, models.stage, samples, torch.Generator().manual_seed(seed))
    fakes = torch.cat([to_uint8(models.decode(part).float(), cfg.model.value_range) for part in z.split(256)])
    fake_features = embed(net, uint8_to_unit(fakes), desc="features: samples")
    diversity = relative_diversity(fakes[: GANConfig.diversity_samples], train[: GANConfig.diversity_samples])
    rate = check.rate(fake_features) if diversity >= COLLAPSED_DIVERSITY else None
    shown = min(n, samples)
    nearest = torch.cdist(fake_features[:shown].double(), train_features.double()).topk(NEIGHBOURS, largest=False)
    rows = [torch.stack([fakes[i], *train[nearest.indices[i]]]) for i in range(shown)]  # (1 + K, C, H, W) each
    grid = grid_image(torch.cat(rows).float() / 255, (0.0, 1.0), nrow=1 + NEIGHBOURS)
    labels = ["sample", *(f"nearest {k + 1}" for k in range(NEIGHBOURS))]
    picture = with_header(grid, labels, grid.width / (1 + NEIGHBOURS))
    distances = [f"{d:.1f}" for d in nearest.values[:, 0].tolist()]
    picture = with_row_labels(picture, distances, top=16, header="distance")
    picture = with_title(picture, "distance to nearest 1: lower = closer")
    verdict = f"{rate:.0%} near copies" if rate is not None else f"collapsed (diversity {diversity:.2f}), no copier"
    title = f"{models.stage.upper()}: {verdict}, held-out images {check.floor:.0%}"
    return Lookalikes(with_title(picture, title), models.stage, rate, diversity, check.floor, samples, check.threshold)
