"""Layers shared by the encoder, decoder and discriminator, and the size plan they all follow."""

from __future__ import annotations

from torch import nn

from vaegan.config import Upsample
from vaegan.errors import VaeganError


def downsample_sizes(image_size: int) -> list[int]:
    """Spatial sizes after each stride-2 layer: halve while even and above 4.

    64 -> [32, 16, 8, 4]; 28 -> [14, 7]; 32 -> [16, 8, 4]; 128 -> [64, 32, 16, 8, 4].
    """
    if image_size % 2:
        raise VaeganError(
            f"image size must be even so stride-2 convolutions tile it, got {image_size}; try 28, 32 or 64"
        )
    sizes = []
    size = image_size
    while size % 2 == 0 and size > 4:
        size //= 2
        sizes.append(size)
    return sizes


def widths(base_channels: int, n_layers: int) -> list[int]:
    """Channel width per downsampling level: doubles each level, capped at 8x the base (DCGAN's shape)."""
    return [base_channels * min(2**i, 8) for i in range(n_layers)]


# No normalisation layers anywhere. In an early probe on this 2-core CPU, GroupNorm made a 64x64 step
# several times slower (about 4x, measured under load),
# and BatchNorm would couple the images of a batch: train and eval would disagree, and a
# DistributedDataParallel run would differ from a single process with the same global batch.


def down_block(c_in: int, c_out: int, slope: float = 0.2) -> nn.Sequential:
    """Conv 4x4 stride 2: (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(slope, inplace=True))


def up_block(c_in: int, c_out: int, upsample: Upsample = "transpose") -> nn.Sequential:
    """upsample_conv then ReLU: (B, c_in, H, W) -> (B, c_out, 2H, 2W)."""
    return nn.Sequential(upsample_conv(c_in, c_out, upsample), nn.ReLU(inplace=True))


def upsample_conv(c_in: int, c_out: int, upsample: Upsample) -> nn.Module:
    """x2 upsampling with a learned conv: (B, c_in, H, W) -> (B, c_out, 2H, 2W).

    transpose: ConvTranspose 4x4 stride 2 (DCGAN). resize: nearest-neighbour x2, then Conv 3x3. A stride-2
    transposed conv gives even and odd output pixels different kernel taps, which paints a 2-pixel
    checkerboard that a GAN tends to amplify; after a nearest resize every output pixel sees the same taps
    (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts", distill.pub/2016/deconv-checkerboard).
    """
    if upsample == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1))
    return nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
