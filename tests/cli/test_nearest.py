"""`vaegan nearest`: samples beside their nearest training images, and a copy rate that tells a generator
returning its training images from one drawing new ones."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from PIL import Image

import vaegan.lookalikes as lookalikes
from tiny import TINY_FLAGS, tiny_splits
from vaegan.cli import main
from vaegan.data import load_splits, to_float
from vaegan.pictures import RunModels, load_models
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


def drawing(images: torch.Tensor) -> Callable[[str | Path, str | None], RunModels]:
    """load_models with a decoder that hands back `images` (uint8) in turn, one per z."""

    def decode(z: torch.Tensor) -> torch.Tensor:
        return to_float(images[torch.arange(len(z)) % len(images)], (-1.0, 1.0))

    return lambda run, stage: replace(load_models(run, stage), decode=decode)


NEW = tiny_splits(n=80, seed=1).train.images  # squares the run never saw: a generator that draws new pictures


def test_nearest_writes_the_picture_and_prints_the_copy_rate(
    pipeline: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    quick_feature_net: None,
) -> None:
    monkeypatch.setattr(lookalikes, "load_models", drawing(NEW))
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
    monkeypatch.setattr(lookalikes, "load_models", drawing(NEW))
    honest = lookalikes.nearest_audit(pipeline, "vae", n=2, samples=40)
    assert honest.copy_rate is not None and 0 <= honest.copy_rate < 1 and 0 < honest.floor < 1
    monkeypatch.setattr(lookalikes, "load_models", drawing(load_splits(open_run(pipeline).config.data).train.images))
    assert lookalikes.nearest_audit(pipeline, "vae", n=2, samples=40).copy_rate == 1.0


def test_a_stage_that_draws_one_picture_is_no_copier(
    pipeline: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], quick_feature_net: None
) -> None:
    """issue 68: blank squares sat nearer a training icon than held-out icons did: "copy rate 1.000". The tiny
    run's 12 steps drew one picture for every z too."""
    capsys.readouterr()
    assert main(["nearest", str(pipeline), "-n", "4", "--samples", "40", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "copy rate: none: the samples are about one picture (diversity 0.0" in out
    assert "so the GAN collapsed and copies nothing" in out
