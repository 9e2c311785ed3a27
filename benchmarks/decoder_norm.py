"""Benchmark: what GroupNorm after each x2 conv (--decoder-norm group) costs the decoder on this machine.

    PYTHONPATH=src python benchmarks/decoder_norm.py [--image-size 64] [--rounds 5]

Times forward + backward of the emoji decoder (two convs per level, latent 64, batch 64) with and without
the norm, in fp32 and under bf16 autocast, NCHW and channels_last, alternating the two decoders each round
so a change in the machine's load falls on both; prints the median per setting and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vaegan.config import ModelConfig
from vaegan.models.vae import Decoder
from vaegan.training.common import CPU, autocast


def step_seconds(decoder: Decoder, z: torch.Tensor, bf16: bool, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        with autocast(CPU, bf16):
            out = decoder(z)
        out.float().square().mean().backward()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5, help="steps per timing, after one warm-up step")
    args = parser.parse_args()
    torch.manual_seed(0)
    z = torch.randn(64, 64)
    print(f"decoder forward + backward, {args.image_size} px, batch 64, median of {args.rounds} rounds")
    for layout in (torch.contiguous_format, torch.channels_last):
        for bf16 in (False, True):
            decoders = {}
            for norm in ("none", "group"):
                cfg = ModelConfig(image_size=args.image_size, latent_dim=64, decoder_convs=2, decoder_norm=norm)
                decoders[norm] = Decoder(cfg)
                decoders[norm].layout = layout
                step_seconds(decoders[norm], z, bf16, 1)  # warm-up: oneDNN picks its kernels
            times: dict[str, list[float]] = {norm: [] for norm in decoders}
            for _ in range(args.rounds):
                for norm, decoder in decoders.items():
                    times[norm].append(step_seconds(decoder, z, bf16, args.steps))
            plain, group = (statistics.median(times[n]) for n in ("none", "group"))
            name = f"{'bf16' if bf16 else 'fp32'} {'channels_last' if layout == torch.channels_last else 'NCHW'}"
            print(f"{name:20s} none {plain * 1e3:6.1f} ms   group {group * 1e3:6.1f} ms   x{group / plain:.2f}")


if __name__ == "__main__":
    main()
