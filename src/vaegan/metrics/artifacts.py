"""Checkerboard artifacts as a number: the share of spectral energy at the 2-pixel period, fake over real.

A stride-2 transposed convolution gives even and odd output pixels different kernel taps (Odena et al.
2016, distill.pub/2016/deconv-checkerboard), and a GAN tends to amplify the resulting dot grid. Such a
grid lives at the Nyquist frequency: in the 2-D FFT of an (H, W) image, row H/2 and column W/2. Natural
images hold little energy there, so the fake-to-real ratio of that share is about 1 for a generator
without artifacts and grows with the grid's strength.
"""

from __future__ import annotations

import torch

from vaegan.errors import VaeganError


def nyquist_share(images: torch.Tensor) -> float:
    """Mean over images and channels of (energy at the Nyquist row and column) / (energy but the mean).

    `images` (N, C, H, W), any dtype and value scale (the share is scale-free); H and W must be even. The
    mean (DC term) is left out of both, so brightness does not dilute the share.
    """
    h, w = images.shape[-2:]
    if h % 2 or w % 2:
        raise VaeganError(f"the artifact score needs even image sides, got {h}x{w}")
    x = images.double()
    x = x - x.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(x).abs().pow(2)  # (N, C, H, W); bin (H/2, .) and (., W/2): period 2 pixels
    nyquist = power[..., h // 2, :].sum(-1) + power[..., :, w // 2].sum(-1) - power[..., h // 2, w // 2]
    total = power.sum(dim=(-2, -1))
    return float((nyquist / total.clamp_min(1e-12)).mean())


def artifact_score(fake: torch.Tensor, real: torch.Tensor) -> float:
    """nyquist_share(fake) / nyquist_share(real): about 1 without a checkerboard, larger with one."""
    return nyquist_share(fake) / max(nyquist_share(real), 1e-12)
