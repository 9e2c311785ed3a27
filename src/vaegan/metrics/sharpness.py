"""Sharpness as a number: the variance of the Laplacian of each image's brightness, fake over real.

A VAE's samples are blurred: their edges, eyes and text have less high-frequency energy than real images,
and a GAN that does its job gives it back. The 3x3 Laplacian [0 1 0; 1 -4 1; 0 1 0] of the channel mean in
[0, 1] responds to exactly that detail; its variance per image, averaged over a set and divided by the
real set's, is about 1 for real-looking images and well under 1 for blurred ones (issue 67). Noise and
specks raise it too, so read it beside the defect score (defects.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vaegan.metrics.defects import brightness

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_variance(images: torch.Tensor, value_range: tuple[float, float], batch: int = 500) -> torch.Tensor:
    """(N, C, H, W) images in `value_range` -> (N,) variance of the Laplacian of each one's brightness."""
    kernel = LAPLACIAN.to(images.device)[None, None]
    parts = [
        F.conv2d(brightness(images[i : i + batch], value_range), kernel).flatten(1).var(dim=1)
        for i in range(0, len(images), batch)
    ]
    return torch.cat(parts)


def sharpness_ratio(
    fake: torch.Tensor, real: torch.Tensor, *, value_range: tuple[float, float] = (0.0, 255.0)
) -> float:
    """Mean Laplacian variance of `fake` over that of `real`, both (N, C, H, W) in `value_range` (the default:
    uint8 levels): about 1 when as sharp as real, under 1 when blurred."""
    fake_detail, real_detail = (laplacian_variance(x, value_range).mean() for x in (fake, real))
    return float(fake_detail / real_detail.clamp_min(1e-12))
