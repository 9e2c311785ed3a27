"""What `vaegan run` trains is decided before it trains and recorded: epochs the user gave are trained as
given, a preset's are raised to --min-steps on small data, and a rerun after a stop finishes the unfinished
stage and then the GAN, ending where an uninterrupted run ends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from tiny import TINY_FLAGS, tiny_splits
from vaegan.checkpoint import load_checkpoint
from vaegan.cli import main
from vaegan.training import stopping

FLAGS = [*TINY_FLAGS[: TINY_FLAGS.index("--min-steps")], "--gan-batch-size", "4"]  # these tests are about min_steps


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    """16 training images: 4 steps per epoch at batch 4 (a quarter held out)."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i, image in enumerate(tiny_splits(n=29).train.images):  # 21 images
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    return folder


def epochs_trained(run: Path) -> tuple[int, int]:
    configs = [json.loads((run / stage / "config.json").read_text()) for stage in ("vae", "gan")]
    return configs[0]["train"]["epochs"], configs[1]["gan"]["epochs"]


def test_epochs_given_are_trained_as_given(tmp_path: Path, pictures: Path) -> None:
    argv = ["run", "--data", str(pictures), *FLAGS, "--min-steps", "40", "--epochs", "1", "--gan-epochs", "1"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert epochs_trained(tmp_path / "run") == (1, 1)
    assert load_checkpoint(tmp_path / "run" / "vae" / "checkpoint.pt").loop.step == 4


def test_a_presets_epochs_are_raised_to_min_steps_and_recorded(tmp_path: Path, pictures: Path) -> None:
    argv = ["run", "--data", str(pictures), *FLAGS, "--min-steps", "12", "--preset", "quick"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    assert epochs_trained(tmp_path / "run") == (24, 9)  # quick's 24 and 9 epochs reach 12 steps already
    argv = ["run", "--data", str(pictures), *FLAGS, "--min-steps", "200", "--preset", "quick"]
    assert main([*argv, "--out", str(tmp_path / "small")]) == 0
    assert epochs_trained(tmp_path / "small") == (50, 50)  # 200 steps at 4 a epoch


def test_a_rerun_after_a_stop_finishes_the_vae_then_trains_the_gan(
    tmp_path: Path, pictures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["run", "--data", str(pictures), *FLAGS, "--min-steps", "12", "--epochs", "1", "--gan-epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "straight")]) == 0

    real_after_step = stopping.StopRules.after_step
    steps = []

    def pressed_at_step_3(self: stopping.StopRules, seconds: float, *, may_cut: bool) -> tuple[bool, bool]:
        steps.append(1)
        pressed, late = real_after_step(self, seconds, may_cut=may_cut)
        return pressed or len(steps) == 3, late

    monkeypatch.setattr(stopping.StopRules, "after_step", pressed_at_step_3)
    assert main([*argv, "--out", str(tmp_path / "stopped")]) != 0  # Ctrl-C in the VAE's first epoch
    assert not (tmp_path / "stopped" / "gan").exists()
    monkeypatch.setattr(stopping.StopRules, "after_step", real_after_step)
    assert main([*argv, "--out", str(tmp_path / "stopped")]) == 0

    straight, resumed = (load_checkpoint(tmp_path / run / "gan" / "checkpoint.pt") for run in ("straight", "stopped"))
    assert straight.loop.step == resumed.loop.step == 8
    for key, value in straight.generator.items():  # type: ignore[union-attr]
        assert torch.equal(value, resumed.generator[key]), key  # type: ignore[union-attr]
