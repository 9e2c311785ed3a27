"""MS-SSIM: its closed forms, its ordering of degradations on real Fashion-MNIST, and its gradient."""

from __future__ import annotations

import pytest
import torch

from vaegan.data import DataSplits, to_float
from vaegan.metrics.ssim import FLOOR, SCALE_WEIGHTS, gaussian_window, ms_ssim, scales_for


def test_identical_images_score_one() -> None:
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(ms_ssim(x, x, 2.0), torch.ones(3))


def test_two_flat_images_score_their_luminance_term_alone() -> None:
    """Flat images have no variance, so every contrast-structure term is C2 / C2 = 1 and MS-SSIM is the
    luminance term (2ab + C1) / (a^2 + b^2 + C1) to the coarsest scale's renormalised exponent."""
    a, b, c1 = 0.5, 0.4, (0.01 * 2.0) ** 2
    exponent = SCALE_WEIGHTS[1] / sum(SCALE_WEIGHTS[:2])  # 28 px: two scales
    expected = ((2 * a * b + c1) / (a * a + b * b + c1)) ** exponent
    x, y = torch.full((1, 1, 28, 28), a), torch.full((1, 1, 28, 28), b)
    assert ms_ssim(x, y, 2.0).item() == pytest.approx(expected, rel=1e-5)
    # Opposite signs make the luminance term negative, which has no fractional power: it stops at the floor.
    assert ms_ssim(x, -y, 2.0).item() == pytest.approx(FLOOR**exponent, rel=1e-4)


def test_scales_keep_the_window_inside_the_image() -> None:
    assert [scales_for(s) for s in (16, 28, 32, 64, 128, 256)] == [1, 2, 2, 3, 4, 5]
    assert gaussian_window(torch.device("cpu")).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11 pixels"):
        ms_ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), 2.0)


def test_real_images_rank_mild_below_strong_degradations(fmnist: DataSplits) -> None:
    """On real clothes: more noise, lower MS-SSIM; another garment lower still than a mildly noisy copy."""
    x = to_float(fmnist.test.images[:32], (-1.0, 1.0))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    mild, strong = ms_ssim(x + 0.05 * noise, x, 2.0), ms_ssim(x + 0.3 * noise, x, 2.0)
    other = ms_ssim(x.roll(1, dims=0), x, 2.0)
    assert bool((mild > strong).all()) and bool((mild > other).all())
    assert float(mild.mean()) > 0.9 and float(other.mean()) < 0.7


def test_gradient_is_finite_and_raises_similarity() -> None:
    """A few gradient steps on MS-SSIM move a noisy copy towards the image, under bf16 autocast too."""
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    guess = (target + 0.5 * torch.randn_like(target)).requires_grad_(True)
    start = ms_ssim(guess, target, 2.0).detach()
    for _ in range(20):
        with torch.autocast("cpu", torch.bfloat16):
            loss = (1 - ms_ssim(guess, target, 2.0)).sum()
        (grad,) = torch.autograd.grad(loss, guess)
        assert torch.isfinite(grad).all()
        with torch.no_grad():
            guess -= 5.0 * grad
    assert bool((ms_ssim(guess, target, 2.0) > start + 0.05).all())
