"""A stage that learnt nothing is named in one line with the likely fix; a feature net at chance withholds FID."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
import torch

from tiny import tiny_splits
from vaegan.config import DataConfig
from vaegan.data import ImageDataset
from vaegan.metrics.collapse import (
    COLLAPSED_DIVERSITY,
    features_at_chance,
    gan_collapse,
    relative_diversity,
    vae_collapse,
)
from vaegan.metrics.features import FeatureNet
from vaegan.runs import collapse_lines
from vaegan.training import feature_net

HEALTHY_VAE = {"epoch": 24, "step": 1296, "val/kl": 150.0, "diversity": 0.66}
# issue 68's 40-image folder: 55 of 300 steps in 2 minutes, KL 0.01, grey squares
BLANK_VAE = {"epoch": 55, "step": 55, "val/kl": 0.01, "diversity": 0.02, "epochs_asked": 300}


def run_of(**last: dict) -> SimpleNamespace:
    """What collapse_lines reads of a Run: each stage's records and the latent size."""
    stages = {name: SimpleNamespace(metrics=[record]) for name, record in last.items()}
    return SimpleNamespace(stages=stages, config=SimpleNamespace(model=SimpleNamespace(latent_dim=64)))


def test_posterior_collapse_is_named_with_the_time_limit_that_cut_it() -> None:
    line = vae_collapse(BLANK_VAE, 64)
    assert line is not None and line.startswith("VAE: posterior collapse, KL 0.0002 nats per latent dimension")
    assert "stopped it after 55 steps, in epoch 55 of the 300 asked; likely fix: raise --max-minutes" in line
    assert vae_collapse(HEALTHY_VAE, 64) is None


def test_a_vae_that_draws_one_picture_is_named_even_with_kl_in_its_latents() -> None:
    line = vae_collapse({**HEALTHY_VAE, "val/kl": 424.0, "diversity": 0.11}, 64)
    assert line is not None and "has not learnt to draw, sample diversity 0.11" in line
    assert line.endswith("likely fix: train more steps (--min-steps) or with a lower --beta")  # not cut short


def test_a_collapsed_gan_blames_its_vae_first() -> None:
    white = {"epoch": 11, "step": 11, "diversity": 0.01}
    lines = collapse_lines(run_of(vae=BLANK_VAE, gan=white))  # type: ignore[arg-type]
    assert list(lines) == ["vae", "gan"]
    assert lines["gan"].startswith("GAN: collapsed, sample diversity 0.01 of the real images'")
    assert lines["gan"].endswith("likely fix: train the VAE it starts from until it draws")
    alone = gan_collapse(white, vae_collapsed=False)
    assert alone is not None and alone.endswith("--anchor decoder, a higher --r1-gamma or a lower --lr-g")
    assert collapse_lines(run_of(vae=HEALTHY_VAE, gan={**white, "diversity": 0.9})) == {}  # type: ignore[arg-type]


def test_diversity_is_near_zero_for_one_picture_and_near_one_for_real_images() -> None:
    images = tiny_splits(n=40).train.images
    assert relative_diversity(images[:16], images[16:]) > 0.5
    assert relative_diversity(images[:1].expand(16, -1, -1, -1), images) < COLLAPSED_DIVERSITY


def at(accuracy: float) -> FeatureNet:
    net = FeatureNet(3, 2, "classifier", width=8)
    net.accuracy = accuracy
    return net


def test_a_classifier_no_better_than_guessing_withholds_fid() -> None:
    four = ImageDataset(images=torch.zeros(4, 3, 16, 16, dtype=torch.uint8), labels=torch.tensor([0, 1, 1, 0]))
    line = features_at_chance(at(0.5), four)
    assert line is not None and line.startswith("FID withheld: the feature classifier it is measured in scores 0.500")
    assert "guessing their commonest label (0.500)" in line
    assert features_at_chance(at(0.75), four) is None
    assert features_at_chance(at(0.5), ImageDataset(images=four.images)) is None  # no labels: nothing to judge


def test_training_measures_no_fid_in_a_net_at_chance(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """issue 68: the log said test accuracy 0.500 and every epoch's record held an FID all the same."""
    splits = tiny_splits(n=24)
    monkeypatch.setattr(feature_net, "feature_net_for", lambda *args, **kwargs: at(0.0))
    monitor = feature_net.QualityMonitor(DataConfig(source="tiny", image_size=16), splits, 1, 8, 2)
    record: dict[str, float] = {}
    with caplog.at_level(logging.WARNING):
        assert not monitor.update(record, 1, lambda z: torch.zeros(len(z), 3, 16, 16), 4, (-1.0, 1.0))
    assert record == {} and not monitor.due(2)  # withheld from then on
    assert "FID withheld: the feature classifier it is measured in scores 0.000" in caplog.text
