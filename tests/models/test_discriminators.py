"""The projected discriminator (GANConfig.disc_kind) beside the conv one."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vaegan.config import GANConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.losses import r1_penalty
from vaegan.models.gan import Discriminator, ProjectedDiscriminator, build_discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.training.gan_step import MONITORS, GANNets, gan_step

CPU = torch.device("cpu")
# The step's settings stated, not taken from GANConfig's defaults; R1 on every step so its path runs too.
STEP = GANConfig(disc_channels=4, anchor="pixel", r1_gamma=1.0, r1_every=1, diffaugment="", d_warmup_steps=0)


def tiny_model(size: int) -> ModelConfig:
    return ModelConfig(image_size=size, channels=3, latent_dim=4, base_channels=4)


def tiny_nets(kind: str, size: int = 16, **settings: object) -> GANNets:
    torch.manual_seed(0)
    model, gc = tiny_model(size), replace(STEP, disc_kind=kind, **settings)  # type: ignore[arg-type]
    vae = VAE(model).requires_grad_(False)
    return GANNets.build(Decoder(model), build_discriminator(model, gc, vae.encoder), vae, gc)


def images(n: int = 4, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("kind, cls", [("conv", Discriminator), ("projected", ProjectedDiscriminator)])
def test_the_config_names_the_kind_built(kind: str, cls: type) -> None:
    disc = build_discriminator(tiny_model(16), GANConfig(disc_channels=4, disc_kind=kind))  # type: ignore[arg-type]
    assert type(disc) is cls
    with pytest.raises(VaeganError, match="discriminator kind must be one of conv, projected, got 'selfsup'"):
        GANConfig(disc_kind="selfsup")  # type: ignore[arg-type]
    with pytest.raises(VaeganError, match="discriminator kind must be one of conv, projected"):
        GANConfig(disc_kind="style")  # type: ignore[arg-type]


@pytest.mark.parametrize("size, positions", [(16, 8 * 8 + 4 * 4), (28, 7 * 7 + 7 * 7), (64, 8 * 8 + 8 * 8 + 4 * 4)])
def test_projected_d_gives_a_logit_per_position_of_each_scale(size: int, positions: int) -> None:
    """Up to three of the encoder's maps (64 px: 16, 8, 4), each head down to at most 8 px."""
    disc = build_discriminator(tiny_model(size), GANConfig(disc_channels=4, disc_kind="projected"))
    assert disc(torch.randn(3, 3, size, size)).shape == (3, positions)


def test_one_step_trains_ds_weights_and_leaves_the_frozen_encoder() -> None:
    """Every trainable D weight moves; the projected D's copy of the encoder and its random 1x1 mixing stay
    as built, and stay frozen after G's step."""
    nets = tiny_nets("projected")
    frozen_before, d_before = state(nets.frozen), state(nets.disc)
    monitors = gan_step(nets, images(), torch.randn(4, 4), gc=STEP, step=0, device=CPU, bf16=False)
    assert torch.isfinite(monitors).all() and monitors[MONITORS.index("grad_g")] > 0
    assert all(torch.equal(v, frozen_before[k]) for k, v in nets.frozen.state_dict().items())
    trainable = {name for name, p in nets.disc.named_parameters() if p.requires_grad}
    for name, value in nets.disc.named_parameters():
        assert torch.equal(value, d_before[name]) == (name not in trainable), name
    assert trainable and all(name.startswith("heads.") for name in trainable)
    copied = nets.disc.encoder.state_dict()  # type: ignore[union-attr]
    assert all(torch.equal(v, nets.frozen.encoder.features.state_dict()[k]) for k, v in copied.items())
    assert all(p.grad is None for p in nets.disc.encoder.parameters())  # type: ignore[union-attr]


def test_projected_d_passes_input_gradients_so_r1_and_g_see_the_image() -> None:
    disc = build_discriminator(tiny_model(16), GANConfig(disc_channels=4, disc_kind="projected"))
    x = images().requires_grad_(True)
    assert (r1_penalty(disc(x), x) > 0).all()


def test_bf16_autocast_and_channels_last_train_the_projected_d() -> None:
    nets = tiny_nets("projected")
    real = images().contiguous(memory_format=torch.channels_last)
    monitors = gan_step(nets, real, torch.randn(4, 4), gc=STEP, step=0, device=CPU, bf16=True)
    assert torch.isfinite(monitors).all()


def test_a_trained_projected_d_rebuilds_from_its_config_alone() -> None:
    """No encoder needed to load it: the state dict holds the projected D's copy and random mixing."""
    nets = tiny_nets("projected")
    gan_step(nets, images(), torch.randn(4, 4), gc=STEP, step=0, device=CPU, bf16=False)
    torch.manual_seed(123)  # other random weights, all replaced by the loaded ones
    rebuilt = build_discriminator(tiny_model(16), replace(STEP, disc_kind="projected"))
    rebuilt.load_state_dict(nets.disc.state_dict())  # strict
    x = images(seed=5)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), nets.disc.eval()(x))
