"""Benchmark: a transposed conv's bias inside oneDNN's kernel or added apart, per decoder layer, in bf16.

    PYTHONPATH=src:benchmarks python benchmarks/conv_bias.py

For each 4x4 stride-2 transposed conv of throughput.py's two decoders (64x64 emoji at batch 64, 28x28
Fashion-MNIST at batch 128), the median milliseconds of forward + backward (input, weight and bias
gradients) with the bias passed to F.conv_transpose2d, and with blocks.add_bias after a bias-free
kernel (what TransposeConv and ResizeConv do), in NCHW and channels_last. bf16 tensors, one process;
run it on an idle machine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from conv_backward import median_ms

from vaegan.models.blocks import add_bias

# (label, batch, c_in, c_out, input size): the decoders' x2 steps, widths 32-64-128-256 and 32-64
LAYERS = [
    ("64x64 256->128", 64, 256, 128, 4),
    ("64x64 128->64", 64, 128, 64, 8),
    ("64x64 64->32", 64, 64, 32, 16),
    ("64x64 32->3", 64, 32, 3, 32),
    ("28x28 64->32", 128, 64, 32, 7),
    ("28x28 32->1", 128, 32, 1, 14),
]


def forward_backward_ms(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, apart: bool) -> float:
    def step() -> None:
        if apart:
            out = add_bias(F.conv_transpose2d(x, w, None, stride=2, padding=1), b)
        else:
            out = F.conv_transpose2d(x, w, b, stride=2, padding=1)
        out.backward(grad)

    grad = torch.randn_like(F.conv_transpose2d(x, w, b, stride=2, padding=1))
    return median_ms(step, repeats=22)


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bf16, forward + backward, median ms")
    print(f"{'layer':16s} {'layout':14s} {'bias inside':>11s} {'bias apart':>10s} {'gain':>5s}")
    for label, batch, c_in, c_out, size in LAYERS:
        for layout in (torch.contiguous_format, torch.channels_last):
            x = torch.randn(batch, c_in, size, size, dtype=torch.bfloat16).contiguous(memory_format=layout)
            w = torch.randn(c_in, c_out, 4, 4, dtype=torch.bfloat16).contiguous(memory_format=layout)
            b = torch.zeros(c_out, dtype=torch.bfloat16)
            for t in (x, w, b):
                t.requires_grad_()
            inside, apart = forward_backward_ms(x, w, b, False), forward_backward_ms(x, w, b, True)
            name = "channels_last" if layout == torch.channels_last else "NCHW"
            print(f"{label:16s} {name:14s} {inside:11.2f} {apart:10.2f} {inside / apart:4.2f}x")


if __name__ == "__main__":
    main()
