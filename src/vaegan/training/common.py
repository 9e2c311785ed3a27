"""Small helpers both training loops use: device, precision and layout, Adam, data order, progress, Ctrl-C."""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch

from vaegan.errors import VaeganError
from vaegan.models.vae import Decoder
from vaegan.progress import bars_wanted

# ssim.py's band matrices are lru-cached constants: dynamo traces through the cache and says so, harmlessly.
LRU_WARNING = "Dynamo detected a call to a `functools.lru_cache`"
ModuleT = TypeVar("ModuleT", bound=torch.nn.Module)

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else the CPU; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise VaeganError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        build = "" if torch.backends.cuda.is_built() else " (a CPU-only build)"
        raise VaeganError(f"device {name} asked for, but this torch{build} sees no CUDA GPU; use --device cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise VaeganError(
            f"device {name} asked for, but this torch sees {torch.cuda.device_count()} CUDA GPU(s), from cuda:0; "
            "use --device cuda or cpu"
        )
    return device


def settings_section(stage: str) -> str:
    """The run config's section that holds a stage's RunSettings: train for the VAE, gan for the GAN."""
    return "train" if stage == "vae" else "gan"


def place(module: ModuleT, device: torch.device, layout: torch.memory_format) -> ModuleT:
    """The module on `device`, its decoders' feature maps in `layout` (placement.memory_layout picks it).

    Convolutions follow their input's layout, so batches in `layout` set the encoder's and the
    discriminator's; a decoder starts from z and is told. The weights stay contiguous: fused Adam copies
    channels_last parameters to contiguous and back on every step.
    """
    module.to(device)
    for part in module.modules():
        if isinstance(part, Decoder):
            part.layout = layout
    return module


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile(fn) with static shapes (a graph per batch size, each the same on every run, so a resumed
    run repeats an uninterrupted one bit for bit), quiet about ssim.py's cache."""
    fast = torch.compile(fn, dynamic=False)

    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=LRU_WARNING)
            return fast(*args, **kwargs)

    return call


def adam(params: Iterable[torch.nn.Parameter], **settings: Any) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over all parameters per step, on CPU and CUDA alike).

    The same update as the for-each version up to rounding, in fewer passes over memory; its measured
    contribution is in docs/PERFORMANCE.md.
    """
    return torch.optim.Adam(params, fused=True, **settings)


def restore_adam(optimizer: torch.optim.Optimizer, saved: dict[str, Any], lr: float) -> None:
    """Load Adam's saved state in the form the fused kernel needs for the parameters as they are now,
    at learning rate `lr` (the config's: a resume may change it).

    `auto` may lay the weights out differently from the run that saved them (a CUDA run resumed on a
    CPU), and load_state_dict keeps the saved layout, which the fused kernel would read as if it matched;
    runs saved before the fused kernel also carry for-each settings. The values are kept exactly.
    """
    try:
        optimizer.load_state_dict(saved)
    except (ValueError, KeyError, TypeError) as exc:
        raise VaeganError(f"the checkpoint's optimiser state does not fit the model ({exc}); retrain") from exc
    for group in optimizer.param_groups:
        group["fused"], group["foreach"], group["lr"] = True, None, lr
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if key == "step" and torch.is_tensor(value) and value.numel() == 1:
                    state[key] = value.to(device=param.device, dtype=torch.float32)
                elif torch.is_tensor(value) and value.shape == param.shape and value.is_floating_point():
                    state[key] = torch.empty_like(param).copy_(value)
                else:  # the fused kernel would read past a wrong-shaped moment and crash the process
                    shape = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
                    raise VaeganError(
                        f"the checkpoint's optimiser state does not fit the model ({key} is {shape} for a parameter "
                        f"of {tuple(param.shape)}); the file is damaged or forged: use another copy or retrain"
                    )


def warm_up_lr(optimizer: torch.optim.Optimizer, lr: float, step: int, warmup_steps: int) -> None:
    """Set the learning rate of step `step` (0 = the first): lr * (step + 1) / warmup_steps until it reaches lr.

    Adam's first steps move every weight by about lr at once, however small its gradient (m / sqrt(v) is
    +-1 on step one), and through a decoder's residual convs those moves compound until a seed never trains
    (docs/results/levers/README.md, tests/training/test_lr_warm_up.py).
    """
    scale = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    for group in optimizer.param_groups:
        group["lr"] = lr * scale


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager[Any]:
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of epoch `epoch`, a pure function of (seed, epoch) so a resume replays it."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def batches(order: torch.Tensor, batch_size: int, start: int = 0, min_size: int = 1) -> Iterator[torch.Tensor]:
    """Index batches of `order` from batch number `start`; a last short batch is kept if >= min_size.

    Distributed runs pass min_size = world size, so that no process is ever handed an empty shard.
    """
    for i in range(start * batch_size, len(order), batch_size):
        if len(order) - i >= min_size:
            yield order[i : i + batch_size]


def n_batches(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)


class Progress:
    """A tqdm bar per epoch where bars are wanted (vaegan.progress); elsewhere (CI logs) only the summary line."""

    def __init__(self, stage: str, total_epochs: int, enabled: bool | None = None) -> None:
        self.stage = stage
        self.total_epochs = total_epochs
        self.interactive = bars_wanted() if enabled is None else enabled
        self.bar: Any = None
        self.started = time.perf_counter()

    def start_epoch(self, epoch: int, total_batches: int, done: int = 0) -> None:
        self.started = time.perf_counter()
        if self.interactive:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_batches, initial=done, desc=f"{self.stage} {epoch}/{self.total_epochs}", leave=False
            )

    def step(self, postfix: dict[str, float] | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if postfix:
                self.bar.set_postfix({k: f"{v:.4g}" for k, v in postfix.items()}, refresh=False)

    def end_epoch(self, summary: str) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        log.info("%s", summary)


def fixed_latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """The z behind every per-epoch sample grid, VAE and GAN alike, so their grids compare image by image."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed + 7919))


class StopRequest:
    """Turns Ctrl-C into a flag the loop checks between steps, so a checkpoint is never cut mid-update.

    A second Ctrl-C raises KeyboardInterrupt at once, for a user who really wants out.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("stopping after this step and saving a checkpoint (Ctrl-C again to quit at once)")

    def __exit__(self, *exc: object) -> None:
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


class TrainingStopped(VaeganError):
    """Raised after a requested stop has been checkpointed: the run can be resumed."""
