"""Both stages on a GPU, at `auto` precision and layout: what `--device auto` picks where CUDA is present.

Skipped without CUDA (CI has none); run on a lent GPU with `python -m pytest -m gpu`.
"""

import math
from pathlib import Path

import pytest
import torch

from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.checkpoint import load_checkpoint
from vaegan.config import GANRunConfig
from vaegan.presets import GPU_BATCH_FACTOR
from vaegan.runs import load_generator, load_vae, open_run
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
AUTO = {"device": "cuda", "precision": "auto", "memory_format": "auto"}


def test_both_stages_train_on_cuda_and_their_checkpoints_load_on_the_cpu(tmp_path: Path) -> None:
    vae_result = train_vae(tiny_config(epochs=3, **AUTO), tmp_path / "vae", splits=tiny_splits())
    assert math.isfinite(vae_result.metrics["train/total"]) and math.isfinite(vae_result.metrics["val/neg_elbo"])
    vae, _ = load_vae(tmp_path / "vae")  # onto the CPU: a GPU run's checkpoint opens on a machine without one
    assert next(vae.parameters()).device.type == "cpu"

    gan = GANRunConfig(vae_checkpoint=str(tmp_path / "vae" / "checkpoint.pt"), gan=tiny_gan(epochs=2, **AUTO))
    train_gan(gan, tmp_path / "gan", splits=tiny_splits())
    generator, _ = load_generator(tmp_path / "gan")
    with torch.no_grad():
        images = generator(torch.randn(4, 4))
    assert images.shape == (4, 3, 16, 16) and torch.isfinite(images).all()


def test_a_cuda_step_in_bf16_autocast_keeps_fp32_weights(tmp_path: Path) -> None:
    """bf16 autocast on CUDA computes in bf16 but trains the fp32 master weights, as on the CPU. bf16 is
    asked for: auto may keep fp32 on a GPU (the H200 did), which would test nothing here."""
    train_vae(tiny_config(epochs=1, **{**AUTO, "precision": "bf16"}), tmp_path / "vae", splits=tiny_splits())
    vae, _ = load_vae(tmp_path / "vae")
    assert all(p.dtype == torch.float32 for p in vae.parameters())


@pytest.mark.parametrize("kind", ["projected"])
def test_each_discriminator_kind_trains_on_cuda_in_bf16_and_channels_last(tmp_path: Path, kind: str) -> None:
    """The projected D on the conv D's fast path: bf16 autocast, channels_last batches, CUDA kernels."""
    train_vae(tiny_config(epochs=1, **AUTO), tmp_path / "vae", splits=tiny_splits())
    fast = {**AUTO, "precision": "bf16", "memory_format": "channels_last", "r1_every": 1, "disc_kind": kind}
    gan = GANRunConfig(vae_checkpoint=str(tmp_path / "vae" / "checkpoint.pt"), gan=tiny_gan(epochs=2, **fast))
    result = train_gan(gan, tmp_path / "gan", splits=tiny_splits())
    assert all(math.isfinite(result.metrics[key]) for key in ("d_loss", "g_loss", "grad_d", "grad_g"))
    disc = open_run(tmp_path / "gan").discriminator()  # onto the CPU, rebuilt from the config alone
    assert torch.isfinite(disc(torch.zeros(2, 3, 16, 16))).all()


def test_a_gpu_run_without_a_batch_size_takes_a_larger_batch_for_the_same_steps(tmp_path: Path) -> None:
    cfg = tiny_config(epochs=2, **AUTO)
    train_vae(cfg, tmp_path / "sized", splits=tiny_splits())
    given = {"train": {"batch_size": cfg.train.batch_size}}
    train_vae(cfg, tmp_path / "given", splits=tiny_splits(), wanted=given)
    sized, kept = (load_checkpoint(tmp_path / name / "checkpoint.pt").config.train for name in ("sized", "given"))
    assert (sized.batch_size, sized.epochs) == (GPU_BATCH_FACTOR * kept.batch_size, GPU_BATCH_FACTOR * kept.epochs)
