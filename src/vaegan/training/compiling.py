"""`--compile auto`: a stage's training step under torch.compile where a timed trial here shows that it pays.

A compile costs tens of seconds on a CPU and wins at some shapes only (docs/PERFORMANCE.md, the `compiled`
rows), so no rule written for one machine decides it. `auto` compiles where the stage's planned seconds would
win the compile's seconds back (`pays`). For a step not yet tried here that is judged with ASSUMED_COMPILE_S
and ASSUMED_GAIN; then the trial compiles the step and times it against the eager one on the run's own model and
Adam, alternating as speed.py does, and restores their state and the random streams after, so the run trains
as if no trial had happened. Its verdict (speed-up, compile seconds) is cached beside speed.py's when clear and
timed on a quiet machine; a later run compiles where that speed-up over its own planned seconds wins back the
compile. A compile that fails (say, no C++ compiler) is cached as failed, and training runs eager.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from vaegan.errors import VaeganError
from vaegan.training import speed
from vaegan.training.contention import OthersShare

log = logging.getLogger(__name__)

MIN_GAIN = 1.10  # a compiled step must beat the eager one by this much, clearly: it changes the rounding too
# What a step not yet tried here is judged by: a first compile of the emoji VAE's step took 18-31 s on 2 CPU
# cores and ran it 1.2-1.35x faster (benchmarks/throughput.py --compile, and in training).
ASSUMED_COMPILE_S = 30.0
ASSUMED_GAIN = 1.25
# ssim.py's band matrices are lru-cached constants: dynamo traces through the cache and says so, harmlessly.
LRU_WARNING = "Dynamo detected a call to a `functools.lru_cache`"


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


@dataclass(frozen=True)
class Trial:
    """What `decide` times: one optimiser step of the stage on a fixed batch of each size its epochs use."""

    step: Callable[[bool, int], object]  # (compiled, batch size) -> one step; sizes[0] is the full batch
    sizes: Sequence[int]  # the batch sizes the stage steps on: each is a graph of its own (static shapes)
    state: Sequence[Stateful]  # the model and optimiser the trial steps, restored after it
    device: torch.device


@dataclass(frozen=True)
class Verdict:
    compiled: bool
    note: str  # one line for the log
    seconds_per_step: float | None = None  # the chosen step's, where timed or cached


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile(fn) with static shapes (a graph per batch size, each the same on every run, so a resumed
    run repeats an uninterrupted one bit for bit), quiet about ssim.py's cache."""
    fast = torch.compile(fn, dynamic=False)

    def call(*args: Any, **kwargs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=LRU_WARNING)
            return fast(*args, **kwargs)

    return call


def pays(planned_seconds: float, speedup: float, compile_seconds: float) -> bool:
    """Whether a step `speedup` times faster saves more than its compile over `planned_seconds` of eager steps."""
    return planned_seconds * (1 - 1 / speedup) > compile_seconds


def decide(
    mode: str,
    trial: Trial,
    *,
    shape: str,
    planned_steps: int,
    max_seconds: float = 0.0,
    cache_dir: str | None = None,
    seconds_per_step: float | None = None,
) -> Verdict:
    """Whether the stage steps compiled (see the module doc). `planned_steps`: the steps still to run;
    `max_seconds`: the stage's time budget (0: none); `seconds_per_step`: the eager step's, where the speed
    probe has timed it (else the trial times it). A compiled verdict has compiled every size already."""
    if mode == "off":
        return Verdict(False, "eager (as asked for)")
    if mode == "on":
        try:
            return warmed(trial, Verdict(True, "compiled (as asked for)"))
        except Exception as exc:  # noqa: BLE001  # any compiler failure, as in the trial below
            raise VaeganError(
                f"--compile on: torch.compile failed here ({reason(exc)}); use --compile auto or off"
            ) from exc
    path, key = speed.cache_file(cache_dir), f"{speed.cache_key(trial.device, shape)}|compile"
    cached = speed.read_cache(path)
    entry = cached.get(key)
    if isinstance(entry, dict) and speed.is_recent(entry):
        return warmed(trial, known(entry, planned_steps, max_seconds))
    eager = seconds_per_step or eager_seconds(trial)
    planned = planned_seconds(planned_steps, eager, max_seconds)
    if not pays(planned, ASSUMED_GAIN, ASSUMED_COMPILE_S):
        return Verdict(False, f"eager: about {planned:.0f} s of steps cannot win back a compile trial", eager)
    with OthersShare() as others:
        try:
            eager_s, compiled_s, compile_s = measure(trial)
        except Exception as exc:  # noqa: BLE001  # any compiler failure: a missing C++ compiler, an unsupported op
            why = reason(exc)
            speed.write_cache(path, {**cached, key: {"failed": why, "measured": speed.today()}})
            log.warning("torch.compile failed here (%s); training runs eager (cached; --compile off skips it)", why)
            return Verdict(False, "eager: torch.compile failed here", eager)
    gain = statistics.median(eager_s) / statistics.median(compiled_s)
    doubt = speed.unclear(eager_s, compiled_s, MIN_GAIN, "the compiled step")
    use = gain >= MIN_GAIN and not doubt
    kept = "compiled" if use else "eager"
    note = f"{kept}: the compiled step ran {gain:.2f}x the eager one, its compile {compile_s:.0f} s"
    if others.busy or doubt:
        why = f"other processes took {others.share:.0%} of the CPUs" if others.busy else doubt
        log.info("compile trial unclear (%s): %s, for this run; nothing cached", why, note)
        return warmed(trial, Verdict(False, note + " (unclear)", eager))
    entry = {"speedup": gain, "compile_seconds": compile_s, "eager_seconds": eager, "measured": speed.today()}
    speed.write_cache(path, {**cached, key: entry})
    return warmed(trial, Verdict(use, note, statistics.median(compiled_s if use else eager_s)))


