"""Benchmark: where a bf16 training step's time goes on this CPU, and two rewrites of its strided convs.

    PYTHONPATH=src:benchmarks python benchmarks/conv_backward.py             # both parts
    PYTHONPATH=src:benchmarks python benchmarks/conv_backward.py --no-profile

Part 1: torch.profiler over 10 bf16 `gan_step`s at 28x28 (throughput.py's Fashion-MNIST setup), the
ops with the most self time and their input shapes. Part 2: for the 4x4 stride-2 convs of D and the
encoder, median milliseconds of the forward, of oneDNN's input and weight gradients alone, and of two
rewrites: space-to-depth (pad 1, pixel_unshuffle 2, then a 2x2 stride-1 conv: the same function) and
the weight gradient as unfold + matmul. One process; run it on an idle machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import throughput
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from vaegan.data import load_splits

SHAPES = [(256, 32, 64, 14), (256, 1, 32, 28), (128, 64, 128, 16), (128, 3, 32, 64), (128, 32, 64, 32)]


def median_ms(fn: Callable[[], object], repeats: int = 12) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return sorted(times[2:])[len(times[2:]) // 2] * 1e3  # after two warm-up calls


def space_to_depth_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """conv2d(x, w, stride=2, padding=1) for a 4x4 w, as a stride-1 2x2 conv on 4x the channels."""
    c_out, c_in = w.shape[:2]
    w2 = w.view(c_out, c_in, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(c_out, c_in * 4, 2, 2)
    return F.conv2d(F.pixel_unshuffle(F.pad(x, (1, 1, 1, 1)), 2), w2)


def forward_backward_ms(conv: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0, w0, grad_x: bool) -> float:
    x, w = x0.clone().requires_grad_(grad_x), w0.clone().requires_grad_()

    def step() -> None:
        with torch.autocast("cpu", torch.bfloat16):
            y = conv(x, w)
        y.float().sum().backward()

    return median_ms(step)


def plain_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return F.conv2d(x, w, stride=2, padding=1)


def conv_row(batch: int, c_in: int, c_out: int, size: int) -> str:
    x0, w0 = torch.randn(batch, c_in, size, size), torch.randn(c_out, c_in, 4, 4) * 0.05
    reference = plain_conv(x0, w0)
    assert torch.allclose(space_to_depth_conv(x0, w0), reference, atol=1e-3), "space-to-depth is not the conv"
    x, w, gy = x0.bfloat16(), w0.bfloat16(), torch.randn_like(reference).bfloat16()
    conv_args = (gy, x, w, None, (2, 2), (1, 1), (1, 1), False, (0, 0), 1)
    input_grad = median_ms(lambda: torch.ops.aten.convolution_backward(*conv_args, (True, False, False)))
    weight_grad = median_ms(lambda: torch.ops.aten.convolution_backward(*conv_args, (False, True, False)))
    unfolded = median_ms(lambda: (gy.flatten(2) @ F.unfold(x, 4, padding=1, stride=2).transpose(1, 2)).sum(0))
    both = [forward_backward_ms(f, x0, w0, g) for f in (plain_conv, space_to_depth_conv) for g in (True, False)]
    return (
        f"{c_in:3d}->{c_out:3d} ch, {size:2d} px, batch {batch}: conv {median_ms(lambda: plain_conv(x, w)):.2f} | "
        f"{input_grad:.2f} | {weight_grad:.2f} (unfold + matmul {unfolded:.2f}) | {both[0]:.2f} / {both[1]:.2f}; "
        f"space-to-depth forward {median_ms(lambda: space_to_depth_conv(x, w)):.2f}, "
        f"fwd+bwd {both[2]:.2f} / {both[3]:.2f}"
    )


def convs() -> None:
    print("bf16, ms (median of 10): forward | input grad | weight grad | fwd+bwd with/without input grad")
    for shape in SHAPES:
        print(conv_row(*shape), flush=True)


def step_profile() -> None:
    _, data_cfg, cfg, _, bs = next(s for s in throughput.SETUPS if s[2].image_size == 28)
    images = load_splits(data_cfg).train.images[:4096]
    variant = throughput.Variant("bf16", bf16=True)
    print(f"28x28 bf16 GAN step: {throughput.vaegan_gan(images, cfg, bs, 20, variant)[0]:.0f} img/s")
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        throughput.vaegan_gan(images, cfg, bs, 10, variant)
    events = prof.key_averages(group_by_input_shape=True)
    total = sum(e.self_cpu_time_total for e in events)
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:12]:
        share = 100 * e.self_cpu_time_total / total
        print(f"{e.key[:28]:28s} {share:5.1f}% {e.count:4d} calls  {str(e.input_shapes)[:100]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-profile", action="store_true", help="only the conv microbenchmark")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.no_profile:
        step_profile()
    convs()


if __name__ == "__main__":
    main()
