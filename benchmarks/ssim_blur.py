"""Benchmark: MS-SSIM's Gaussian blur as two banded matmuls (vaegan.ssim.blur) against two depthwise convs.

    PYTHONPATH=src python benchmarks/ssim_blur.py [--rounds 7] [--image-size 64 --batch 64]

Times forward + backward of ms_ssim on an RGB batch (by default 64 of 64x64, the emoji VAE's) in both layouts,
with each blur, alternating them each round, and checks both give the same value.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from vaegan import ssim

Blur = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def conv_blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """The same filter as two depthwise convs (one per axis), the textbook way."""
    c, taps = x.shape[1], len(window)
    x = F.conv2d(x, window.view(1, 1, 1, -1).expand(c, 1, 1, taps), groups=c)
    return F.conv2d(x, window.view(1, 1, -1, 1).expand(c, 1, taps, 1), groups=c)


def seconds(blur: Blur, x: torch.Tensor, y: torch.Tensor, steps: int = 5) -> float:
    kept, ssim.blur = ssim.blur, blur
    try:
        start = time.perf_counter()
        for _ in range(steps):
            ssim.ms_ssim(x, y, (-1.0, 1.0)).sum().backward()
        return (time.perf_counter() - start) / steps
    finally:
        ssim.blur = kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    shape = (args.batch, 3, args.image_size, args.image_size)
    y = torch.rand(shape) * 2 - 1
    window = ssim.gaussian_window(y.device)
    gap = (ssim.blur(y, window) - conv_blur(y, window)).abs().max().item()
    print(
        f"MS-SSIM forward + backward, {args.image_size}x{args.image_size} RGB batch of {args.batch}, "
        f"median of {args.rounds} rounds; blurs differ by {gap:.1e}"
    )
    for layout in (torch.contiguous_format, torch.channels_last):
        x = (torch.rand(shape) * 2 - 1).contiguous(memory_format=layout).requires_grad_(True)
        blurs: dict[str, Blur] = {"banded matmuls (ours)": ssim.blur, "depthwise convs": conv_blur}
        times: dict[str, list[float]] = {name: [] for name in blurs}
        for _ in range(args.rounds):
            for name, blur in blurs.items():
                times[name].append(seconds(blur, x, y))
        for name, values in times.items():
            where = "channels_last" if layout == torch.channels_last else "NCHW"
            print(f"{where:14s} {name:24s} {statistics.median(values) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
