"""Whether a stage learnt nothing, each said in one line with the likely fix (issue 68):

- a VAE whose validation KL per latent dimension is near 0 (posterior collapse: the encoder passes nothing
  on, Bowman et al. 2016, arXiv:1511.06349), or whose samples are nearly one picture (an undertrained decoder);
- a GAN whose samples are nearly one picture: their mean pairwise distance near 0 beside the real images';
- a feature net at chance: a classifier that scores held-out images no better than guessing their commonest
  label, so FID, KID and the rest in its features would be noise: they are withheld, never printed.
A 40-image folder trained 55 of its 300 steps under --max-minutes 2 showed all three and nothing said so: the
summary printed an FID, and `vaegan nearest` called the blank samples copies (copy rate 1.000).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vaegan.data import ImageDataset
from vaegan.metrics.features import FeatureNet

# nats per latent dimension: 64 dimensions then carry 1.3 nats, too few to tell four pictures apart
COLLAPSED_KL = 0.02
# of the real images' mean pairwise distance: the samples are nearly one picture. A 40-icon run that learnt
# nothing in 2 minutes scored VAE 0.11 (z ~ N(0, I)) and GAN 0.26; make run's emoji VAE 0.66. GANConfig's
# collapse_fraction (0.5) is the early warning that a GAN's samples grow alike.
COLLAPSED_DIVERSITY = 0.3
ADVICE = "--anchor decoder, a higher --r1-gamma or a lower --lr-g"  # a GAN's, when its VAE drew well


def pairwise_diversity(images: torch.Tensor) -> float:
    """Mean pairwise L2 distance between images (flattened): near 0 when a generator has collapsed."""
    flat = images.flatten(1).float()
    n = len(flat)
    return float(torch.cdist(flat, flat).sum() / (n * (n - 1)))


def relative_diversity(samples: torch.Tensor, real: torch.Tensor) -> float:
    """pairwise_diversity of `samples` over that of `real` (both uint8, or both in one value range)."""
    return pairwise_diversity(samples) / max(pairwise_diversity(real), 1e-12)


class Diversity:
    """A decoder's pairwise_diversity on fixed z over the real images' (in its value range): near 0 when it
    draws one picture for every z, a GAN's mode collapse or an untrained VAE's decoder alike."""

    def __init__(self, decode: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, real: torch.Tensor) -> None:
        self.decode, self.z, self.real = decode, z, pairwise_diversity(real)

    @torch.no_grad()
    def measure(self) -> float:
        return pairwise_diversity(self.decode(self.z).float()) / self.real


def steps_cut(record: dict[str, Any]) -> str:
    """'; its time limit stopped it after N steps, in epoch E of the A asked' when --max-minutes ended the stage
    whose last record this is, else ''."""
    asked = record.get("epochs_asked")
    if not isinstance(asked, int):
        return ""
    step, epoch = record.get("step"), record.get("epoch")
    return f"; its time limit stopped it after {step} steps, in epoch {epoch} of the {asked} asked"


def vae_collapse(record: dict[str, Any], latent_dim: int) -> str | None:
    """The line for a VAE whose last epoch (`record`) has collapsed or not learnt to draw, else None."""
    kl, diversity = record.get("val/kl"), record.get("diversity")
    if isinstance(kl, int | float) and kl / latent_dim < COLLAPSED_KL:
        what = f"posterior collapse, KL {kl / latent_dim:.4f} nats per latent dimension: the decoder ignores z"
    elif isinstance(diversity, int | float) and diversity < COLLAPSED_DIVERSITY:
        what = f"it has not learnt to draw, sample diversity {diversity:.2f} of the real images' (z ~ N(0, I))"
    else:
        return None
    cut = steps_cut(record)
    fix = "raise --max-minutes" if cut else "train more steps (--min-steps) or with a lower --beta"
    return f"VAE: {what}, about one picture for every z{cut}; likely fix: {fix}"


def gan_collapse(record: dict[str, Any], vae_collapsed: bool) -> str | None:
    """The line for a GAN whose last epoch (`record`) has collapsed, else None."""
    diversity = record.get("diversity")
    if not isinstance(diversity, int | float) or diversity >= COLLAPSED_DIVERSITY:
        return None
    fix = "train the VAE it starts from until it draws" if vae_collapsed else ADVICE
    return (
        f"GAN: collapsed, sample diversity {diversity:.2f} of the real images': it draws about one picture for "
        f"every z{steps_cut(record)}; likely fix: {fix}"
    )


def chance(test: ImageDataset) -> float | None:
    """What guessing the commonest label scores on `test`; None without labels."""
    if test.labels is None or not len(test.labels):
        return None
    return float(torch.bincount(test.labels).max()) / len(test.labels)


def features_at_chance(net: FeatureNet, test: ImageDataset) -> str | None:
    """The line for a feature classifier that scores `test` (its held-out images) no better than chance, whose
    FID & co. are then withheld; None for a net that learnt something, or one that cannot be judged so
    (a SimCLR encoder has no labels to score)."""
    guess = chance(test)
    if net.kind != "classifier" or net.accuracy is None or guess is None or net.accuracy > guess:
        return None
    return (
        f"FID withheld: the feature classifier it is measured in scores {net.accuracy:.3f} on {len(test)} held-out "
        f"images, no better than guessing their commonest label ({guess:.3f}), so its features cannot judge "
        "samples; likely fix: more images per label (subfolder), or vaegan evaluate RUN --features inception"
    )
