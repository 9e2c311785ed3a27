"""Validation on real held-out Fashion-MNIST: each metric must get monotonically worse as images degrade.

Real = test images 0..1999; the "generated" set is test images 2000..3999, degraded. With no
degradation the two are samples of one distribution, so FID and KID sit at their finite-sample floor.
FID, KID and coverage must be strictly monotone everywhere, recall under blur and noise.
Fidelity measures are not, by design: a slight blur pulls images towards the dense middle of the real
manifold, so precision and density can *rise* a little before they fall (density above 1 means exactly
that), and k-NN recall is known to be generous when the fake manifold has outliers whose balls reach
into missing classes (Naeem et al. 2020, arXiv:2002.09797, sec. 3), which is why coverage exists.
Those get "worse at the end, never better by more than TOLERANCE" instead.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vaegan.data import DataSplits
from vaegan.metrics.features import FeatureNet
from vaegan.metrics.quality import compare_features, embed, uint8_to_unit

N = 2000
TOLERANCE = 0.04  # finite-sample noise of a share over 2000 images, plus the effects above


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of uint8 images, separable, reflect-padded; sigma 0 returns them unchanged."""
    if sigma == 0:
        return images
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = images.float()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))
    return x.round().clamp(0, 255).to(torch.uint8)


def noise(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """Additive Gaussian noise with `std` on the [0, 1] scale, re-quantised to uint8."""
    g = torch.Generator().manual_seed(seed)
    x = images.float() + 255.0 * std * torch.randn(images.shape, generator=g)
    return x.round().clamp(0, 255).to(torch.uint8)


def keep_classes(data_images: torch.Tensor, labels: torch.Tensor, n_keep: int, n: int) -> torch.Tensor:
    """n images drawn (with replacement, seeded) only from classes 0..n_keep-1."""
    pool = torch.nonzero(labels < n_keep).squeeze(1)
    pick = pool[torch.randint(0, len(pool), (n,), generator=torch.Generator().manual_seed(0))]
    return data_images[pick]


@pytest.fixture(scope="module")
def real(fmnist: DataSplits, feature_net: FeatureNet) -> torch.Tensor:
    return embed(feature_net, uint8_to_unit(fmnist.test.images[:N]))


def scores(feature_net: FeatureNet, real: torch.Tensor, fakes: list[torch.Tensor]) -> list[dict[str, float]]:
    return [compare_features(real, embed(feature_net, uint8_to_unit(f))) for f in fakes]


def strictly(values: list[float], increasing: bool) -> bool:
    pairs = list(zip(values, values[1:], strict=False))
    return all(b > a for a, b in pairs) if increasing else all(b < a for a, b in pairs)


def roughly(values: list[float], increasing: bool) -> bool:
    """Never moves the wrong way by more than TOLERANCE, and ends clearly on the right side of the start."""
    sign = 1.0 if increasing else -1.0
    steps_ok = all(sign * (b - a) > -TOLERANCE for a, b in zip(values, values[1:], strict=False))
    return steps_ok and sign * (values[-1] - values[0]) > TOLERANCE


def test_feature_classifier_learned_fashion_mnist(feature_net: FeatureNet) -> None:
    assert feature_net.accuracy is not None and feature_net.accuracy > 0.7


def test_blur_makes_every_metric_worse(fmnist: DataSplits, feature_net: FeatureNet, real: torch.Tensor) -> None:
    held_out = fmnist.test.images[N : 2 * N]
    sigmas = [0.0, 0.6, 1.0, 1.6]
    s = scores(feature_net, real, [blur(held_out, sigma) for sigma in sigmas])
    print("blur", sigmas, [round(r["fid"], 3) for r in s], [round(r["kid"], 4) for r in s])
    assert strictly([r["fid"] for r in s], increasing=True)
    assert strictly([r["kid"] for r in s], increasing=True)
    assert strictly([r["recall"] for r in s], increasing=False)
    assert strictly([r["coverage"] for r in s], increasing=False)
    assert roughly([r["precision"] for r in s], increasing=False)
    assert roughly([r["density"] for r in s], increasing=False)


def test_noise_makes_every_metric_worse(fmnist: DataSplits, feature_net: FeatureNet, real: torch.Tensor) -> None:
    held_out = fmnist.test.images[N : 2 * N]
    stds = [0.0, 0.05, 0.1, 0.2]
    s = scores(feature_net, real, [noise(held_out, std) for std in stds])
    print("noise", stds, [round(r["fid"], 3) for r in s], [round(r["kid"], 4) for r in s])
    assert strictly([r["fid"] for r in s], increasing=True)
    assert strictly([r["kid"] for r in s], increasing=True)
    for name in ("precision", "recall", "density", "coverage"):
        assert strictly([r[name] for r in s], increasing=False), name


def test_removing_classes_lowers_recall_and_coverage(
    fmnist: DataSplits, feature_net: FeatureNet, real: torch.Tensor
) -> None:
    test = fmnist.test
    assert test.labels is not None
    images, labels = test.images[N:], test.labels[N:]
    kept = [10, 7, 4, 2]
    s = scores(feature_net, real, [keep_classes(images, labels, k, N) for k in kept])
    print("classes", kept, [round(r["fid"], 3) for r in s], [round(r["recall"], 3) for r in s])
    assert strictly([r["fid"] for r in s], increasing=True)
    assert strictly([r["kid"] for r in s], increasing=True)
    assert strictly([r["coverage"] for r in s], increasing=False)
    assert roughly([r["recall"] for r in s], increasing=False)
    assert min(r["precision"] for r in s) > 0.8  # what is left is still realistic


def test_two_halves_of_the_real_test_set_sit_at_the_floor(
    fmnist: DataSplits, feature_net: FeatureNet, real: torch.Tensor
) -> None:
    held_out = fmnist.test.images[N : 2 * N]
    same, slightly_off = scores(feature_net, real, [held_out, blur(held_out, 0.6)])
    train = scores(feature_net, real, [fmnist.train.images[:N]])[0]
    print("floor", same["fid"], "train vs test", train["fid"], "blur 0.6", slightly_off["fid"])
    assert same["fid"] < 0.25 * slightly_off["fid"]
    assert abs(same["kid"]) < 0.1 * slightly_off["kid"]
    assert train["fid"] < 0.5 * slightly_off["fid"]  # train and test are one distribution too
    assert 0.9 < same["recall"] and 0.9 < same["precision"]
    assert 0.8 < same["density"] < 1.2 and 0.9 < same["coverage"]
