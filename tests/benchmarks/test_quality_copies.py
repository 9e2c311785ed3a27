"""The race's copy check reads the training and held-out rows out of the protocol's real features."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image
from quality import copy_check

from tiny import tiny_splits
from vaegan.config import DataConfig


def test_a_folders_real_features_split_as_training_splits_them(tmp_path: Path) -> None:
    for i, image in enumerate(tiny_splits(n=28).train.images):  # 20 images
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / f"{i}.png")
    data = DataConfig(source=str(tmp_path), image_size=16, val_fraction=0.25)
    real = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))
    check = copy_check(real, data)
    assert check is not None and len(check.train) == 15 and 0 <= check.floor <= 1
    assert check.rate(check.train) == 1.0  # the training rows themselves are all copies
    assert copy_check(real[:10], data) is None  # a reduced real set (--real) is not the dataset
    assert copy_check(real, DataConfig(source="fashion-mnist", image_size=28, channels=1)) is None
