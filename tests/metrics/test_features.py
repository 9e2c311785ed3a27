"""Feature nets: cached once per dataset, reloaded tensors-only, SimCLR for unlabelled data and still a judge."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from vaegan.config import DataConfig
from vaegan.data import DataSplits, ImageDataset
from vaegan.metrics.features import FeatureNet, cache_path, load_feature_net
from vaegan.metrics.quality import embed, fid, uint8_to_unit
from vaegan.training.feature_net import augment, feature_net_for, nt_xent, train_feature_net

FMNIST = DataConfig(source="fashion-mnist", image_size=28, channels=1)  # as in conftest.py


def box_blur(images: torch.Tensor, k: int) -> torch.Tensor:
    return F.avg_pool2d(images.float(), k, 1, k // 2, count_include_pad=False).round().to(torch.uint8)


def noise(images: torch.Tensor, std: float) -> torch.Tensor:
    """Gaussian noise of `std` on the [0, 1] scale, seeded, re-quantised to uint8."""
    x = images.float() + 255 * std * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    return x.round().clamp(0, 255).to(torch.uint8)


def test_cache_is_reused_and_keyed_by_size_and_channels(
    fmnist: DataSplits, feature_net: FeatureNet, feature_cache: Path
) -> None:
    path = cache_path(FMNIST, feature_cache)
    assert path.is_file() and path.parent == feature_cache / "features"
    again = feature_net_for(FMNIST, fmnist, cache_dir=feature_cache, steps=1)  # loads: steps is ignored
    for key, value in feature_net.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert again.accuracy == feature_net.accuracy
    torch.load(path, weights_only=True)  # tensors and plain values only
    assert cache_path(replace(FMNIST, image_size=32), feature_cache) != path
    assert cache_path(replace(FMNIST, channels=3), feature_cache) != path
    assert cache_path(replace(FMNIST, source="mnist"), feature_cache) != path


def test_unlabelled_data_gets_a_simclr_encoder(tmp_path: Path, fmnist: DataSplits) -> None:
    images = fmnist.train.images[:256]
    unlabelled = DataSplits(train=ImageDataset(images), val=ImageDataset(images[:64]), test=ImageDataset(images[:64]))
    cfg = replace(FMNIST, source=str(tmp_path))
    net = feature_net_for(cfg, unlabelled, cache_dir=tmp_path, steps=3)
    assert net.kind == "simclr" and net.accuracy is None
    assert net.features(images[:4].float() / 255).shape == (4, 128)
    assert load_feature_net(cache_path(cfg, tmp_path)).kind == "simclr"


def test_nt_xent_prefers_matching_views() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(16, 8, generator=g)
    assert nt_xent(a, a) < nt_xent(a, torch.randn(16, 8, generator=g))
    x = torch.rand(4, 1, 28, 28, generator=g)
    views = augment(x, g)
    assert views.shape == x.shape and 0 <= views.min() and views.max() <= 1 and not torch.equal(views, x)


def test_the_shipped_simclr_recipe_tells_degraded_and_mode_dropped_sets_apart(fmnist: DataSplits) -> None:
    """The unlabelled recipe (RECIPES["simclr"], its cost cut to a third of a quick run) on real images,
    labels hidden. Any conv net ranks blur, an untrained one included; the margins below take training:
    untrained nets put light noise at 1.4-1.5x the floor and half the classes at 10-13x (3 seeds)."""
    train = ImageDataset(fmnist.train.images[:6000])  # no labels: a SimCLR encoder
    net = train_feature_net(train)
    assert net.kind == "simclr"
    real = embed(net, uint8_to_unit(fmnist.test.images[:1000]))
    reference = fmnist.train.images[6000:7000]
    few_classes = fmnist.train.images[6000:][fmnist.train.labels[6000:] < 5][:1000]  # type: ignore[index]
    sets = {
        "reference": reference,
        "blur 3x3": box_blur(reference, 3),
        "blur 5x5": box_blur(reference, 5),
        "noise 0.05": noise(reference, 0.05),
        "noise 0.1": noise(reference, 0.1),
        "half the classes": few_classes,
    }
    fids = {name: fid(real, embed(net, uint8_to_unit(images))) for name, images in sets.items()}
    floor = fids["reference"]
    assert floor < fids["blur 3x3"] < fids["blur 5x5"], fids
    assert floor < fids["noise 0.05"] < fids["noise 0.1"], fids
    assert fids["noise 0.05"] > 3 * floor and fids["half the classes"] > 30 * floor, fids
