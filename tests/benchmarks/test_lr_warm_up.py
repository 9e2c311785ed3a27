"""The VAE's learning-rate warm-up keeps a deeper decoder's start out of tanh saturation (levers round 17)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from quality import configs
from race import FP32, VAETrainer

from vaegan.config import TrainConfig
from vaegan.data import load_splits
from vaegan.data.emoji import FONT_PATH


def output_magnitude_after(steps: int, lr_warmup_steps: int) -> float:
    """Emoji's two-conv VAE at seed 1 in fp32 (race.py's trainer): its output layer's mean |value| before
    the tanh, on the last of `steps` training batches."""
    cfg, _ = configs(
        "emoji", None, vae_overrides={"model": {"decoder_convs": 2}, "train": {"lr_warmup_steps": lr_warmup_steps}}
    )
    trainer = VAETrainer(cfg, load_splits(cfg.data).train.images, seed=1, settings=FP32)
    seen: list[torch.Tensor] = []
    trainer.model.decoder.to_image.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    for _ in range(steps):
        trainer.step()
    return float(seen[-1].abs().mean())


@pytest.mark.skipif(not Path(FONT_PATH).is_file(), reason="needs fonts-noto-color-emoji")
def test_learning_rate_warm_up_keeps_a_deeper_decoder_out_of_tanh_saturation() -> None:
    """Levers round 17's seed, on real emoji: at Adam's full rate from step one, the residual convs' first
    moves compound until the output sits deep in tanh's flat tail (that run never trained); the default
    warm-up takes the same seed through the same five batches near its start. If a change to the model's
    initialisation stops seed 1 from exploding, the first assertion says so: pick a seed that does."""
    assert output_magnitude_after(5, lr_warmup_steps=0) > 30
    assert output_magnitude_after(5, lr_warmup_steps=TrainConfig().lr_warmup_steps) < 1
