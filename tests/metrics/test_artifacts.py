import pytest
import torch

from vaegan.errors import VaeganError
from vaegan.metrics.artifacts import artifact_score, nyquist_share


def smooth(n: int = 4, size: int = 32) -> torch.Tensor:
    """Soft blobs: Gaussian bumps at random places, nearly no energy at the 2-pixel period."""
    g = torch.Generator().manual_seed(0)
    rows = torch.arange(size).float().view(1, size, 1)
    centres = torch.rand(n, 2, generator=g) * size
    bumps = torch.exp(
        -((rows - centres[:, 0].view(n, 1, 1)) ** 2 + (rows.transpose(1, 2) - centres[:, 1].view(n, 1, 1)) ** 2) / 40
    )
    return (bumps.unsqueeze(1).expand(n, 3, size, size) * 255).round().to(torch.uint8)


def test_a_smooth_image_against_itself_scores_one() -> None:
    images = smooth()
    assert artifact_score(images, images) == pytest.approx(1.0)
    assert nyquist_share(images) < 0.01


def test_a_checkerboard_on_smooth_images_scores_high() -> None:
    images = smooth()
    size = images.shape[-1]
    board = ((torch.arange(size).view(-1, 1) + torch.arange(size)) % 2).float() * 40  # dot grid, period 2
    checkered = (images.float() * 0.8 + board).clamp(0, 255).to(torch.uint8)
    assert artifact_score(checkered, images) > 20
    stripes = (images.float() * 0.8 + (torch.arange(size) % 2).float() * 40).to(torch.uint8)  # column period 2
    assert artifact_score(stripes, images) > 20


def test_the_score_ignores_brightness_and_scale() -> None:
    images = smooth().float()
    assert nyquist_share(images) == pytest.approx(nyquist_share(images * 0.5 + 30))


def test_odd_sizes_are_an_error() -> None:
    with pytest.raises(VaeganError, match="even"):
        nyquist_share(torch.zeros(1, 1, 7, 8))
