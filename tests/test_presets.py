"""The step budget: small data trains enough optimiser steps unless the user gave the epochs, too short a
run is named, and the budget is applied to the config before training (train_vae trains exactly its cfg)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tiny import tiny_config, tiny_splits
from vaegan.checkpoint import load_checkpoint
from vaegan.config import GANConfig, GANRunConfig, TrainConfig
from vaegan.presets import (
    GPU_BATCH_FACTOR,
    TOO_FEW_STEPS,
    budget,
    gan_budget,
    gpu_budget,
    step_budget,
    vae_budget,
)
from vaegan.training.train_vae import train_vae


def test_a_small_folder_trains_more_epochs_to_reach_min_steps(caplog: pytest.LogCaptureFixture) -> None:
    defaults = TrainConfig()
    with caplog.at_level(logging.INFO):
        budgeted = step_budget(defaults, 180, "VAE")  # 3 steps per epoch at batch 64
    assert budgeted.epochs == 100 and budgeted.epochs * 3 >= defaults.min_steps
    assert "trains 100 epochs instead of 30" in caplog.text
    assert "too few" not in caplog.text


def test_raised_epochs_keep_grids_checkpoints_and_fid_as_often_in_steps(caplog: pytest.LogCaptureFixture) -> None:
    """A 3-image folder trains 300 one-step epochs: a grid pair and a checkpoint each made its folder 49 MB."""
    settings = TrainConfig(epochs=30, batch_size=64, min_steps=300, grid_every=1, checkpoint_every=1, quality_every=5)
    with caplog.at_level(logging.INFO):
        budgeted = step_budget(settings, 2, "VAE")
    assert budgeted.epochs == 300
    assert (budgeted.grid_every, budgeted.checkpoint_every, budgeted.quality_every) == (10, 10, 50)
    assert "with grids, checkpoints and FID & co. 10x as many epochs apart" in caplog.text
    kept = step_budget(settings, 2, "VAE", given={"checkpoint_every": 1, "quality_every": 5})  # the user's own
    assert (kept.grid_every, kept.checkpoint_every, kept.quality_every) == (10, 1, 5)
    assert step_budget(settings, 2, "VAE", given={"epochs": 30}) == settings


def test_a_small_folder_trains_in_smaller_batches_unless_the_user_gave_one(caplog: pytest.LogCaptureFixture) -> None:
    """issue 68: 300 steps on 36 icons in batches of 9 drew as well as in batches of 36, in 33 s against 57 s."""
    quick = TrainConfig(epochs=24)
    with caplog.at_level(logging.INFO):
        sized = budget(quick, 36, "VAE", given={})
    assert (sized.batch_size, sized.epochs) == (9, 75)  # 4 steps an epoch, 300 steps
    assert "VAE: 36 images: batch 9 instead of 64, so an epoch makes 4 steps or more" in caplog.text
    assert budget(quick, 36, "VAE", given={"batch_size": 64}).batch_size == 64
    assert budget(quick, 3409, "VAE", given={}) == quick


def test_large_data_keeps_its_epochs() -> None:
    settings = TrainConfig(epochs=2, batch_size=128, min_steps=300)
    assert step_budget(settings, 54000, "VAE") == settings


def test_too_short_a_run_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = TrainConfig(epochs=3, batch_size=64, min_steps=0)
    with caplog.at_level(logging.WARNING):
        assert step_budget(settings, 180, "GAN").epochs == 3
    assert "only 9 optimiser steps, too few to learn" in caplog.text and str(TOO_FEW_STEPS) in caplog.text
    assert "raise --gan-epochs or --min-steps" in caplog.text  # the GAN's length is --gan-epochs, not --epochs


def test_the_gpu_budget_names_each_stages_own_batch_flag(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        gpu_budget(GANConfig(), {}, "GAN")
        gpu_budget(TrainConfig(), {}, "VAE")
    assert "(--gan-batch-size keeps your own)" in caplog.records[0].getMessage()
    assert "(--batch-size keeps your own)" in caplog.records[1].getMessage()


def test_epochs_the_user_gave_are_trained_as_given(caplog: pytest.LogCaptureFixture) -> None:
    settings = TrainConfig(epochs=1, batch_size=64, min_steps=300)
    with caplog.at_level(logging.INFO):
        assert step_budget(settings, 180, "VAE", given={"epochs": 1}).epochs == 1
    assert "instead of" not in caplog.text and "too few to learn" in caplog.text


def test_the_budget_is_in_the_config_that_trains_and_train_vae_trains_exactly_its_config(tmp_path: Path) -> None:
    splits = tiny_splits(n=24)  # 16 training images: 4 steps per epoch at batch 4
    cfg = tiny_config(epochs=1, min_steps=8)
    exact = load_checkpoint(train_vae(cfg, tmp_path / "exact", splits=splits).checkpoint)
    assert exact.config.train.epochs == 1 and exact.loop.step == 4  # type: ignore[union-attr]
    budgeted = vae_budget(cfg, len(splits.train), given={})
    saved = load_checkpoint(train_vae(budgeted, tmp_path / "vae", splits=splits).checkpoint)
    assert saved.config.train.epochs == 2 and saved.loop.step == 8  # type: ignore[union-attr]
    assert vae_budget(cfg, len(splits.train), given={"train": {"epochs": 1}}) == cfg


def test_a_gpu_budget_scales_batch_and_epochs_together_unless_a_batch_was_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = TrainConfig(epochs=24, batch_size=64, checkpoint_every=1, quality_every=5)
    with caplog.at_level(logging.INFO):
        sized = gpu_budget(settings, {"epochs": 24}, "VAE")
    k = GPU_BATCH_FACTOR
    assert (sized.batch_size, sized.epochs) == (64 * k, 24 * k)  # the same optimiser steps, k x the images
    assert (sized.checkpoint_every, sized.quality_every) == (k, 5 * k)  # as often in steps as before
    assert sized.grid_every == k  # as many grids and GIF frames as the CPU-sized run draws
    assert f"batch {64 * k} and {24 * k} epochs instead of 64 and 24" in caplog.text
    assert gpu_budget(settings, {"batch_size": 64}, "VAE") == settings


@pytest.mark.parametrize("name", ["emoji", "fashion-mnist"])
def test_the_example_config_files_train_what_their_data_trains_by_default(name: str) -> None:
    from vaegan.config import read_toml
    from vaegan.settings import pipeline_configs

    config = Path(__file__).resolve().parents[1] / "configs" / f"{name}.toml"
    from_file = pipeline_configs(read_toml(config))
    assert from_file[:2] == pipeline_configs({"data": {"source": name}})[:2]


def test_on_a_gpu_new_stages_are_wider_unless_a_width_was_given(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The GPU sizing rule, with CUDA mocked: what it decides is tested here; what it buys is unmeasured
    without a GPU (issue 61)."""
    from vaegan import presets
    from vaegan.config import GANConfig, GANRunConfig, vae_run_config

    monkeypatch.setattr(presets, "on_gpu", lambda device: True)
    cfg = vae_run_config()
    with caplog.at_level(logging.INFO):
        sized = vae_budget(cfg, 3409, given={})
    assert sized.model.base_channels == 2 * cfg.model.base_channels
    assert (sized.train.batch_size, sized.train.epochs) == (4 * cfg.train.batch_size, 4 * cfg.train.epochs)
    assert "base_channels 64 instead of 32" in caplog.text
    assert vae_budget(cfg, 3409, given={"model": {"base_channels": 32}}).model.base_channels == 32
    gan = presets.gan_budget(GANRunConfig("vae", GANConfig()), 3409, given={})
    assert gan.gan.disc_channels == 2 * GANConfig().disc_channels
    monkeypatch.setattr(presets, "on_gpu", lambda device: False)
    assert vae_budget(cfg, 3409, given={}).model == cfg.model  # a CPU keeps the widths


def test_ds_warm_up_leaves_g_most_of_a_short_stage_unless_the_user_gave_it(caplog: pytest.LogCaptureFixture) -> None:
    run = GANRunConfig(vae_checkpoint="vae", gan=GANConfig(epochs=2, batch_size=64, min_steps=0, device="cpu"))
    with caplog.at_level(logging.INFO):
        short = gan_budget(run, 640, {"gan": {"epochs": 2}})  # 2 epochs of 10 steps
    assert short.gan.d_warmup_steps == 5 and "D warms up alone for 5 of its 20 steps instead of 100" in caplog.text
    assert gan_budget(run, 640, {"gan": {"epochs": 2, "d_warmup_steps": 50}}).gan.d_warmup_steps == 100
    assert gan_budget(run, 64_000, {"gan": {"epochs": 2}}).gan.d_warmup_steps == 100  # 2,000 steps: kept
