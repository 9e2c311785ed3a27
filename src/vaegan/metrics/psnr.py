"""How well a decoder keeps the VAE's latent meaning: PSNR of decode(mean of q(z|x)) against x.

The VAE decoder's own value is the reference. A GAN generator warm-started from it should stay close,
or encoding an image and decoding it with the GAN (similar, interpolate, attributes, the explorer) no
longer shows that image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from vaegan.data import to_float


def psnr(x_hat: torch.Tensor, x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Per-image 10 log10(1 / MSE) in dB on the [0, 1] scale: (B,)."""
    lo, hi = value_range
    mse = ((x_hat.float() - x.float()) / (hi - lo)).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


@torch.no_grad()
def posterior_psnr(
    encode_mean: Callable[[torch.Tensor], torch.Tensor],
    decode: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    value_range: tuple[float, float],
    batch_size: int = 250,
) -> float:
    """Mean PSNR (dB) of decode(encode_mean(x)) against uint8 `images` (N, C, H, W).

    Both callables take and return CPU-or-device tensors; results are compared on the CPU.
    """
    total = 0.0
    for start in range(0, len(images), batch_size):
        x = to_float(images[start : start + batch_size], value_range)
        x_hat = decode(encode_mean(x)).float().cpu()
        total += float(psnr(x_hat, x, value_range).double().sum())
    return total / len(images)
