"""Sample quality in a feature space: FID, KID, precision/recall, density/coverage.

All take features (N, F) of real and generated images from one embedding (features.py or inception.py):
- FID (Heusel et al. 2017, arXiv:1706.08500): Frechet distance between Gaussians fitted to the two sets.
  The matrix square root is taken by symmetric eigen-decomposition in float64:
  tr sqrt(S1 S2) = sum sqrt(eig(sqrt(S1) S2 sqrt(S1))), whose argument is symmetric PSD, so eigh is
  stable where a general sqrtm can return complex noise. torchmetrics' FrechetInceptionDistance accepts a
  custom feature module, but would re-extract features per metric; here one pass feeds all six numbers.
- KID (Binkowski et al. 2018, arXiv:1801.01401): unbiased MMD^2 with the cubic kernel
  (x.y / F + 1)^3, averaged over random subsets; unbiased, so it can dip just below 0 for equal sets.
- precision / recall (Kynkaanniemi et al. 2019, arXiv:1904.06991): the share of fakes inside the real
  manifold (union of k-NN balls around real features), and of reals inside the fake manifold; k = 3.
- density / coverage (Naeem et al. 2020, arXiv:2002.09797): density counts how many real k-NN balls
  hold each fake (about 1 when the distributions match; robust to real outliers); coverage is the share
  of real balls holding at least one fake; k = 5.
Small sets adapt rather than fail: a k-NN metric uses k = n - 1 when a side has n <= k images (each
image's k-th *other* neighbour must exist), and FID needs two images per side for a covariance
(`small_sample_note` says what changed, for one warning line). A generated set is judged against the
`reference`: real training images scored like a sample set at the same count. FID is biased upwards at
small counts, so a set scoring below that reference is indistinguishable from real images by this
measure, not better than them (`versus_reference`).
Generated images are quantised to 8 bits like the real ones before features are taken, so FID does not
reward or punish the sub-bin detail real images cannot have. `quality_metrics` adds two pixel-space
scores, fake over real: the checkerboard one of artifacts.py (about 1 without a dot grid) and the holes,
specks and blocks one of defects.py (about 1 without them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from vaegan.data import to_uint8
from vaegan.errors import VaeganError
from vaegan.metrics.copies import CopyCheck
from vaegan.metrics.features import FeatureNet
from vaegan.progress import progress_bar


class Embedding(Protocol):
    """A feature net (features.py) or the FID Inception (inception.py)."""

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    def eval(self) -> object: ...


def fid(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Frechet distance between N(mu_r, S_r) and N(mu_f, S_f) fitted to (N, F) feature sets."""
    real, fake = real.double(), fake.double()
    mu_r, mu_f = real.mean(0), fake.mean(0)
    s_r, s_f = torch.cov(real.T), torch.cov(fake.T)
    vals, vecs = torch.linalg.eigh(s_r)
    sqrt_r = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
    middle = sqrt_r @ s_f @ sqrt_r
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu_r - mu_f).pow(2).sum() + s_r.trace() + s_f.trace() - 2 * trace_sqrt)


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> float:
    """Mean over random subsets of the unbiased MMD^2 with the cubic polynomial kernel."""
    real, fake = real.double(), fake.double()
    m = min(subset_size, len(real), len(fake))
    g = torch.Generator().manual_seed(seed)
    dim = real.shape[1]
    total = 0.0
    for _ in range(subsets):
        x = real[torch.randperm(len(real), generator=g)[:m]]
        y = fake[torch.randperm(len(fake), generator=g)[:m]]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off = m * (m - 1)
        total += float(
            (kxx.sum() - kxx.diagonal().sum()) / off + (kyy.sum() - kyy.diagonal().sum()) / off - 2 * kxy.mean()
        )
    return total / subsets


MIN_IMAGES = 2  # per side: FID's covariance, and a k-NN metric's one other neighbour, need two images
PR_K, DC_K = 3, 5  # neighbours of precision/recall and of density/coverage, as their papers use


def usable_k(k: int, *sets: torch.Tensor) -> int:
    """k, or one less than the smallest set's size when that is smaller: each row's k-th other row must exist."""
    return min(k, *(len(s) - 1 for s in sets))


def small_sample_note(n: int) -> str | None:
    """One line saying how the metrics adapt to n images per side, or None when they need not."""
    if n < MIN_IMAGES:
        return f"FID & co. need at least {MIN_IMAGES} images per side, and there are {n}: they are skipped"
    if n > DC_K:
        return None
    k = n - 1
    changed = [f"precision/recall k = {k} instead of {PR_K}"] if k < PR_K else []  # from 4 images up: unchanged
    changed.append(f"density/coverage k = {k} instead of {DC_K}")
    return (
        f"only {n} images per side for FID & co., so the k-NN metrics use fewer neighbours: {' and '.join(changed)} "
        "(each image's k-th nearest other image must exist)"
    )


