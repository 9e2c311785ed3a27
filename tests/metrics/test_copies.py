"""The copy check tells a generator that returns its training images from one that draws new ones."""

from __future__ import annotations

import torch

from vaegan.metrics.copies import CopyCheck, nearest_distances


def gaussian(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 16, generator=torch.Generator().manual_seed(seed))


def test_nearest_distances_find_the_nearest_training_point() -> None:
    train = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    assert nearest_distances(torch.tensor([[1.0, 0.0], [9.0, 0.0], [5.0, 0.0]]), train).tolist() == [1.0, 1.0, 5.0]


def test_copies_score_near_one_and_new_draws_near_the_floor() -> None:
    train, held_out = gaussian(500, 0), gaussian(200, 1)
    check = CopyCheck.fit(train, held_out)
    assert 0.35 < check.floor < 0.65  # the other half of the held-out images, by construction about a half
    copies = train[:300] + 0.01 * gaussian(300, 2)  # training images, barely moved
    assert check.rate(copies) > 0.95
    assert abs(check.rate(gaussian(300, 3)) - check.floor) < 0.15  # new draws from the same distribution
