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
        "sharpness",
    }
    assert good["fid"] < 0.05 * bad["fid"] and good["kid"] < 0.05 * bad["kid"]
    assert good["recall"] > 0.8 > 0.1 > bad["recall"]
    assert good["classes_covered"] == 10 and bad["classes_covered"] == 1
    assert good["class_kl"] < 0.05 < 1.0 < bad["class_kl"]
    assert 0.8 < good["artifact"] < 1.25  # real images against real images: no checkerboard
    assert 0.8 < good["sharpness"] < 1.25  # as sharp as the real images
    assert 0.8 < good["defect"] < 1.25  # nor holes, specks or blocks


def test_fid_and_kid_of_known_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4000, 4, generator=g, dtype=torch.float64)
    b = torch.randn(4000, 4, generator=g, dtype=torch.float64) * 2 + 1
    # FID(N(0, I), N(1, 4I)) in 4-d = 4 * 1^2 + 4 * (1 + 4 - 2 * 2) = 8
    assert abs(fid(a, b) - 8.0) < 0.5
    assert abs(fid(a, a)) < 1e-6
    assert abs(kid(a, a[torch.randperm(4000, generator=g)], subsets=5)) < 0.02 < kid(a, b, subsets=5)


def test_small_sets_get_fewer_neighbours_not_a_crash() -> None:
    """k-NN metrics on n <= k images per side use k = n - 1 (kthvalue raised 'k out of range' before)."""
    from vaegan.metrics.quality import DC_K, compare_features, density_coverage, knn_radii, small_sample_note

    g = torch.Generator().manual_seed(0)
    for n in (2, 3, 4, 5):
        real, fake = torch.randn(n, 8, generator=g), torch.randn(n + 3, 8, generator=g)
        metrics = compare_features(real, fake)
        assert set(metrics) == {"fid", "kid", "precision", "recall", "density", "coverage"}
        assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values()), (n, metrics)
        note = small_sample_note(n)
        assert note is not None and f"k = {n - 1}" in note
    # the reduced k is the largest that exists: each point's (n-1)-th other neighbour, the farthest one
    real = torch.randn(4, 8, generator=g)
    assert torch.equal(knn_radii(real, 3), torch.cdist(real, real).max(1).values)
    density, _ = density_coverage(real, real.clone())  # every ball holds every point: density is n/k = 4/3
    assert abs(density - 4 / 3) < 1e-6
    assert small_sample_note(DC_K + 1) is None


def test_the_small_sample_note_names_only_the_k_that_changed() -> None:
    """At 4 and 5 images precision/recall keep their k = 3; the note said "k = 3 neighbours instead of 3"."""
    from vaegan.metrics.quality import small_sample_note

    assert small_sample_note(4) == (
        "only 4 images per side for FID & co., so the k-NN metrics use fewer neighbours: density/coverage k = 3 "
        "instead of 5 (each image's k-th nearest other image must exist)"
    )
    assert "precision/recall" not in str(small_sample_note(5))
    assert small_sample_note(3) == (
        "only 3 images per side for FID & co., so the k-NN metrics use fewer neighbours: precision/recall k = 2 "
        "instead of 3 and density/coverage k = 2 instead of 5 (each image's k-th nearest other image must exist)"
    )


def test_fewer_than_two_images_per_side_are_refused_by_name() -> None:
    import pytest

    from vaegan.errors import VaeganError
    from vaegan.metrics.quality import compare_features, small_sample_note

    with pytest.raises(VaeganError, match="at least 2 images per side, got 1 and 5"):
        compare_features(torch.randn(1, 8), torch.randn(5, 8))
    assert "skipped" in str(small_sample_note(1))


def test_a_set_at_or_below_the_real_reference_is_called_inseparable_not_better() -> None:
    from vaegan.metrics.quality import versus_reference

    assert versus_reference(2.0, 1.65, 100) == ""
    assert versus_reference(1.0, 1.65, 100).startswith("at or below real vs real (1.65): at 100 images FID cannot")
    assert versus_reference(1.0, None, 100) == ""  # nothing held out: no reference to judge against
