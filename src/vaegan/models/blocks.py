"""Layers shared by the encoder, decoder and discriminator, and the size plan they all follow."""

from __future__ import annotations

import torch
import torch.nn.functional as F
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


# No normalisation layers. BatchNorm would couple the images of a batch: train and eval would disagree, and
# a DistributedDataParallel run would differ from a single process with the same global batch. GroupNorm,
# per image, after each decoder x2 conv was slower and worse on emoji (the levers table, docs/results/levers/README.md).


def down_block(c_in: int, c_out: int, slope: float = 0.2) -> nn.Sequential:
    """Conv 4x4 stride 2: (B, c_in, H, W) -> (B, c_out, H/2, W/2)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(slope, inplace=True))


def up_block(c_in: int, c_out: int, upsample: Upsample = "transpose", convs: int = 1) -> nn.Sequential:
    """upsample_conv, ReLU, then convs - 1 residual 3x3 convs: (B, c_in, H, W) -> (B, c_out, 2H, 2W).

    The extra convs mix each pixel with its neighbours after the x2 step; with one conv per level a pixel
    of the 4x4 start map reaches the image only through nearest copies and one 3x3 kernel per level.
    Their layers follow the first two, so a one-conv block keeps the state-dict names it always had.
    """
    layers: list[nn.Module] = [upsample_conv(c_in, c_out, upsample), nn.ReLU(inplace=True)]
    layers += [ResidualConv(c_out) for _ in range(convs - 1)]
    return nn.Sequential(*layers)


class ResidualConv(nn.Module):
    """ReLU(x + Conv 3x3(x)), the conv zero-initialised: it starts as the identity on x >= 0 (after a ReLU).

    Starting as the identity, a deeper decoder computes what a one-conv decoder computes, and each extra conv
    only adds detail, so the signal path from z to the image is not learnt through random layers first. Not
    the same one-conv decoder as at the same seed: nn.Conv2d draws its default weights before they are zeroed,
    so the layers built after it start from other draws (one such seed never trained: docs/results/levers/).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)  # type: ignore[arg-type]  # Conv2d's default bias=True makes one

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv(x))


def upsample_conv(c_in: int, c_out: int, upsample: Upsample) -> nn.Module:
    """x2 upsampling with a learned conv: (B, c_in, H, W) -> (B, c_out, 2H, 2W).

    transpose: ConvTranspose 4x4 stride 2 (DCGAN). resize: nearest-neighbour x2, then Conv 3x3. A stride-2
    transposed conv gives even and odd output pixels different kernel taps, which paints a 2-pixel
    checkerboard that a GAN tends to amplify; after a nearest resize every output pixel sees the same taps
    (Odena et al. 2016, "Deconvolution and Checkerboard Artifacts", distill.pub/2016/deconv-checkerboard).
    """
    if upsample == "resize":
        return ResizeConv(c_in, c_out)
    return TransposeConv(c_in, c_out)


def add_bias(x: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x (B, C, H, W) + bias (C,), in x's dtype, so a bf16 activation stays bf16 under autocast.

    Transposed convolutions add their bias here rather than inside the kernel: oneDNN's deconvolution
    backward computes the bias gradient slowly on the CPU (1.1-1.6x per decoder layer in bf16; CHANGELOG, 0.1.0).
    """
    return x if bias is None else x + bias.to(x.dtype).view(1, -1, 1, 1)


class TransposeConv(nn.ConvTranspose2d):
    """ConvTranspose 4x4 stride 2 with its bias added apart (see add_bias); nn.ConvTranspose2d's state dict."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 4, 2, 1)

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        out = F.conv_transpose2d(x, self.weight, None, stride=2, padding=1)
        return add_bias(out, self.bias)


def _nearest_to_transpose_taps() -> torch.Tensor:
    """(16, 9): the 4x4 stride-2 transposed-conv kernel that equals nearest x2 followed by a 3x3 conv.

    Per axis, after a nearest x2 resize output 2j sees x[j-1] * w0 + x[j] * (w1 + w2) and output 2j+1 sees
    x[j] * (w0 + w1) + x[j+1] * w2; a ConvTranspose(4, stride 2, padding 1) gives output 2j the taps
    k=3 (x[j-1]) and k=1 (x[j]), and 2j+1 the taps k=2 (x[j]) and k=0 (x[j+1]). Rows: k, columns: w index.
    """
    per_axis = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    return torch.kron(per_axis, per_axis)


class ResizeConv(nn.Module):
    """Nearest x2 then Conv 3x3 (padding 1), computed as the one transposed conv it equals.

    Our own module because it is measurably better: the literal nn.Upsample + nn.Conv2d convolves 4x the
    pixels with 9 taps each (36 multiply-adds per input pixel and channel pair against 16 here) and
    writes the 4x larger resized tensor first. The 3x3 weights are the parameters, so the function class,
    and with it the freedom from checkerboard patterns, is exactly the resize-conv one.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        conv = nn.Conv2d(c_in, c_out, 3, 1, 1)  # for PyTorch's default initialisation of these shapes
        self.weight = conv.weight  # (c_out, c_in, 3, 3), as nn.Conv2d stores it
        self.bias = conv.bias
        self.taps: torch.Tensor
        self.register_buffer("taps", _nearest_to_transpose_taps(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_out, c_in = self.weight.shape[:2]
        # The kernel in float32 even under bf16 autocast; conv_transpose2d casts it like any other weight.
        # One (c_out * c_in, 9) @ (9, 16) matmul: a batched one over c_out runs as many tiny products.
        with torch.autocast(x.device.type, enabled=False):
            kernel = (self.weight.reshape(-1, 9) @ self.taps.T).view(c_out, c_in, 4, 4).transpose(0, 1)
        return add_bias(F.conv_transpose2d(x, kernel, None, stride=2, padding=1), self.bias)
