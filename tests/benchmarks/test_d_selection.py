"""benchmarks/d_selection.py: the kept samples are the ones the run's own D rates highest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from d_selection import ranked_samples, trained_nets

from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.config import GANRunConfig
from vaegan.runs import open_run
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae


@pytest.mark.parametrize("head", ["linear", "patch"])
def test_top_k_keeps_the_best_rated_of_the_pool_and_pool_1_keeps_all(tmp_path: Path, head: str) -> None:
    splits = tiny_splits()
    train_vae(tiny_config(epochs=1), tmp_path / "vae", splits=splits)
    gan = GANRunConfig(str(tmp_path / "vae" / "checkpoint.pt"), tiny_gan(disc_head=head))
    train_gan(gan, tmp_path / "gan", splits=splits)
    run = open_run(tmp_path)
    nets = trained_nets(run)
    plain, plain_logit = ranked_samples(run, nets, 6, 1, 1.0, seed=0)
    best, best_logit = ranked_samples(run, nets, 6, 4, 1.0, seed=0)
    assert plain.shape == best.shape == (6, 3, 16, 16) and plain.dtype == torch.uint8
    assert best_logit > plain_logit  # D's 6 favourites of 24 against 6 drawn as they came
    with torch.no_grad():
        rated = nets[1](best.float() / 127.5 - 1).reshape(6, -1).mean(1)
    assert torch.all(rated[:-1] >= rated[1:] - 0.05)  # best first (uint8 rounding moves a logit a little)
