import pytest
import torch

from vaegan.config import GANConfig, ModelConfig
from vaegan.models.blocks import downsample_sizes
from vaegan.models.gan import Discriminator, build_discriminator
from vaegan.models.vae import VAE


@pytest.mark.parametrize("size", [28, 64])
def test_the_conv_d_gives_one_logit_per_image_from_random_weights(size: int) -> None:
    """The encoder's conv stack, shaped alike, but new: the trained VAE's encoder is no start for it."""
    model = ModelConfig(image_size=size, channels=3, latent_dim=4, base_channels=4)
    encoder = VAE(model).encoder
    disc = build_discriminator(model, GANConfig(disc_channels=4), encoder)
    assert isinstance(disc, Discriminator)
    assert len(disc.features) == len(downsample_sizes(size))
    assert disc(torch.randn(2, 3, size, size)).shape == (2,)
    assert disc.features[0][0].weight.shape == encoder.features[0][0].weight.shape
    assert not torch.equal(disc.features[0][0].weight, encoder.features[0][0].weight)
