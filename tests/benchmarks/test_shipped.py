"""benchmarks/shipped.py: the plain baseline trains what `vaegan run` ships, from the same weights."""

from __future__ import annotations

import pytest
import torch
from shipped import STAGES, Shipped
from torch._dynamo.utils import counters

from vaegan.data import to_float

CPU = torch.device("cpu")


@pytest.mark.parametrize(("name", "source"), [("64x64 RGB emoji", "emoji"), ("28x28 Fashion-MNIST", "fashion-mnist")])
def test_the_plain_loop_computes_the_shipped_steps_losses(name: str, source: str) -> None:
    setup = Shipped.of(name, source)
    m = setup.vae.model
    noise = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, m.channels, m.image_size, m.image_size), dtype=torch.uint8, generator=noise)
    x = to_float(images[:4], m.value_range)
    shipped = {stage: setup.step(stage, CPU, bf16=False, layout=torch.contiguous_format) for stage in STAGES}
    eps, z = (setup.latents(stage, images, CPU)(4, noise) for stage in STAGES)
    plain = {stage: setup.plain(stage, CPU) for stage in STAGES}
    vae_losses, plain_vae = shipped["VAE"](0, x, eps), plain["VAE"](0, x, eps)
    torch.manual_seed(1)  # DiffAugment's draws: the same in both loops
    monitors = shipped["GAN"](0, x, z)  # step 0: R1's too
    torch.manual_seed(1)
    plain_gan = plain["GAN"](0, x, z)
    assert isinstance(vae_losses, dict) and isinstance(monitors, torch.Tensor) and isinstance(plain_gan, tuple)
    assert plain_vae == pytest.approx(vae_losses["total"].item(), rel=1e-5)
    assert plain_gan[0] == pytest.approx(monitors[0].item(), rel=1e-5)  # D's loss, R1 in it
    assert plain_gan[1] == pytest.approx(monitors[1].item(), rel=1e-3)  # G's, after each loop's Adam step on D


def test_the_compiled_vae_row_computes_the_eager_steps_losses() -> None:
    """throughput.py --compile times the VAE's step as `--compile on` builds it: the same losses, compiled."""
    setup = Shipped.of("28x28 Fashion-MNIST", "fashion-mnist")
    m = setup.vae.model
    noise = torch.Generator().manual_seed(0)
    x = to_float(torch.randint(0, 256, (4, m.channels, m.image_size, m.image_size), dtype=torch.uint8), m.value_range)
    eps = torch.randn(4, m.latent_dim, generator=noise)
    graphs = counters["stats"]["unique_graphs"]
    eager = setup.step("VAE", CPU, bf16=False, layout=torch.contiguous_format)(0, x, eps)
    assert counters["stats"]["unique_graphs"] == graphs  # the eager row compiles nothing
    compiled = setup.step("VAE", CPU, bf16=False, layout=torch.contiguous_format, compiled=True)(0, x, eps)
    assert counters["stats"]["unique_graphs"] > graphs  # and the compiled one does
    assert isinstance(eager, dict) and isinstance(compiled, dict)
    for name in ("total", "reconstruction", "kl"):
        torch.testing.assert_close(compiled[name], eager[name], rtol=1e-4, atol=1e-5)
