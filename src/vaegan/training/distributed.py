"""Several processes or machines through torch.distributed, as launched by torchrun.

Every rank computes the same epoch order and draws the same noise for the whole global batch, then
takes its strided shard of both; DistributedDataParallel averages the gradients. With per-image-mean
losses and equal shards that is the single-process step, up to the order of float additions. Rank 0
alone writes logs, grids and checkpoints. Without torchrun's environment this is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vaegan.errors import VaeganError

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's rows of a global batch: rows rank, rank + world, rank + 2 * world, ..."""
        return batch[self.rank :: self.world_size] if self.active else batch

    def sum_(self, values: torch.Tensor) -> torch.Tensor:
        """In-place sum over ranks (a no-op alone)."""
        if self.active:
            dist.all_reduce(values)
        return values

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank if it is true on any: so all ranks stop at the same step."""
        return bool(self.max_(torch.tensor([float(flag)]), device).item())

    def max_(self, values: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Element-wise max over ranks (`values` itself alone), taken on `device`: several flags in one all-reduce."""
        if not self.active:
            return values
        values = values.to(device)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return values

    def barrier(self) -> None:
        if self.active:
            dist.barrier()

    def share(self, value: T) -> T:
        """Rank 0's `value` on every rank (itself alone): for what one rank measures and all must follow."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)  # our own small value, pickled between our own processes
        return box[0]

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DDP around `model` when distributed; the model itself otherwise."""
        if not self.active:
            return model
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)


def is_main_process() -> bool:
    """Rank 0 under torchrun, or a plain single process: the one that writes a run's shared pictures."""
    return int(os.environ.get("RANK", "0")) == 0


def world_size() -> int:
    """Processes torchrun started (1 without torchrun), known before joining the group."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> tuple[Dist, torch.device]:
    """Join torchrun's process group (gloo on CPU, nccl on CUDA) once; each rank gets its own GPU."""
    size = world_size()
    if size <= 1:
        return Dist(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if torch.cuda.device_count() <= local_rank:
            raise VaeganError(f"rank {rank} wants GPU {local_rank}, but only {torch.cuda.device_count()} are visible")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank, size, local_rank), device


def check_batch(batch_size: int, ctx: Dist) -> None:
    if batch_size % ctx.world_size:
        raise VaeganError(
            f"batch size {batch_size} does not split evenly over {ctx.world_size} processes; "
            f"use a multiple of {ctx.world_size} (the batch size is the global batch)"
        )
