"""The look-alike check: does a generator copy its training images?

A generated image counts as a near copy when its nearest training image (in a feature space: vaegan's own or
Inception's) is nearer than a held-out image's nearest training image typically is: the median of those
distances over one half of the held-out images. The other half scores the floor, what a generator that
copies nothing scores (about 0.5 by construction). A lower FID bought with a copy rate far above the floor
is memorisation, not a better generator (lightweight-gan #28; FastGAN ships a nearest-neighbour script).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CHUNK = 1024  # query rows per distance block: 1024 x 5000 floats at a time
MAX_TRAIN = 10_000  # training images a check compares against: all of emoji's, a sixth of MNIST's


def nearest_distances(queries: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """(N,) Euclidean distance from each query feature (N, F) to its nearest training feature (M, F)."""
    parts = [torch.cdist(part.double(), train.double()).min(dim=1).values for part in queries.split(CHUNK)]
    return torch.cat(parts).float() if parts else torch.zeros(0)


@dataclass(frozen=True)
class CopyCheck:
    train: torch.Tensor  # (M, F) training features
    threshold: float  # the median nearest-training distance of half the held-out images
    floor: float  # the share of the other half nearer than that

    @classmethod
    def fit(cls, train: torch.Tensor, held_out: torch.Tensor) -> CopyCheck:
        """From training and held-out features; held-out images alternate between the two halves."""
        if len(held_out) < 2 or len(train) < 1:
            raise ValueError("the copy check needs a training image and two held-out ones")
        distances = nearest_distances(held_out, train)
        threshold = float(distances[0::2].median())
        return cls(train, threshold, float((distances[1::2] < threshold).float().mean()))

    def rate(self, features: torch.Tensor) -> float:
        """The share of generated features nearer to a training image than the threshold."""
        return float((nearest_distances(features, self.train) < self.threshold).float().mean())
