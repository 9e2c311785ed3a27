"""Benchmark: images/s of the FID Inception on the CPU, as shipped and as vaegan runs it.

    PYTHONPATH=src python benchmarks/inception_speed.py

Rows: the wheel's TorchScript net on contiguous input (as shipped), on channels_last input (what
vaegan's TFInception.features does), and as a frozen, inference-optimised copy on channels_last input
(tried, not kept), with the largest feature difference against the first row. One process, rows one
after another, so run it on an idle machine and more than once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import torch

from vaegan.metrics.tf_inception import load_tf_inception, to_tf_input

BATCH = 32


def images_per_second(run: Callable[[], torch.Tensor], reps: int = 6) -> tuple[float, torch.Tensor]:
    out = run()  # warm-up: the frozen copy is built on first use
    start = time.perf_counter()
    for _ in range(reps):
        out = run()
    return BATCH * reps / (time.perf_counter() - start), out


def main() -> None:
    net = load_tf_inception()
    x = torch.rand(BATCH, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    print(f"load average {os.getloadavg()[0]:.2f}, {torch.get_num_threads()} threads, batch {BATCH} of 64x64 RGB")
    with torch.inference_mode():
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(net.net.eval()))
        rows = {
            "script, contiguous": lambda: net.net(to_tf_input(x)),
            "script, channels_last": lambda: net.net(to_tf_input(x).contiguous(memory_format=torch.channels_last)),
            "frozen copy, channels_last": lambda: frozen(to_tf_input(x).contiguous(memory_format=torch.channels_last)),
        }
        reference = None
        for name, run in rows.items():
            speed, out = images_per_second(run)
            reference = out if reference is None else reference
            print(f"{name:32s} {speed:6.1f} img/s  max |diff| {(out - reference).abs().max().item():.1e}")


if __name__ == "__main__":
    main()
