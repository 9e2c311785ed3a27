"""`--precision auto` and `--memory-format auto` decided by measuring the real training step here.

Whether bf16 autocast or channels_last pays depends on the processor (docs/PERFORMANCE.md), so no rule
written for one machine holds on another.
`choose` times the stage's own step for each candidate setting, alternating between them so a busy
neighbour slows all alike, and keeps bf16 only where it is clearly faster (MIN_BF16_GAIN). It times ROUNDS
rounds, then more within PROBE_BUDGET_S until the verdict is clear (`unclear`). A probe timed while other
processes took a share of the CPUs (contention.py) decides for its run only and caches nothing: it measured
the load, not the machine. A verdict left unclear keeps fp32 and the contiguous layout for that part, for
this run only, and caches only a clear precision (the next run times just its layouts); on a GPU, which no
neighbour shares, it is a tie within launch jitter, cached with that default (else every run pays it).
A clear verdict is cached per processor, torch version, device and step (step_key), with its date and
seconds per step, in ~/.cache/vaegan/speed.json (or the data's --cache-dir). It is measured again when it
is MAX_AGE_DAYS old (CLOSE_CALL_DAYS where bf16's gain fell near its threshold), when training's own pace
is far off its seconds per step (pace.py), or when that file is deleted (say, to measure on an idle
machine now).
Under torchrun rank 0 probes and every rank follows its verdict (loop.speed_settings): DDP needs one setting.
A GPU is probed the same way (bf16 only where it supports it), keyed by its name: bf16 does not pay on
every GPU that has it (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import date
from pathlib import Path

import torch

from vaegan.training.contention import OthersShare

log = logging.getLogger(__name__)

MIN_BF16_GAIN = 1.10  # bf16 must beat the best fp32 setting by 10%: its rounding is not free
MIN_LAYOUT_GAIN = 1.03  # below this the two layouts are within noise; keep the plain one
ROUNDS = 3  # alternating timing rounds at least; verdicts are judged on each candidate's last ROUNDS timings
PROBE_BUDGET_S = 5.0  # wall-clock seconds after which a probe starts no more rounds to settle an unclear verdict
MAX_ROUNDS = 30  # the rounds' bound for steps so short that the budget alone would allow thousands
MAX_AGE_DAYS = 30  # a cached verdict this old is measured again: torch, drivers and a machine's load change
# A precision verdict whose bf16 gain fell within this factor of MIN_BF16_GAIN is a close call: a neighbour
# unseen in /proc/stat (another VM on the same cores) moves a gain that much, so it is measured again after
# CLOSE_CALL_DAYS rather than kept for a month (a 1.04x verdict of one day measured 1.34x the next).
CLOSE_CALL = 1.15
CLOSE_CALL_DAYS = 1
# A candidate this many times slower than the fastest after one timed step cannot win: it is timed no
# more, nor the other layout of its precision if not yet timed (a layout never moves a step by 4x, while a
# CPU without bf16 kernels runs a bf16 step many times slower: docs/PERFORMANCE.md).
HOPELESS = 4.0
# A CPU on which bf16 once proved hopeless for one model is not asked again for the next: the verdict is
# the CPU's (no bf16 kernels), not the model's, and its bf16 step is most of a probe's time. Kept in the
# same cache under this CPU's own key.
CPU_VERDICT = "bf16 hopeless"
# Part of the cache key: raised when a change to the layers can change the verdict, so cached verdicts
# about the old layers are measured again (2: transposed convolutions add their bias apart and the
# decoder follows the chosen layout).
LAYERS_REVISION = 2
# Config fields that cannot change what one step costs: how long and where a run trains, how often it
# reports, its seeds and learning rates (the batch enters the key as one process's share). Left out of
# step_key, so a longer run or another seed reuses the verdict; every other field enters by itself.
NOT_IN_STEP = frozenset(
    {
        "epochs", "batch_size", "seed", "device", "precision", "memory_format", "grid_size", "grid_every",
        "checkpoint_every", "quality_every", "quality_samples", "min_steps", "max_minutes", "tensorboard", "lr",
        "lr_warmup_steps", "compile", "lr_g", "lr_d", "collapse_fraction", "diversity_samples",
    }
)  # fmt: skip


def step_key(stage: str, batch: int, *configs: object) -> str:
    """A probe's shape: the stage, the batch one process steps on, and a hash of every field of `configs`
    (dataclasses: the model, the loss, the stage's settings) except NOT_IN_STEP."""
    fields = {type(c).__name__: {k: v for k, v in asdict(c).items() if k not in NOT_IN_STEP} for c in configs}  # type: ignore[call-overload]
    text = json.dumps(fields, sort_keys=True, default=str)
    return f"{stage}|b{batch}|{hashlib.sha256(text.encode()).hexdigest()[:16]}"


# time_steps(bf16, layout) -> seconds per training step of the real model, after a warm-up.
StepTimer = Callable[[bool, torch.memory_format], float]
Option = tuple[bool, bool]  # a candidate setting: (bf16, channels_last)
Timings = dict[Option, list[float]]  # seconds per step of each candidate timed, in the order timed
# Steps per timing on a GPU: one small step there takes milliseconds, within the noise of launching it.
GPU_STEPS = 10


@dataclass(frozen=True)
class Probe:
    """What `choose` needs from a stage: a name for the model's shape and a timer of its real step."""

    shape: str  # step_key's "gan|b64|<hash of the configs>": one cache entry per distinct step
    time_steps: StepTimer
    cache_dir: str | None = None


def timer(
    prepare: Callable[[torch.memory_format], Callable[[bool], object]], device: torch.device | None = None
) -> StepTimer:
    """A StepTimer from `prepare(layout) -> step(bf16)`: each layout's model is built once and shared by both
    precisions (autocast changes only the arithmetic, and a model per candidate doubled the probe's memory);
    each candidate is warmed up once, then every call times one step of it; on a GPU, GPU_STEPS steps up to
    the end of their queued kernels."""
    steps: dict[torch.memory_format, Callable[[bool], object]] = {}
    warm: set[tuple[bool, torch.memory_format]] = set()
    on_gpu = device is not None and device.type == "cuda"
    count = GPU_STEPS if on_gpu else 1

    def time_steps(bf16: bool, layout: torch.memory_format) -> float:
        if layout not in steps:
            steps[layout] = prepare(layout)
        step = steps[layout]
        if (bf16, layout) not in warm:
            step(bf16)  # warm-up: first-call allocations and kernel choice
            warm.add((bf16, layout))
        if on_gpu:
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        for _ in range(count):
            step(bf16)
        if on_gpu:
            torch.cuda.synchronize(device)
        return (time.perf_counter() - started) / count

    return time_steps


@dataclass(frozen=True)
class SpeedChoice:
    bf16: bool
    channels_last: bool
    note: str  # one line for the log: what was picked and why
    seconds_per_step: float | None = None  # the picked setting's, as measured; None where nothing was timed
    doubt: str = ""  # why the timings left part of the verdict open (that part kept its default); "" if clear
    settled: str = ""  # where only the layout stayed open: the precision's verdict, clear, so cached by itself
    close: bool = False  # bf16's gain fell near MIN_BF16_GAIN (CLOSE_CALL): cached for CLOSE_CALL_DAYS only

    @property
    def days(self) -> int:
        """How long the verdict is cached."""
        return CLOSE_CALL_DAYS if self.close else MAX_AGE_DAYS

    @property
    def layout(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


def cpu_model() -> str:
    """This CPU's name with its family and model numbers, the key that tells machine kinds apart."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        cpuinfo = ""
    return cpu_name(cpuinfo) or platform.processor() or platform.machine()


def cpu_name(cpuinfo: str) -> str:
    """The first processor's model name and, where given, its family and model numbers, from /proc/cpuinfo's
    text. The name alone does not tell kinds apart: two generations of one CPU line can share it and differ
    in their bf16 speed."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        name, _, value = line.partition(":")
        fields.setdefault(name.strip(), value.strip())
    if "model name" not in fields:
        return ""
    numbers = f" (family {fields['cpu family']}, model {fields['model']})" if "cpu family" in fields else ""
    return fields["model name"] + numbers


def cache_file(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir or "~/.cache/vaegan").expanduser() / "speed.json"


def device_name(device: torch.device) -> str:
    """The processor a step runs on: the GPU's name on CUDA, else the CPU's (cpu_model)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def cache_key(device: torch.device, shape: str) -> str:
    text = f"{device_name(device)}|torch {torch.__version__}|{device.type}|{shape}|layers {LAYERS_REVISION}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cpu_verdict_key(device: torch.device) -> str:
    """The cache key of what this processor and torch version showed about bf16, whatever the model."""
    text = f"{device_name(device)}|torch {torch.__version__}|{device.type}|{CPU_VERDICT}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def known_bf16_speedup(cached: dict[str, dict], device: torch.device) -> float | None:
    """bf16's speed-up over fp32 (under 1 / HOPELESS) if a recent probe on this CPU found it hopeless."""
    entry = cached.get(cpu_verdict_key(device))
    speedup = entry.get("bf16_speedup") if isinstance(entry, dict) and is_recent(entry) else None
    return float(speedup) if isinstance(speedup, int | float) else None


def known_precision(cached: dict[str, dict], device: torch.device) -> tuple[bool, str] | None:
    """(fp32, why) where an earlier probe on this CPU found bf16 hopeless (CPU_VERDICT); else None."""
    speedup = known_bf16_speedup(cached, device)
    return None if speedup is None else (False, known_hopeless(speedup))


def candidates(precision: str, memory_format: str, device: torch.device | None = None) -> list[tuple[bool, bool]]:
    """(bf16, channels_last) pairs the settings leave open; an explicit setting fixes its half. `auto` on a
    GPU without bf16 (before Ampere) leaves fp32 alone."""
    no_bf16 = device is not None and device.type == "cuda" and not torch.cuda.is_bf16_supported()
    bf16 = {"fp32": [False], "bf16": [True]}.get(precision, [False] if no_bf16 else [False, True])
    layout = {"contiguous": [False], "channels_last": [True]}.get(memory_format, [False, True])
    return [(b, c) for b in bf16 for c in layout]


def measure(time_steps: StepTimer, options: list[Option], budget: float = PROBE_BUDGET_S) -> Timings:
    """Seconds per step of each candidate, timed in turn, fp32 first: ROUNDS rounds, then more while the
    verdict is unclear (`unclear`), within `budget` seconds and MAX_ROUNDS. Hopeless candidates (HOPELESS) drop
    out early and are reported by the steps they were timed."""
    seconds: Timings = {o: [] for o in options}
    timing = sorted(options)  # fp32 first: the yardstick a hopeless bf16 is judged against
    started = time.perf_counter()
    for rounds in range(MAX_ROUNDS):
        if rounds >= ROUNDS and (not decide(recent(seconds)).doubt or time.perf_counter() - started > budget):
            break
        timing = timed_round(time_steps, timing, seconds)
    return {o: s for o, s in seconds.items() if s}


def timed_round(time_steps: StepTimer, timing: list[Option], seconds: Timings) -> list[Option]:
    """One step of each candidate in `timing`, added to `seconds`; the candidates that stay in the running."""
    for option in list(timing):
        if option not in timing:  # dropped earlier in this round
            continue
        bf16, channels_last = option
        seconds[option].append(time_steps(bf16, torch.channels_last if channels_last else torch.contiguous_format))
        fastest = min(min(s) for s in seconds.values() if s)
        if min(seconds[option]) > HOPELESS * fastest:
            timing = [o for o in timing if o != option and (o[0] != bf16 or seconds[o])]
    return timing


def recent(seconds: Timings) -> Timings:
    """Each timed candidate's last ROUNDS timings: what a verdict is judged on."""
    return {o: s[-ROUNDS:] for o, s in seconds.items() if s}


def decide(seconds: Timings) -> SpeedChoice:
    """The fastest fp32 setting by median, replaced by the fastest bf16 one only if it wins by MIN_BF16_GAIN.
    A part of the verdict that the timings leave open (`unclear`) keeps its default, fp32 or contiguous,
    and says why in `doubt`."""
    fp32 = {k: v for k, v in seconds.items() if not k[0]}
    bf16 = {k: v for k, v in seconds.items() if k[0]}
    if not fp32:  # bf16 asked for explicitly: only the layout was open
        return pick_layout(bf16, bf16=True, note="bf16 autocast (asked for)")
    if not bf16:
        return pick_layout(fp32, bf16=False, note="fp32")
    best_fp32, best_bf16 = fastest(fp32), fastest(bf16)
    gain = statistics.median(best_fp32) / statistics.median(best_bf16)
    doubt = unclear(best_fp32, best_bf16, MIN_BF16_GAIN, "bf16 autocast")
    if doubt:
        return pick_layout(fp32, bf16=False, note="fp32 by default", doubt=doubt)
    if gain >= MIN_BF16_GAIN:
        choice = pick_layout(bf16, bf16=True, note=f"bf16 autocast: {gain:.2f}x faster here than fp32")
    else:
        choice = pick_layout(fp32, bf16=False, note=f"fp32: bf16 autocast is {gain:.2f}x here")
    return replace(choice, close=MIN_BF16_GAIN / CLOSE_CALL <= gain < MIN_BF16_GAIN * CLOSE_CALL)


def known_hopeless(known_bf16: float) -> str:
    return f"fp32: bf16 autocast was {known_bf16:.2f}x on this CPU in an earlier probe, not timed again"


def fastest(seconds: Timings) -> list[float]:
    """The timings of the candidate with the lowest median."""
    return min(seconds.values(), key=statistics.median)


def unclear(slower: list[float], faster: list[float], gain: float, what: str) -> str:
    """Why it is open whether `faster` runs `gain` times as fast as `slower` ("" when it is not): its speed-up
    ranges from `faster`'s slowest against `slower`'s fastest to the other way round, across `gain`."""
    # Both ends of the two ranges must agree: then no one slow step among the last ROUNDS decided the verdict.
    if min(slower) >= gain * max(faster) or max(slower) < gain * min(faster):
        return ""
    worst, best = min(slower) / max(faster), max(slower) / min(faster)
    return f"{what} ran {worst:.2f}x to {best:.2f}x as fast, across the {gain:.2f}x it must clear"


def pick_layout(seconds: Timings, *, bf16: bool, note: str, doubt: str = "") -> SpeedChoice:
    """channels_last where it clearly gains MIN_LAYOUT_GAIN over the plain layout at this precision."""
    plain, nhwc = seconds.get((bf16, False)), seconds.get((bf16, True))
    if not nhwc or not plain:  # the layout was fixed, or the precision's other layout dropped out as hopeless
        only = nhwc or plain
        assert only, "a precision is decided on the timings of at least one of its layouts"
        return SpeedChoice(
            bf16,
            bool(nhwc),
            note + (", channels_last" if nhwc else ", contiguous layout"),
            statistics.median(only),
            doubt,
        )
    layout_doubt = unclear(plain, nhwc, MIN_LAYOUT_GAIN, "channels_last")
    gain = statistics.median(plain) / statistics.median(nhwc)
    if gain >= MIN_LAYOUT_GAIN and not layout_doubt:
        return SpeedChoice(bf16, True, f"{note}, channels_last {gain:.2f}x", statistics.median(nhwc), doubt)
    layout = ", contiguous layout by default" if layout_doubt else ", contiguous layout"
    settled = note if layout_doubt and not doubt else ""
    doubt = "; ".join(d for d in (doubt, layout_doubt) if d)
    return SpeedChoice(bf16, False, note + layout, statistics.median(plain), doubt, settled)


def choose(
    precision: str,
    memory_format: str,
    device: torch.device,
    shape: str,
    time_steps: StepTimer,
    cache_dir: str | Path | None = None,
    *,
    fresh: bool = False,
) -> SpeedChoice:
    """Precision and layout for a training step of the model `shape` describes (see the module doc);
    `fresh`: measure again whatever the cache holds (training found its own pace far off the cached one)."""
    options = candidates(precision, memory_format, device)
    if len(options) == 1:
        bf16, channels_last = options[0]
        return SpeedChoice(bf16, channels_last, "as asked for")
    path, key = cache_file(cache_dir), f"{cache_key(device, shape)}|{precision}|{memory_format}"
    cached = read_cache(path)
    entry = None if fresh else cached.get(key)
    hit = cached_choice(entry)
    if hit is not None:
        return hit
    # A precision already known here (an entry whose layout was left open, or a CPU without bf16 kernels):
    # only its layouts are timed.
    settled = settled_precision(entry) or (
        known_precision(cached, device) if precision == "auto" and not fresh else None
    )
    if settled is not None and any(bf16 == settled[0] for bf16, _ in options):
        options = [option for option in options if option[0] == settled[0]]
        if len(options) == 1:  # the layout fixed too: nothing to time
            return SpeedChoice(settled[0], options[0][1], settled[1])
    started = time.perf_counter()
    with OthersShare() as others:
        seconds = measure(time_steps, options)
    if settled is None:
        choice = decide(recent(seconds))
    else:  # the layout added to a cached precision keeps that precision's lifetime
        close = isinstance(entry, dict) and entry.get("days") == CLOSE_CALL_DAYS
        choice = replace(pick_layout(recent(seconds), bf16=settled[0], note=settled[1]), close=close)
    how = f"{max(map(len, seconds.values()))} rounds in {time.perf_counter() - started:.1f}s"
    if others.busy and device.type != "cuda":
        share = f"other processes took {others.share:.0%} of the CPUs"
        log.info("speed probe timed beside other work (%s): %s, for this run; nothing cached", share, choice.note)
        return choice
    if choice.doubt and device.type != "cuda":
        if choice.settled and settled is None and precision == "auto":
            # A clear precision is worth keeping: the next run times only its two layouts, half the probe.
            write_cache(path, {**cached, key: precision_entry(choice)})
            kept = "the precision cached, the layout measured again next run"
        else:
            kept = "nothing cached"
        log.info("speed probe unclear after %s (%s): %s, for this run; %s", how, choice.doubt, choice.note, kept)
        return choice
    if choice.doubt:  # a GPU has no busy neighbour to wait out: what stays open after the budget is a tie
        log.info("speed probe: within this GPU's noise after %s (%s), so a tie: %s", how, choice.doubt, choice.note)
    log.info("%s (measured in %s, cached in %s for %d day(s))", choice.note, how, path, choice.days)
    entries = {key: cache_entry(choice)}
    fastest_seconds, bf16_seconds = min(map(min, seconds.values())), [min(v) for (b, _), v in seconds.items() if b]
    if bf16_seconds and min(bf16_seconds) > HOPELESS * fastest_seconds:
        entries[cpu_verdict_key(device)] = {"bf16_speedup": fastest_seconds / min(bf16_seconds), "measured": today()}
    elif bf16_seconds:  # bf16 timed and not hopeless: an older verdict that it is no longer holds
        cached.pop(cpu_verdict_key(device), None)
    write_cache(path, {**cached, **entries})
    return choice


def today() -> str:
    return date.today().isoformat()


def cache_entry(choice: SpeedChoice) -> dict[str, object]:
    """A clear verdict as cached: the setting, its note, its seconds per step and the date it was measured."""
    return {
        "bf16": choice.bf16,
        "channels_last": choice.channels_last,
        "note": choice.note,
        "seconds_per_step": choice.seconds_per_step,
        "measured": today(),
        "days": choice.days,
    }


def precision_entry(choice: SpeedChoice) -> dict[str, object]:
    """The clear precision of a verdict whose layout stayed open, as cached (settled_precision reads it)."""
    return {
        "bf16": choice.bf16,
        "channels_last": None,
        "note": choice.settled,
        "measured": today(),
        "days": choice.days,
    }


def is_recent(entry: dict) -> bool:
    """Whether `entry` was measured within its "days" (MAX_AGE_DAYS where it names none); an undated one
    (cached before dates) is not."""
    try:
        measured = date.fromisoformat(entry["measured"])
        days = int(entry.get("days", MAX_AGE_DAYS))
    except (KeyError, TypeError, ValueError):
        return False
    return (date.today() - measured).days < days


def cached_choice(entry: object) -> SpeedChoice | None:
    """The verdict a recent, well-formed cache entry holds; None for any other (it is measured again)."""
    if not isinstance(entry, dict) or not is_recent(entry):
        return None
    bf16, channels_last, seconds = entry.get("bf16"), entry.get("channels_last"), entry.get("seconds_per_step")
    if not isinstance(bf16, bool) or not isinstance(channels_last, bool) or not isinstance(seconds, int | float):
        return None
    return SpeedChoice(bf16, channels_last, str(entry.get("note", "")), float(seconds))


def settled_precision(entry: object) -> tuple[bool, str] | None:
    """(bf16, the note) of a recent entry that holds only a precision: its layout was left open."""
    if not isinstance(entry, dict) or not is_recent(entry) or entry.get("channels_last") is not None:
        return None
    bf16 = entry.get("bf16")
    return (bf16, f"{entry.get('note', '')} (measured {entry['measured']})") if isinstance(bf16, bool) else None


def read_cache(path: Path) -> dict[str, dict]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # no cache yet, or a damaged one: measure again
    return loaded if isinstance(loaded, dict) else {}


def write_cache(path: Path, entries: dict[str, dict]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entries, indent=1) + "\n")
        tmp.replace(path)
    except OSError as exc:  # a read-only cache costs a probe per run, nothing more
        log.debug("could not cache the speed probe in %s: %s", path, exc)
