"""build_dataset and load_splits: dispatch on the source name, splits, and the errors users see."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from PIL import Image

from vaegan.config import DataConfig
from vaegan.data import build_dataset, load_splits
from vaegan.errors import VaeganError


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for i in range(10):
        Image.new("RGB", (24, 20), (i * 20, 0, 0)).save(tmp_path / f"{i}.png")
    return tmp_path


def test_folder_source_splits_with_test_equal_to_val(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = DataConfig(source=str(folder), image_size=16, val_fraction=0.2, split_seed=3)
    with caplog.at_level(logging.INFO, logger="vaegan.data"):
        splits = load_splits(cfg)
    assert (len(splits.train), len(splits.val)) == (8, 2)
    assert splits.test is splits.val
    assert set(splits.train.names) | set(splits.val.names) == {f"{i}.png" for i in range(10)}
    summary = f"data {folder}: 10 images of 16x16 px, 3 channel(s): 8 for training, 2 held out for validation"
    assert any(summary in r.getMessage() for r in caplog.records)
    other_seed = load_splits(dataclasses.replace(cfg, split_seed=4))
    assert load_splits(cfg).val.names == splits.val.names and other_seed.val.names != splits.val.names
    with pytest.raises(dataclasses.FrozenInstanceError):
        splits.train = splits.val  # type: ignore[misc]


def test_folder_has_no_official_test_split(folder: Path) -> None:
    with pytest.raises(VaeganError, match="no official test split"):
        build_dataset(DataConfig(source=str(folder)), split="test")
    with pytest.raises(VaeganError, match="split must be"):
        build_dataset(DataConfig(source=str(folder)), split="validation")


def test_unknown_source_lists_the_valid_names(tmp_path: Path) -> None:
    for source in ("emoji:animals", "fashion_mnist", str(tmp_path / "missing")):
        valid = "emoji, emoji:people, emoji:faces, fashion-mnist, mnist"
        with pytest.raises(VaeganError, match=valid) as err:
            build_dataset(DataConfig(source=source))
        assert repr(source) in str(err.value)


def test_mnist_without_files_says_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match=r"download_mnist.*--data-root"):
        build_dataset(DataConfig(source="mnist", cache_dir=str(tmp_path)))
