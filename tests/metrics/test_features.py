"""Feature nets: cached once per dataset, reloaded tensors-only, SimCLR for unlabelled data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from vaegan.config import DataConfig
from vaegan.data import DataSplits, ImageDataset
from vaegan.metrics.features import FeatureNet, cache_path, load_feature_net
from vaegan.training.feature_net import augment, feature_net_for, nt_xent

FMNIST = DataConfig(source="fashion-mnist", image_size=28, channels=1)  # as in conftest.py


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
