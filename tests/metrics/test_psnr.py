import math

import pytest
import torch

from vaegan.metrics.psnr import posterior_psnr, psnr


def test_psnr_of_a_known_error_on_both_value_ranges() -> None:
    x = torch.zeros(2, 1, 4, 4)
    assert psnr(x + 0.1, x, (0.0, 1.0)) == pytest.approx(torch.full((2,), 20.0))
    assert psnr(x + 0.2, x, (-1.0, 1.0)) == pytest.approx(torch.full((2,), 20.0))  # 0.2 of a range of 2


def test_posterior_psnr_is_the_mean_over_images_through_encode_and_decode() -> None:
    images = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)
    flat = lambda x: x.flatten(1)  # noqa: E731  (an identity "VAE": z is the image)
    unflat = lambda z: z.view(-1, 3, 8, 8)  # noqa: E731
    assert posterior_psnr(flat, unflat, images, (0.0, 1.0), batch_size=2) == pytest.approx(100.0)  # MSE floor
    shifted = posterior_psnr(flat, lambda z: unflat(z) * 0 + 0.5, images, (0.0, 1.0), batch_size=2)
    x = images.float() / 255
    expected = (10 * torch.log10(1 / (x - 0.5).pow(2).flatten(1).mean(1))).mean()
    assert shifted == pytest.approx(float(expected), rel=1e-5) and not math.isnan(shifted)
