"""Mode coverage: synthetic histograms, then real Fashion-MNIST with classes removed."""

from __future__ import annotations

import pytest
import torch

from vaegan.data import DataSplits
from vaegan.metrics.coverage import mode_coverage
from vaegan.metrics.features import FeatureNet
from vaegan.metrics.quality import class_predictions


def test_identical_histograms_cover_everything_with_zero_kl() -> None:
    classes = torch.arange(10).repeat(50)
    m = mode_coverage(classes, classes, 10)
    assert m["classes_covered"] == 10 and m["class_coverage"] == 1.0
    assert m["class_kl"] == pytest.approx(0.0, abs=0.01)  # only the half-count smoothing


def test_a_collapsed_generator_covers_one_class_with_large_kl() -> None:
    real = torch.arange(10).repeat(50)
    m = mode_coverage(torch.full((500,), 3), real, 10)
    assert m["classes_covered"] == 1
    assert m["class_kl"] > 2.0  # log(10) = 2.3 for a point mass against a uniform


def test_under_produced_class_below_a_quarter_of_its_rate_is_not_covered() -> None:
    real = torch.arange(2).repeat(500)  # 50 / 50
    fake = torch.cat([torch.zeros(900, dtype=torch.long), torch.ones(100, dtype=torch.long)])  # 10% = 0.2x
    assert mode_coverage(fake, real, 2)["classes_covered"] == 1


def test_removing_distinctive_classes_is_seen_by_the_classifier(fmnist: DataSplits, feature_net: FeatureNet) -> None:
    """Trousers, bags, sandals, sneakers and boots: classes a small classifier rarely confuses. (Shirts are
    mistaken for T-shirts, pullovers and coats often enough that removing those leaves 'shirt' covered:
    the count has a floor set by the classifier's confusions, which the module doc's threshold absorbs.)"""
    test = fmnist.test
    assert test.labels is not None
    reference = class_predictions(feature_net, test.images[:2000])
    images, labels = test.images[2000:], test.labels[2000:]
    results = []
    for removed in ((), (1, 8), (1, 8, 5, 7, 9)):
        keep = ~torch.isin(labels, torch.tensor(removed, dtype=torch.long))
        results.append(mode_coverage(class_predictions(feature_net, images[keep][:2000]), reference, 10))
    assert [r["classes_covered"] for r in results] == [10, 8, 5]
    assert results[0]["class_kl"] < 0.05 < results[1]["class_kl"] < results[2]["class_kl"]
