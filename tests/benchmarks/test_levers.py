"""The lever ablation's ranked rows: a GAN's samples kept by how real its own D rates them."""

from __future__ import annotations

import pytest
import torch
from levers import most_real


def test_the_discriminator_ranking_keeps_the_images_it_rates_most_real_best_first() -> None:
    """A D that rates brightness keeps the brightest; a projected D (a logit per position) by their mean."""
    images = torch.rand(100, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    brightness = images.mean((1, 2, 3))
    kept = most_real(images, lambda x: x.mean((1, 2, 3)), 30)
    assert torch.equal(kept.mean((1, 2, 3)), brightness.sort(descending=True).values[:30])
    assert torch.equal(most_real(images, lambda x: x.flatten(1), 30), kept)
    with pytest.raises(ValueError, match="cannot keep 101 of 100"):
        most_real(images, lambda x: x.mean((1, 2, 3)), 101)
