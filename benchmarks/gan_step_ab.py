"""Benchmark: today's `gan_step` against an older `train_gan.py`'s, interleaved in one process.

    git show 256a7ec:src/vaegan/training/train_gan.py > /tmp/train_gan_old.py
    PYTHONPATH=src:benchmarks python benchmarks/gan_step_ab.py --old /tmp/train_gan_old.py

For each of throughput.py's setups (64x64 emoji, 28x28 Fashion-MNIST), in fp32 and bf16 autocast, the
two step functions take turns for `--rounds` rounds of `--steps` steps on the same networks and data
(throughput.vaegan_gan); the medians and their ratio are printed. 256a7ec is the commit before G's
update stopped computing D's weight gradients (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from pathlib import Path

import throughput
import torch

from vaegan.data import load_splits
from vaegan.training import train_gan


def load_module(path: Path) -> object:
    spec = importlib.util.spec_from_file_location("train_gan_old", path)
    assert spec is not None and spec.loader is not None, f"cannot import {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="an older src/vaegan/training/train_gan.py")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps = {"old": load_module(args.old).gan_step, "new": train_gan.gan_step}  # type: ignore[attr-defined]
    for name, data_cfg, cfg, _, bs in throughput.SETUPS:
        images = load_splits(data_cfg).train.images[:4096]
        for variant in (throughput.Variant("fp32"), throughput.Variant("bf16", bf16=True)):
            rates: dict[str, list[float]] = {label: [] for label in steps}
            for _ in range(args.rounds):
                for label, step in steps.items():
                    throughput.gan_step = step  # what throughput.vaegan_gan calls
                    rates[label].append(throughput.vaegan_gan(images, cfg, bs, args.steps, variant)[0])
            old, new = (statistics.median(rates[label]) for label in ("old", "new"))
            print(f"{name} {variant.label}: old {old:.0f} img/s, new {new:.0f} img/s, {new / old:.2f}x", flush=True)


if __name__ == "__main__":
    main()
