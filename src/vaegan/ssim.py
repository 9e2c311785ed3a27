"""Multi-scale structural similarity (MS-SSIM, Wang, Simoncelli & Bovik 2003) per image, differentiable.

SSIM compares local means, variances and the covariance of two images in Gaussian windows; MS-SSIM takes
the contrast-structure term at several scales (halving each time) and the luminance term at the coarsest.
Used as a VAE training term (LossConfig.msssim_weight): it rewards edges and local contrast that a summed
squared error, averaging over every plausible image, blurs away, and it needs no downloaded weights.

Our own rather than pytorch-msssim's: that package refuses images smaller than (11 - 1) * 2^4 = 160 pixels
at its five scales, and emoji are 64, Fashion-MNIST 28. Here the scales are as many of the paper's five as
keep the window inside the image (64 px: 3, 28 px: 2), their exponents renormalised to sum to 1.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

WINDOW = 11  # the paper's Gaussian window, sigma 1.5
SIGMA = 1.5
SCALE_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # the paper's exponents, finest scale first
K1, K2 = 0.01, 0.03
FLOOR = 1e-4  # contrast-structure terms can be negative; a fractional power needs them > 0 (and a finite gradient)


def gaussian_window(device: torch.device) -> torch.Tensor:
    """(WINDOW,) normalised 1-D Gaussian; the 2-D window is its outer product, applied one axis at a time."""
    x = torch.arange(WINDOW, dtype=torch.float32, device=device) - (WINDOW - 1) / 2
    g = torch.exp(-(x * x) / (2 * SIGMA**2))
    return g / g.sum()


@functools.lru_cache(maxsize=32)
def band(size: int, device: torch.device) -> torch.Tensor:
    """(size, size - 10): column j holds the window at rows j .. j + 10, so x @ band filters x's rows.
    Cached: a training step blurs a dozen times, and building the matrix cost more than the matmul."""
    window = gaussian_window(device)
    out = size - WINDOW + 1
    rows = torch.arange(WINDOW, device=window.device).view(-1, 1) + torch.arange(out, device=window.device)
    matrix = torch.zeros(size, out, device=window.device)
    matrix[rows, torch.arange(out, device=window.device).expand(WINDOW, -1)] = window.view(-1, 1).expand(-1, out)
    return matrix


def blur(x: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, no padding: (B, C, H, W) -> (B, C, H - 10, W - 10).

    As two matmuls with banded matrices rather than two depthwise convs: faster on the CPU for the same values,
    the lead narrowing as images widen (docs/results/levers/README.md; git keeps benchmarks/ssim_blur.py).
    """
    h, w = x.shape[-2:]
    return band(h, x.device).T @ (x @ band(w, x.device))


def ssim_terms(x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(luminance * contrast-structure, contrast-structure), each averaged over windows and channels: (B,).

    Variances and the covariance do not change when x or y shifts, so they are computed on each image less its
    own mean per channel: E[x^2] - E[x]^2 then subtracts small numbers, not nearly equal large ones (float32
    cancellation cost a flat image's MS-SSIM its fourth digit). Luminance compares the window means measured
    from the range's low end, intensities from 0 up as its formula assumes.
    """
    low, high = value_range
    c1, c2 = (K1 * (high - low)) ** 2, (K2 * (high - low)) ** 2
    x_mean, y_mean = x.mean(dim=(2, 3), keepdim=True), y.mean(dim=(2, 3), keepdim=True)
    x, y = x - x_mean, y - y_mean
    # the five blurs as one pair of matmuls: a fifth of the kernel launches
    mu_x, mu_y, xx, yy, xy = blur(torch.cat([x, y, x * x, y * y, x * y], dim=1)).chunk(5, dim=1)
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    mu_x, mu_y = mu_x + (x_mean - low), mu_y + (y_mean - low)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    return (luminance * cs).mean(dim=(1, 2, 3)), cs.mean(dim=(1, 2, 3))


def scales_for(size: int) -> int:
    """How many of the five scales keep the window inside the image at the coarsest one."""
    scales = 1
    while scales < len(SCALE_WEIGHTS) and size // 2**scales >= WINDOW:
        scales += 1
    return scales


def ms_ssim(x: torch.Tensor, y: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """MS-SSIM of each image pair in x, y (B, C, H, W) with values in `value_range`, shape (B,): 1 for
    identical images, lower when not.

    SSIM's luminance term (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) assumes intensities from 0 up: on [-1, 1]
    data it would score a mid-grey patch (0) against a slightly lighter one as if both were near black. So the
    images' window means are measured from `low` (ssim_terms), as an image stored as 0..255 would be. Computed
    in fp32 whatever autocast says: the variances are differences of nearly equal sums.
    """
    if min(x.shape[-2:]) < WINDOW:
        raise ValueError(f"MS-SSIM needs images of at least {WINDOW} pixels a side, got {tuple(x.shape[-2:])}")
    with torch.autocast(x.device.type, enabled=False):
        x, y = x.float(), y.float()
        scales = scales_for(min(x.shape[-2:]))
        weights = torch.tensor(SCALE_WEIGHTS[:scales], device=x.device)
        weights = weights / weights.sum()
        result = torch.ones(x.shape[0], device=x.device)
        for scale in range(scales):
            ssim, cs = ssim_terms(x, y, value_range)
            last = scale == scales - 1
            result = result * (ssim if last else cs).clamp_min(FLOOR) ** weights[scale]
            if not last:
                x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        return result