def eager_seconds(trial: Trial) -> float:
    """One eager step's seconds, after one that pays for allocations and kernel choice."""
    with restored(trial):
        timed(trial, False)
        return timed(trial, False)


def reason(exc: Exception) -> str:
    """The error's type and first line, for one log line."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:200]


def known(entry: dict[str, Any], planned_steps: int, max_seconds: float) -> Verdict:
    """The verdict a recent cache entry gives this stage: compiled where its speed-up wins back its compile."""
    if "failed" in entry:
        return Verdict(False, f"eager: torch.compile failed here on {entry['measured']} ({entry['failed']})")
    gain, compile_s, eager = (float(entry.get(k, 0.0)) for k in ("speedup", "compile_seconds", "eager_seconds"))
    planned = planned_seconds(planned_steps, eager, max_seconds)
    measured = f"{gain:.2f}x the eager step, its compile {compile_s:.0f} s (measured {entry['measured']})"
    if gain >= MIN_GAIN and pays(planned, gain, compile_s):
        return Verdict(True, f"compiled: {measured}", eager / gain)
    return Verdict(False, f"eager: {measured}, over about {planned:.0f} s of steps", eager or None)


def planned_seconds(steps: int, seconds_per_step: float, max_seconds: float) -> float:
    planned = steps * seconds_per_step
    return min(planned, max_seconds) if max_seconds > 0 else planned


def measure(trial: Trial) -> tuple[list[float], list[float], float]:
    """The last speed.ROUNDS seconds per step of the eager and the compiled step, timed alternately until
    the verdict is clear or speed.PROBE_BUDGET_S is spent, and the compile's seconds."""
    eager: list[float] = []
    fast: list[float] = []
    with restored(trial):
        eager.append(timed(trial, False))
        compile_s = timed(trial, True) - eager[0]  # the first compiled call traces, compiles and steps
        started = time.perf_counter()
        for rounds in range(speed.MAX_ROUNDS):
            last_e, last_f = eager[-speed.ROUNDS :], fast[-speed.ROUNDS :]
            if rounds >= speed.ROUNDS and (
                not speed.unclear(last_e, last_f, MIN_GAIN, "") or time.perf_counter() - started > speed.PROBE_BUDGET_S
            ):
                break
            eager.append(timed(trial, False))
            fast.append(timed(trial, True))
    return eager[-speed.ROUNDS :], fast[-speed.ROUNDS :], max(compile_s, 0.0)


def warmed(trial: Trial, verdict: Verdict) -> Verdict:
    """`verdict`, with every batch size compiled first where it says compiled: training's pace (pace.py)
    then counts steps, not compiles."""
    if verdict.compiled:
        with restored(trial):
            for size in trial.sizes:
                trial.step(True, size)
    return verdict


def timed(trial: Trial, compiled_step: bool) -> float:
    """Seconds of one step at the full batch, to the end of its queued kernels on a GPU."""
    sync = trial.device.type == "cuda"
    if sync:
        torch.cuda.synchronize(trial.device)
    started = time.perf_counter()
    trial.step(compiled_step, trial.sizes[0])
    if sync:
        torch.cuda.synchronize(trial.device)
    return time.perf_counter() - started


@contextlib.contextmanager
def restored(trial: Trial) -> Iterator[None]:
    """Run the block, then put the trial's model and optimiser back as they were, and the random streams."""
    saved = [copy.deepcopy(part.state_dict()) for part in trial.state]
    devices = [trial.device] if trial.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            for part, state in zip(trial.state, saved, strict=True):
                part.load_state_dict(state)
