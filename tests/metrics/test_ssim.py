"""MS-SSIM: its closed forms, its ordering of degradations on real Fashion-MNIST, and its gradient."""

from __future__ import annotations

import pytest
import torch

from vaegan.data import DataSplits, to_float
from vaegan.ssim import SCALE_WEIGHTS, gaussian_window, ms_ssim, scales_for

PM1 = (-1.0, 1.0)  # the value range of tanh data


def test_identical_images_score_one() -> None:
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    torch.testing.assert_close(ms_ssim(x, x, PM1), torch.ones(3))


def test_two_flat_images_score_their_luminance_term_alone() -> None:
    """Flat images have no variance, so every contrast-structure term is C2 / C2 = 1 and MS-SSIM is the
    luminance term (2ab + C1) / (a^2 + b^2 + C1) of the intensities shifted to start at 0, to the coarsest
    scale's renormalised exponent."""
    c1 = (0.01 * 2.0) ** 2
    exponent = SCALE_WEIGHTS[1] / sum(SCALE_WEIGHTS[:2])  # 28 px: two scales

    def flat(a: float, b: float) -> float:
        return ms_ssim(torch.full((1, 1, 28, 28), a), torch.full((1, 1, 28, 28), b), PM1).item()

    a, b = 0.5 + 1, 0.4 + 1  # on [-1, 1], shifted to [0, 2]
    assert flat(0.5, 0.4) == pytest.approx(((2 * a * b + c1) / (a * a + b * b + c1)) ** exponent, rel=1e-5)
    # The same step of 0.1 costs more in the dark than in the light, as for images stored from 0 up, and
    # a mid-grey step scores as it would on [0, 1] data (no sign change at 0).
    assert flat(-0.9, -0.8) < flat(0.0, 0.1) < flat(0.8, 0.9)
    grey = ms_ssim(torch.full((1, 1, 28, 28), 0.5), torch.full((1, 1, 28, 28), 0.55), (0.0, 1.0)).item()
    assert flat(0.0, 0.1) == pytest.approx(grey, rel=1e-5)


def test_scales_keep_the_window_inside_the_image() -> None:
    assert [scales_for(s) for s in (16, 28, 32, 64, 128, 256)] == [1, 2, 2, 3, 4, 5]
    assert gaussian_window(torch.device("cpu")).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 11 pixels"):
        ms_ssim(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 8, 8), PM1)


def test_real_images_rank_mild_below_strong_degradations(fmnist: DataSplits) -> None:
    """On real clothes: more noise, lower MS-SSIM; another garment lower still than a mildly noisy copy."""
    x = to_float(fmnist.test.images[:32], (-1.0, 1.0))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    mild, strong = ms_ssim(x + 0.05 * noise, x, PM1), ms_ssim(x + 0.3 * noise, x, PM1)
    other = ms_ssim(x.roll(1, dims=0), x, PM1)
    assert bool((mild > strong).all()) and bool((mild > other).all())
    assert float(mild.mean()) > 0.9 and float(other.mean()) < 0.7


def test_gradient_is_finite_and_raises_similarity() -> None:
    """A few gradient steps on MS-SSIM move a noisy copy towards the image, under bf16 autocast too."""
    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32) * 2 - 1
    guess = (target + 0.5 * torch.randn_like(target)).requires_grad_(True)
    start = ms_ssim(guess, target, PM1).detach()
    for _ in range(20):
        with torch.autocast("cpu", torch.bfloat16):
            loss = (1 - ms_ssim(guess, target, PM1)).sum()
        (grad,) = torch.autograd.grad(loss, guess)
        assert torch.isfinite(grad).all()
        with torch.no_grad():
            guess -= 5.0 * grad
    assert bool((ms_ssim(guess, target, PM1) > start + 0.05).all())
