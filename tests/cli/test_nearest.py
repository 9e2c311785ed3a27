"""`vaegan nearest`: samples beside their nearest training images, and a copy rate that tells a generator
returning its training images from one drawing new ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

import vaegan.lookalikes as lookalikes
from tiny import TINY_FLAGS, tiny_splits
from vaegan.cli import main
from vaegan.data import load_splits, to_float
from vaegan.pictures import load_models
from vaegan.runs import open_run


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nearest")
    (root / "pictures").mkdir()
    for i, image in enumerate(tiny_splits(n=40).train.images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(root / "pictures" / f"{i}.png")
    argv = ["run", "--data", str(root / "pictures"), *TINY_FLAGS, "--epochs", "2", "--gan-epochs", "1"]
    assert main([*argv, "--out", str(root / "run")]) == 0
    return root / "run"


def test_nearest_writes_the_picture_and_prints_the_copy_rate(
    pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_feature_net: None
) -> None:
    capsys.readouterr()
    assert main(["nearest", str(pipeline), "-n", "4", "--samples", "40", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "copy rate: " in out and "of 40 samples are near copies" in out and "held-out images: " in out
    # the per-row numbers say what they measure and which way is closer
    assert "distance (left of each row): Euclidean, from the sample to its nearest training image" in out
    assert "lower = closer" in out and "(a distance under " in out
    picture = Image.open(tmp_path / "nearest_gan.png")
    assert picture.height > 4 * 64 and picture.width > (1 + lookalikes.NEIGHBOURS) * 64  # 16 px shown at 64


def test_the_copy_rate_finds_a_generator_that_returns_its_training_images(
    pipeline: Path, monkeypatch: pytest.MonkeyPatch, quick_feature_net: None
) -> None:
    honest = lookalikes.nearest_audit(pipeline, "vae", n=2, samples=40)
    assert 0 <= honest.copy_rate < 1 and 0 < honest.floor < 1
    train = load_splits(open_run(pipeline).config.data).train.images

    def copies(z: torch.Tensor) -> torch.Tensor:  # a "generator" that hands back training images
        return to_float(train[torch.arange(len(z)) % len(train)], (-1.0, 1.0))

    monkeypatch.setattr(lookalikes, "load_models", lambda run, stage: replace(load_models(run, stage), decode=copies))
    assert lookalikes.nearest_audit(pipeline, "vae", n=2, samples=40).copy_rate == 1.0
