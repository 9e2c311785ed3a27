import pytest
import torch

from vaegan.config import GANConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.models.blocks import downsample_sizes
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE


@pytest.mark.parametrize("size", [28, 64])
def test_the_conv_d_gives_one_logit_per_image_from_the_encoders_conv_stack(size: int) -> None:
    disc = Discriminator(size, 3, 4)
    assert len(disc.features) == len(downsample_sizes(size))
    assert disc(torch.randn(2, 3, size, size)).shape == (2,)


def test_disc_init_encoder_starts_d_convs_as_the_vae_encoders() -> None:
    model = ModelConfig(image_size=64, channels=3, latent_dim=4, base_channels=4)
    encoder = VAE(model).encoder
    disc = Discriminator.for_config(model, GANConfig(disc_channels=4, disc_init="encoder"), encoder)
    mine, theirs = disc.features.state_dict(), encoder.features.state_dict()
    assert len(disc.features) == 4 and mine
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    fresh = Discriminator.for_config(model, GANConfig(disc_channels=4), encoder)
    assert not torch.equal(fresh.features[0][0].weight, encoder.features[0][0].weight)  # scratch ignores it


def test_disc_init_encoder_refuses_another_width() -> None:
    model = ModelConfig(image_size=32, channels=1, latent_dim=4, base_channels=4)
    encoder = VAE(model).encoder
    with pytest.raises(VaeganError, match="set --disc-channels to the VAE's base channels"):
        Discriminator.for_config(model, GANConfig(disc_channels=8, disc_init="encoder"), encoder)
    with pytest.raises(VaeganError, match="discriminator init must be one of scratch, encoder"):
        GANConfig(disc_init="decoder")  # type: ignore[arg-type]
