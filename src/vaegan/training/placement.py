"""Where a stage's steps run and how fast: its process group, device, precision and layout, by a rule.

`--precision auto` is bf16 autocast on a CPU whose flags list bf16 instructions (avx512_bf16 or amx_bf16) and
fp32 everywhere else, a GPU included: at these model sizes a GPU step is launch-bound and bf16 ran it slower.
`--memory-format auto` is channels_last on a CPU (oneDNN's convolutions run NHWC natively) and contiguous on a
GPU. docs/PERFORMANCE.md holds the measurements behind both rules, per machine kind. Nothing is timed at run
time: the same command on the same machine always trains the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vaegan.config import RunSettings, write_json
from vaegan.cpu import has_bf16
from vaegan.training import distributed
from vaegan.training.common import resolve_device
from vaegan.training.run_folder import start_clean

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where a stage's steps run: its process group, device, and the precision and layout the rule picked."""

    ctx: distributed.Dist
    device: torch.device
    bf16: bool  # autocast the forward passes to bf16
    layout: torch.memory_format  # of batches and the decoder's feature maps


def use_bf16(precision: str, device: torch.device, cpuinfo: str | None = None) -> bool:
    """The precision rule: an explicit choice as given; auto is bf16 on a CPU with bf16 instructions only."""
    if precision != "auto":
        return precision == "bf16"
    return device.type == "cpu" and has_bf16(cpuinfo)


# Without bf16 instructions the shipped steps run fp32 at about 2.6x (VAE) and 3.6x (GAN) the time, by the
# throughput records' GFLOP/s (docs/results/performance/); the feature net and set-up take about as long.
WITHOUT_BF16 = "3-5x slower than on one that does: the README's 5-minute `make run` takes about 13-20 minutes here"


def cpu_time_note(device: torch.device, cpuinfo: str | None = None) -> str | None:
    """One line on what to expect where steps run in fp32 on a CPU without bf16 instructions; None elsewhere."""
    if device.type != "cpu" or has_bf16(cpuinfo):
        return None
    return f"this CPU lists no bf16 instructions (avx512_bf16, amx_bf16), so steps run in fp32, {WITHOUT_BF16}"


def memory_layout(memory_format: str, device: torch.device) -> torch.memory_format:
    """The layout rule: an explicit choice as given; auto is channels_last on a CPU, contiguous on a GPU."""
    if memory_format == "auto":
        memory_format = "channels_last" if device.type == "cpu" else "contiguous"
    return torch.channels_last if memory_format == "channels_last" else torch.contiguous_format


def describe(bf16: bool, layout: torch.memory_format) -> str:
    precision = "bf16 autocast" if bf16 else "fp32"
    return f"{precision}, {'channels_last' if layout == torch.channels_last else 'contiguous'}"


def setup_run(run_dir: Path, config: Any, settings: RunSettings, *, is_new: bool, stage: str) -> Placement:
    """Join the processes (torchrun), clear and for a new run write config.json (rank 0), pick precision and
    layout by the rule, and say which."""
    ctx, device = distributed.setup(resolve_device(settings.device))
    distributed.check_batch(settings.batch_size, ctx)
    ctx.barrier()  # every rank has looked for the checkpoint before rank 0 writes anything
    if ctx.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        start_clean(run_dir)
        if is_new:
            write_json(config, run_dir / "config.json")
    bf16, layout = use_bf16(settings.precision, device), memory_layout(settings.memory_format, device)
    if ctx.is_main:
        how = f"--precision {settings.precision}, --memory-format {settings.memory_format}"
        log.info("%s steps on %s: %s (%s)", stage, device, describe(bf16, layout), how)
    return Placement(ctx, device, bf16, layout)