def reference_pick(n_train: int, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of n training images (all when fewer), seeded: the real side of the real-vs-real reference."""
    return torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))[:n]


def versus_reference(value: float, reference: float | None, n: int) -> str:
    """'' for an FID above the real-vs-real `reference` measured at the same count n, else a note that the
    measure cannot separate the samples from real images (a lower FID there is noise, not a win)."""
    if reference is None or value > reference:
        return ""
    return f"at or below real vs real ({reference:.3g}): at {n} images FID cannot tell these samples from real ones"


def knn_radii(x: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row: (N,)."""
    d = torch.cdist(x, x)
    return d.kthvalue(k + 1, dim=1).values  # +1: the row itself is its nearest neighbour at 0


def inside_counts(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor) -> torch.Tensor:
    """(P, C) bool: point p lies in the ball of centre c. Chunked so 10k x 10k stays small."""
    rows = [torch.cdist(points[i : i + 1024], centres) <= radii for i in range(0, len(points), 1024)]
    return torch.cat(rows)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = PR_K) -> tuple[float, float]:
    real, fake = real.float(), fake.float()
    k = usable_k(k, real, fake)
    precision = inside_counts(fake, real, knn_radii(real, k)).any(1).float().mean()
    recall = inside_counts(real, fake, knn_radii(fake, k)).any(1).float().mean()
    return float(precision), float(recall)


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = DC_K) -> tuple[float, float]:
    real, fake = real.float(), fake.float()
    k = usable_k(k, real)
    inside = inside_counts(fake, real, knn_radii(real, k))  # (N_fake, N_real)
    density = inside.sum() / (k * len(fake))
    coverage = inside.any(0).float().mean()
    return float(density), float(coverage)


def compare_features(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    """All six numbers (FID, KID, precision, recall, density, coverage) between two (N, F) feature sets;
    the k-NN ones with fewer neighbours on small sets (small_sample_note)."""
    if min(len(real), len(fake)) < MIN_IMAGES:
        raise VaeganError(f"FID & co. need at least {MIN_IMAGES} images per side, got {len(real)} and {len(fake)}")
    precision, recall = precision_recall(real, fake)
    density, coverage = density_coverage(real, fake)
    return {
        "fid": fid(real, fake),
        "kid": kid(real, fake),
        "precision": precision,
        "recall": recall,
        "density": density,
        "coverage": coverage,
    }


@torch.no_grad()
def embed(net: Embedding, images01: torch.Tensor, batch_size: int = 500, desc: str = "features") -> torch.Tensor:
    """Features of float images in [0, 1], (N, C, H, W) -> (N, F), via `net.features`.

    A bar named `desc` shows on a terminal when it takes more than a moment (vaegan.progress).
    """
    net.eval()
    parts = []
    with progress_bar(len(images01), desc, unit="img") as bar:
        for start in range(0, len(images01), batch_size):
            parts.append(net.features(images01[start : start + batch_size]).float())
            bar.update(len(parts[-1]))
    return torch.cat(parts)


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 255.0


@torch.no_grad()
def sample_images(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latent_dim: int,
    n: int,
    value_range: tuple[float, float],
    generator: torch.Generator | None = None,
    batch_size: int = 500,
) -> torch.Tensor:
    """n images decoded from z ~ N(0, I), quantised to uint8 (n, C, H, W)."""
    out = []
    for start in range(0, n, batch_size):
        z = torch.randn(min(batch_size, n - start), latent_dim, generator=generator)
        out.append(to_uint8(decode(z).float().cpu(), value_range))
    return torch.cat(out)


def quality_metrics(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latent_dim: int,
    real_images: torch.Tensor,
    value_range: tuple[float, float],
    feature_net: FeatureNet,
    n: int = 2000,
    generator: torch.Generator | None = None,
    *,
    real_features: torch.Tensor | None = None,
    copies: CopyCheck | None = None,
) -> dict[str, float]:
    """FID, KID, precision, recall, density, coverage, the artifact, defect and sharpness scores of `decode(z)`,
    z ~ N(0, I), against uint8 real images.

    `real_images` (N, C, H, W) uint8; the first n are used. Pass `real_features` (from `embed`) to skip
    re-embedding them at every call in a training loop. A classifier feature net adds mode coverage
    (coverage.py), a `copies` check the copy rate (copies.py). `decode` runs on CPU tensors; wrap it to move z
    to another device.
    """
    from vaegan.metrics.artifacts import artifact_score
    from vaegan.metrics.coverage import mode_coverage
    from vaegan.metrics.defects import defect_score
    from vaegan.metrics.sharpness import sharpness_ratio

    fake_u8 = sample_images(decode, latent_dim, n, value_range, generator)
    fake = embed(feature_net, uint8_to_unit(fake_u8))
    real = real_features if real_features is not None else embed(feature_net, uint8_to_unit(real_images[:n]))
    metrics = compare_features(real, fake)
    if copies is not None:
        metrics["copy_rate"] = copies.rate(fake)
    metrics["artifact"] = artifact_score(fake_u8, real_images[:n])
    metrics["defect"] = defect_score(fake_u8, real_images[:n])
    metrics["sharpness"] = sharpness_ratio(fake_u8, real_images[:n])
    if feature_net.kind == "classifier":
        # The reference histogram is the classifier's own view of real images, so its errors cancel.
        reference = class_predictions(feature_net, real_images[:n])
        metrics.update(mode_coverage(class_predictions(feature_net, fake_u8), reference, feature_net.outputs))
    return metrics


@torch.no_grad()
def class_predictions(net: FeatureNet, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """argmax class of each uint8 image under a classifier feature net: (N,) int64."""
    return torch.cat(
        [net(uint8_to_unit(images[i : i + batch_size])).argmax(1) for i in range(0, len(images), batch_size)]
    )
