"""quality_metrics, the call the training loops make: a perfect generator vs a collapsed one."""

from __future__ import annotations

import torch

from vaegan.data import DataSplits, to_float
from vaegan.metrics.features import FeatureNet
from vaegan.metrics.quality import embed, fid, kid, quality_metrics, uint8_to_unit


def test_a_generator_that_returns_real_images_beats_a_collapsed_one(
    fmnist: DataSplits, feature_net: FeatureNet
) -> None:
    value_range = (-1.0, 1.0)
    pool = to_float(fmnist.train.images[:4000], value_range)
    real = fmnist.test.images[:1000]

    def perfect(z: torch.Tensor) -> torch.Tensor:  # a fresh real image per z: a perfect sampler
        return pool[torch.randint(0, len(pool), (len(z),))]

    def collapsed(z: torch.Tensor) -> torch.Tensor:  # one sneaker for every z
        return pool[7].expand(len(z), -1, -1, -1)

    real_features = embed(feature_net, uint8_to_unit(real))
    good = quality_metrics(perfect, 8, real, value_range, feature_net, n=1000, real_features=real_features)
    bad = quality_metrics(collapsed, 8, real, value_range, feature_net, n=1000, generator=torch.Generator())
    assert set(good) == {
        "fid",
        "kid",
        "precision",
        "recall",
        "density",
        "coverage",
        "classes_covered",
        "class_coverage",
        "class_kl",
        "artifact",
        "defect",
    }
    assert good["fid"] < 0.05 * bad["fid"] and good["kid"] < 0.05 * bad["kid"]
    assert good["recall"] > 0.8 > 0.1 > bad["recall"]
    assert good["classes_covered"] == 10 and bad["classes_covered"] == 1
    assert good["class_kl"] < 0.05 < 1.0 < bad["class_kl"]
    assert 0.8 < good["artifact"] < 1.25  # real images against real images: no checkerboard
    assert 0.8 < good["defect"] < 1.25  # nor holes, specks or blocks


def test_fid_and_kid_of_known_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 4, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 4, generator=g, dtype=torch.float64) * 2 + 1
    # FID(N(0, I), N(1, 4I)) in 4-d = 4 * 1^2 + 4 * (1 + 4 - 2 * 2) = 8
    assert abs(fid(a, b) - 8.0) < 0.5
    assert abs(fid(a, a)) < 1e-6
    assert abs(kid(a, a[torch.randperm(4000, generator=g)], subsets=5)) < 0.02 < kid(a, b, subsets=5)
