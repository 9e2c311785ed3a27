from functools import partial

import pytest
import torch

from vaegan.augment import TRANSFORMS, diff_augment
from vaegan.config import DIFFAUGMENTS, GANConfig, ModelConfig
from vaegan.errors import VaeganError
from vaegan.models.gan import Discriminator
from vaegan.models.vae import VAE, Decoder
from vaegan.training.gan_step import GANNets, gan_step

POLICY = "color,translation,cutout"
CPU = torch.device("cpu")


def test_the_configs_transform_names_are_the_modules() -> None:
    assert tuple(TRANSFORMS) == DIFFAUGMENTS


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", POLICY])
@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0)])
def test_shapes_and_value_range_are_kept(policy: str, value_range: tuple[float, float]) -> None:
    lo, hi = value_range
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 3, 16, 16, generator=g) * (hi - lo) + lo
    y = diff_augment(x, policy, value_range, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= lo and y.max() <= hi
    assert not torch.equal(x, y)


def test_draws_are_per_image_and_follow_the_generator() -> None:
    x = torch.rand(6, 1, 16, 16)
    a = diff_augment(x, POLICY, (0.0, 1.0), torch.Generator().manual_seed(3))
    b = diff_augment(x, POLICY, (0.0, 1.0), torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    same = diff_augment(x[:1].expand(6, -1, -1, -1), "cutout", (0.0, 1.0), torch.Generator().manual_seed(4))
    assert len({t.numpy().tobytes() for t in same}) > 1  # one image, six different cutouts


def test_gradients_flow_through_every_transform() -> None:
    x = (torch.rand(4, 3, 16, 16) * 1.6 - 0.8).requires_grad_(True)
    diff_augment(x, POLICY, (-1.0, 1.0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_empty_policy_is_identity_and_unknown_names_are_errors() -> None:
    x = torch.rand(2, 3, 16, 16)
    assert diff_augment(x, "", (0.0, 1.0)) is x
    with pytest.raises(VaeganError, match="unknown DiffAugment transforms"):
        diff_augment(x, "color,rotate", (0.0, 1.0))
    with pytest.raises(VaeganError, match="unknown DiffAugment transforms"):
        GANConfig(diffaugment="flip")


def test_d_sees_real_and_fake_augmented_in_both_updates() -> None:
    """Cutout fills a square with mid-range (0 here): every image D sees, real or fake, has one."""
    torch.manual_seed(0)
    model = ModelConfig(image_size=16, channels=3, latent_dim=4, base_channels=4)
    generator, disc = Decoder(model), Discriminator(16, 3, 4)
    seen: list[torch.Tensor] = []
    disc.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    augment = partial(diff_augment, policy="cutout", value_range=(-1.0, 1.0))
    real, z = torch.ones(4, 3, 16, 16), torch.randn(4, 4)
    gc = GANConfig(anchor="none", r1_gamma=0.0, d_warmup_steps=0)  # D's two forwards, and no anchor's
    nets = GANNets.build(generator, disc, VAE(model), gc, augment=augment)
    gan_step(nets, real, z, gc=gc, step=0, device=CPU, bf16=False)
    d_update, g_update = seen
    assert d_update.shape == (8, 3, 16, 16) and g_update.shape == (4, 3, 16, 16)
    for image in torch.cat([d_update, g_update]):
        assert (image == 0).all(dim=0).sum() >= 16  # at least a 4x4 hole of mid-range in every image
