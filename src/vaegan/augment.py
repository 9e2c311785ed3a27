"""DiffAugment (Zhao et al. 2020, arXiv:2006.10738): differentiable augmentations for data-efficient GANs.

A discriminator trained on few images (emoji are about 3,800) memorises them and stops teaching G.
Augmenting what D sees stops that, and as long as real and fake images go through the same random
transforms, in D's update and in G's, G is not pushed to produce augmented-looking images. Every
transform is differentiable in the images, so G's gradient flows through it. Adapted from the paper's
DiffAugment_pytorch.py; fills and clamps use the data's value range, so the output stays in it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vaegan.errors import VaeganError

Transform = Callable[[torch.Tensor, tuple[float, float], torch.Generator | None], torch.Tensor]


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One uniform [0, 1) number per image, (B, 1, 1, 1), on x's device."""
    u = torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=x.device)
    return u.to(x.dtype)


def colour(x: torch.Tensor, value_range: tuple[float, float], generator: torch.Generator | None) -> torch.Tensor:
    """Random brightness (+-half the range), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    lo, hi = value_range
    x = x + (_rand(x, generator) - 0.5) * (hi - lo) / 2
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, generator) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (_rand(x, generator) + 0.5) + mean
    return x.clamp(lo, hi)


def translation(
    x: torch.Tensor, value_range: tuple[float, float], generator: torch.Generator | None, ratio: float = 0.125
) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size in each direction; uncovered pixels get mid-range."""
    b, _, h, w = x.shape
    shift_y, shift_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-shift_y, shift_y + 1, (b, 1, 1), generator=generator, device=x.device)
    dx = torch.randint(-shift_x, shift_x + 1, (b, 1, 1), generator=generator, device=x.device)
    batch, rows, cols = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    rows = (rows + dy + 1).clamp(0, h + 1)  # +1: index into the padded image
    cols = (cols + dx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1], value=sum(value_range) / 2)  # (B, C, H + 2, W + 2)
    return padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(
    x: torch.Tensor, value_range: tuple[float, float], generator: torch.Generator | None, ratio: float = 0.5
) -> torch.Tensor:
    """Fill one square of `ratio` times the image's size, at a random place, with mid-range."""
    b, _, h, w = x.shape
    size_y, size_x = int(h * ratio + 0.5), int(w * ratio + 0.5)
    top = torch.randint(0, h + (1 - size_y % 2), (b, 1, 1), generator=generator, device=x.device)
    left = torch.randint(0, w + (1 - size_x % 2), (b, 1, 1), generator=generator, device=x.device)
    batch, rows, cols = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(size_y, device=x.device),
        torch.arange(size_x, device=x.device),
        indexing="ij",
    )
    rows = (rows + top - size_y // 2).clamp(0, h - 1)
    cols = (cols + left - size_x // 2).clamp(0, w - 1)
    keep = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    keep[batch, rows, cols] = 0
    keep = keep.unsqueeze(1)  # (B, 1, H, W)
    return x * keep + (1 - keep) * (sum(value_range) / 2)


TRANSFORMS: dict[str, Transform] = {"color": colour, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """ "color,translation,cutout" -> its names, in order; "" is no augmentation. Unknown names are an error."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [n for n in names if n not in TRANSFORMS]
    if unknown:
        raise VaeganError(f"unknown DiffAugment transforms {unknown}; use a comma list of {', '.join(TRANSFORMS)}")
    return names


def diff_augment(
    x: torch.Tensor, policy: str, value_range: tuple[float, float], generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the policy's transforms to (B, C, H, W) images in value_range, fresh random draws per image.

    Call it on real and fake images alike (one call on both concatenated does that by construction).
    """
    for name in parse_policy(policy):
        x = TRANSFORMS[name](x, value_range, generator)
    return x
