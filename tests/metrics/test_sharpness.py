"""The sharpness score: about 1 for real emoji against real emoji, well under 1 once they are blurred."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vaegan.data import to_float, to_uint8
from vaegan.metrics.sharpness import laplacian_variance, sharpness_ratio


def blurred(images: torch.Tensor, passes: int) -> torch.Tensor:
    """uint8 images through `passes` 3x3 box blurs, as a VAE's smooth decoder draws them."""
    x = images.float()
    for _ in range(passes):
        x = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return x.round().to(torch.uint8)


def test_real_emoji_against_real_emoji_score_about_one(emoji: torch.Tensor) -> None:
    assert 0.9 < sharpness_ratio(emoji[1::2], emoji[::2]) < 1.1


def test_blur_lowers_the_score_step_by_step(emoji: torch.Tensor) -> None:
    scores = [sharpness_ratio(blurred(emoji[:500], k), emoji[:500]) for k in (0, 1, 2)]
    assert scores[0] == pytest.approx(1.0)
    assert scores[0] > 2 * scores[1] > 0 and scores[1] > scores[2]


def test_a_flat_image_has_no_detail_and_the_value_range_does_not_change_the_score(emoji: torch.Tensor) -> None:
    flat = torch.full((2, 3, 16, 16), 128, dtype=torch.uint8)
    assert laplacian_variance(flat, (0.0, 255.0)).tolist() == [0.0, 0.0]
    fake, real = blurred(emoji[:200], 1), emoji[200:400]
    on_unit = sharpness_ratio(to_float(fake, (-1.0, 1.0)), to_float(real, (-1.0, 1.0)), value_range=(-1.0, 1.0))
    assert on_unit == pytest.approx(sharpness_ratio(fake, real), rel=1e-4)
    assert to_uint8(to_float(fake, (-1.0, 1.0)), (-1.0, 1.0)).equal(fake)
