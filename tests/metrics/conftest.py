"""Real Fashion-MNIST and a feature classifier trained once per test session (small budget, tmp cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vaegan.config import DataConfig
from vaegan.data import DataSplits, load_splits
from vaegan.data.emoji import FONT_PATH
from vaegan.metrics.features import FeatureNet
from vaegan.training.feature_net import feature_net_for

FMNIST = DataConfig(source="fashion-mnist", image_size=28, channels=1)
TEST_STEPS = 400  # ~15 s on one core; about 78% test accuracy, plenty to rank degradations


@pytest.fixture(scope="session")
def fmnist() -> DataSplits:
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    return load_splits(FMNIST)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feature-cache")


@pytest.fixture(scope="session")
def feature_net(fmnist: DataSplits, feature_cache: Path) -> FeatureNet:
    torch.set_num_threads(1)  # session fixtures run before the per-test thread fixture
    return feature_net_for(FMNIST, fmnist, cache_dir=feature_cache, steps=TEST_STEPS)


@pytest.fixture(scope="session")
def emoji(tmp_path_factory: pytest.TempPathFactory) -> torch.Tensor:
    """Every training emoji at 32 px, uint8 (N, 3, 32, 32)."""
    if not Path(FONT_PATH).is_file():
        pytest.skip("needs fonts-noto-color-emoji")
    cache = tmp_path_factory.mktemp("emoji-cache")
    return load_splits(DataConfig(source="emoji", image_size=32, cache_dir=str(cache))).train.images
