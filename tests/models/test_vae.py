import pytest
import torch
from torch import nn

from vaegan.config import ModelConfig
from vaegan.errors import VaeganError
from vaegan.models.blocks import ResidualConv, ResizeConv, TransposeConv
from vaegan.models.vae import VAE, Decoder, DiagonalGaussian


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_shapes_for_each_size_and_channel_count(size: int, channels: int, kind: str) -> None:
    model = VAE(ModelConfig(kind=kind, image_size=size, channels=channels, latent_dim=5, base_channels=4))
    x = torch.rand(2, channels, size, size) * 2 - 1
    x_hat, posterior = model(x)
    assert x_hat.shape == x.shape
    assert posterior.mean.shape == (2, 5)
    assert x_hat.min() >= -1 and x_hat.max() <= 1


@pytest.mark.parametrize("size", [28, 32, 64, 128])
@pytest.mark.parametrize("upsample", ["transpose", "resize"])
def test_decoder_shapes_for_each_upsampling(size: int, upsample: str) -> None:
    cfg = ModelConfig(image_size=size, channels=3, latent_dim=5, base_channels=4, upsample=upsample)  # type: ignore[arg-type]
    decoder = Decoder(cfg)
    assert decoder(torch.randn(2, 5)).shape == (2, 3, size, size)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()) == (upsample == "transpose")
    assert any(isinstance(m, ResizeConv) for m in decoder.modules()) == (upsample == "resize")


@pytest.mark.parametrize("size", [28, 64])
@pytest.mark.parametrize("convs", [1, 2, 3])
def test_decoder_with_extra_convs_per_level(size: int, convs: int) -> None:
    cfg = ModelConfig(image_size=size, channels=3, latent_dim=5, base_channels=4, decoder_convs=convs)
    decoder = Decoder(cfg)
    assert decoder(torch.randn(2, 5)).shape == (2, 3, size, size)
    levels = len(decoder.upsample)
    extra = [m for m in decoder.upsample.modules() if isinstance(m, ResidualConv)]
    assert len(extra) == levels * (convs - 1)


def test_one_conv_per_level_keeps_the_state_dict_names_older_files_hold() -> None:
    """Checkpoints saved before decoder_convs existed load strictly into a one-conv decoder (checkpoint.py
    pins decoder_convs 1 for them)."""
    names = set(Decoder(ModelConfig(image_size=32, base_channels=4, decoder_convs=1)).state_dict())
    assert names == {"project.0.weight", "project.0.bias", "to_image.weight", "to_image.bias"} | {
        f"upsample.{i}.0.{p}" for i in range(2) for p in ("weight", "bias")
    }
    deeper = set(Decoder(ModelConfig(image_size=32, base_channels=4, decoder_convs=2)).state_dict())
    assert names < deeper and "upsample.0.2.conv.weight" in deeper


def test_a_residual_conv_starts_as_the_identity_and_learns() -> None:
    layer = ResidualConv(3)
    x = torch.rand(2, 3, 5, 5)  # after a ReLU: non-negative
    assert torch.equal(layer(x), x)
    layer(x).square().sum().backward()
    assert layer.conv.weight.grad is not None and layer.conv.weight.grad.abs().sum() > 0


def test_decoder_convs_out_of_range_names_the_setting() -> None:
    with pytest.raises(VaeganError, match="decoder convs"):
        ModelConfig(decoder_convs=0)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_transpose_conv_with_its_bias_apart_equals_pytorchs(layout: torch.memory_format) -> None:
    torch.manual_seed(0)
    ours = TransposeConv(6, 5).double()
    theirs = nn.ConvTranspose2d(6, 5, 4, 2, 1).double()
    theirs.load_state_dict(ours.state_dict())  # the same parameters under the same names
    x = torch.randn(3, 6, 7, 7, dtype=torch.float64).contiguous(memory_format=layout)
    torch.testing.assert_close(ours(x), theirs(x))
    ours(x).square().sum().backward()
    theirs(x).square().sum().backward()
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad)


@pytest.mark.parametrize("size", [7, 14, 16, 32])
def test_resize_conv_equals_nearest_resize_then_conv3x3(size: int) -> None:
    torch.manual_seed(size)
    fast = ResizeConv(6, 5)
    literal = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(6, 5, 3, 1, 1))
    literal[1].load_state_dict({"weight": fast.weight.detach(), "bias": fast.bias.detach()})
    x = torch.randn(3, 6, size, size)
    assert torch.allclose(fast(x), literal(x), atol=1e-5)
    assert torch.allclose(fast(x.contiguous(memory_format=torch.channels_last)), literal(x), atol=1e-5)


def test_resize_conv_learns_through_its_3x3_weights() -> None:
    layer = ResizeConv(2, 3)
    layer(torch.randn(1, 2, 4, 4)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.shape == (3, 2, 3, 3)
    assert set(layer.state_dict()) == {"weight", "bias"}  # the tap map is rebuilt, never saved


def test_the_two_upsamplings_do_not_load_each_others_weights() -> None:
    transpose = Decoder(ModelConfig(image_size=16, latent_dim=3, base_channels=4, upsample="transpose"))
    resize = Decoder(ModelConfig(image_size=16, latent_dim=3, base_channels=4, upsample="resize"))
    with pytest.raises(RuntimeError):
        resize.load_state_dict(transpose.state_dict())


def test_unknown_upsampling_is_a_clear_error() -> None:
    with pytest.raises(VaeganError, match="upsample must be one of transpose, resize"):
        ModelConfig(upsample="bilinear")  # type: ignore[arg-type]


def test_sigmoid_output_is_in_unit_interval() -> None:
    model = VAE(ModelConfig(image_size=16, channels=1, latent_dim=3, base_channels=4, output="sigmoid"))
    out = model.decode(torch.randn(4, 3) * 10)
    assert out.min() >= 0 and out.max() <= 1


def test_odd_image_size_is_a_clear_error() -> None:
    with pytest.raises(VaeganError, match="even"):
        VAE(ModelConfig(image_size=27, channels=1))


def test_reparameterisation_uses_mean_and_std() -> None:
    mean, logvar = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2.0]])
    post = DiagonalGaussian(mean, logvar)
    g = torch.Generator().manual_seed(3)
    eps = torch.randn(1, 2, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(post.sample(g), mean + torch.exp(logvar / 2) * eps)
    z = torch.stack([post.sample() for _ in range(4000)])
    assert torch.allclose(z.mean(0), mean, atol=0.15)
    assert torch.allclose(z.std(0), torch.exp(logvar / 2), atol=0.15)


def test_ae_posterior_is_deterministic_with_zero_kl() -> None:
    model = VAE(ModelConfig(kind="ae", image_size=16, channels=1, latent_dim=3, base_channels=4))
    post = model.encode(torch.rand(2, 1, 16, 16))
    assert torch.equal(post.sample(), post.mode())
    assert post.kl().tolist() == [0.0, 0.0]
