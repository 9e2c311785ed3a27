import pytest
import torch

from vaegan.config import GANConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.models.gan import Discriminator, patch_sizes
from vaegan.models.vae import VAE


@pytest.mark.parametrize("size, positions", [(28, 7 * 7), (32, 8 * 8), (64, 8 * 8), (128, 8 * 8)])
def test_patch_head_gives_a_logit_per_position_of_the_first_map_of_at_most_8px(size: int, positions: int) -> None:
    patch = Discriminator(size, 3, 4, head="patch")
    linear = Discriminator(size, 3, 4)
    x = torch.randn(2, 3, size, size)
    assert patch(x).shape == (2, positions)
    assert linear(x).shape == (2,)
    assert patch_sizes(size)[-1] <= 8 < ([size, *patch_sizes(size)][-2])


def test_patch_head_judges_a_texture_alike_wherever_it_appears() -> None:
    """Shared 3x3 weights: a pattern moved by one cell of the 8x8 map moves its logits by one position
    (columns 2 to 5, whose 38 px views stay clear of the zero padding at the borders)."""
    disc = Discriminator(64, 3, 4, head="patch").eval()
    x = torch.zeros(1, 3, 64, 64)
    x[..., 24:32, 24:32] = torch.randn(3, 8, 8)
    moved = torch.roll(x, shifts=8, dims=-1)  # one map cell to the right, still far from the borders
    a, b = disc(x).view(8, 8), disc(moved).view(8, 8)
    assert torch.allclose(a[:, 2:5], b[:, 3:6], atol=1e-6)
    assert not torch.allclose(a[:, 2:5], a[:, 3:6], atol=1e-6)  # it did see the pattern move


def test_for_config_builds_the_head_the_gan_config_names() -> None:
    model = ModelConfig(image_size=32, channels=1, latent_dim=4, base_channels=4)
    disc = Discriminator.for_config(model, GANConfig(disc_channels=8, disc_head="patch"))
    assert disc(torch.zeros(3, 1, 32, 32)).shape == (3, 64)
    with pytest.raises(VaeganError, match="discriminator head must be one of linear, patch"):
        GANConfig(disc_head="global")  # type: ignore[arg-type]
    with pytest.raises(VaeganError, match="discriminator head must be one of linear, patch"):
        Discriminator(32, 1, head="global")  # type: ignore[arg-type]


@pytest.mark.parametrize("head, blocks", [("linear", 4), ("patch", 3)])
def test_disc_init_encoder_starts_d_convs_as_the_vae_encoders(head: str, blocks: int) -> None:
    """The linear head's stack is the encoder's whole stack; the patch head's stops at 8x8, a prefix."""
    model = ModelConfig(image_size=64, channels=3, latent_dim=4, base_channels=4)
    encoder = VAE(model).encoder
    gan = GANConfig(disc_channels=4, disc_head=head, disc_init="encoder")  # type: ignore[arg-type]
    disc = Discriminator.for_config(model, gan, encoder)
    mine, theirs = disc.features.state_dict(), encoder.features.state_dict()
    assert len(disc.features) == blocks and mine
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    fresh = Discriminator.for_config(model, GANConfig(disc_channels=4, disc_head=head), encoder)  # type: ignore[arg-type]
    assert not torch.equal(fresh.features[0][0].weight, encoder.features[0][0].weight)  # scratch ignores it


def test_disc_init_encoder_refuses_another_width() -> None:
    model = ModelConfig(image_size=32, channels=1, latent_dim=4, base_channels=4)
    encoder = VAE(model).encoder
    with pytest.raises(VaeganError, match="set --disc-channels to the VAE's base channels"):
        Discriminator.for_config(model, GANConfig(disc_channels=8, disc_init="encoder"), encoder)
    with pytest.raises(VaeganError, match="discriminator init must be one of scratch, encoder"):
        GANConfig(disc_init="decoder")  # type: ignore[arg-type]
