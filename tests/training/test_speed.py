"""The auto precision/layout decision, with injected probe timings: no timing noise in the assertions."""

import copy
import dataclasses
import itertools
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from vaegan.config import GANConfig, vae_run_config
from vaegan.training import contention, speed
from vaegan.training.contention import BUSY_SHARE  # bound at import: the suite's conftest raises it per test
from vaegan.training.train_gan import gan_probe
from vaegan.training.train_vae import vae_probe

CPU = torch.device("cpu")


def timer(table: dict[tuple[bool, bool], float], calls: list | None = None) -> speed.StepTimer:
    """A probe whose seconds come from `table`, keyed (bf16, channels_last)."""

    def time_steps(bf16: bool, layout: torch.memory_format) -> float:
        if calls is not None:
            calls.append((bf16, layout))
        return table[(bf16, layout == torch.channels_last)]

    return time_steps


SLOW_BF16 = {(False, False): 1.0, (False, True): 0.8, (True, False): 2.0, (True, True): 1.9}  # Intel, no AMX
FAST_BF16 = {(False, False): 1.0, (False, True): 0.9, (True, False): 0.6, (True, True): 0.5}  # AMD Zen 4


def test_a_cpu_with_slow_bf16_keeps_fp32_and_takes_the_faster_layout(tmp_path: Path) -> None:
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(SLOW_BF16), tmp_path)
    assert (choice.bf16, choice.channels_last) == (False, True)
    assert "fp32" in choice.note


def test_a_cpu_with_fast_bf16_picks_bf16_and_says_by_how_much(tmp_path: Path) -> None:
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16), tmp_path)
    assert (choice.bf16, choice.channels_last) == (True, True)
    assert "bf16 autocast: 1.80x faster" in choice.note


NO_BF16_KERNELS = {(False, False): 0.30, (False, True): 0.295, (True, False): 5.9, (True, True): 6.3}  # AVX2 EPYC


def test_a_hopeless_bf16_is_timed_once_and_its_other_layout_never(tmp_path: Path) -> None:
    """On a CPU without bf16 kernels each bf16 step costs 20 fp32 steps: the probe stops at the first."""
    calls: list = []
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(NO_BF16_KERNELS, calls), tmp_path)
    assert (choice.bf16, choice.channels_last) == (False, False)  # 0.300 against 0.295: within noise
    assert "bf16 autocast is 0.05x here" in choice.note
    assert calls.count((True, torch.contiguous_format)) == 1
    assert (True, torch.channels_last) not in calls
    assert calls.count((False, torch.channels_last)) == speed.ROUNDS


def test_a_merely_slower_bf16_is_timed_in_full(tmp_path: Path) -> None:
    calls: list = []
    speed.choose("auto", "auto", CPU, "vae-64", timer(SLOW_BF16, calls), tmp_path)
    assert len(calls) == 4 * speed.ROUNDS


def test_bf16_must_win_clearly_and_layouts_within_noise_stay_contiguous(tmp_path: Path) -> None:
    marginal = {(False, False): 1.0, (False, True): 0.99, (True, False): 0.95, (True, True): 0.97}
    choice = speed.choose("auto", "auto", CPU, "vae-28", timer(marginal), tmp_path)
    assert (choice.bf16, choice.channels_last) == (False, False)


def test_a_cache_hit_skips_the_probe(tmp_path: Path) -> None:
    calls: list = []
    first = speed.choose("auto", "auto", CPU, "gan-64", timer(FAST_BF16, calls), tmp_path)
    probed = len(calls)
    assert probed == 4 * speed.ROUNDS  # every candidate, alternately, ROUNDS times
    again = speed.choose("auto", "auto", CPU, "gan-64", timer(FAST_BF16, calls), tmp_path)
    assert again == first and len(calls) == probed
    other_model = speed.choose("auto", "auto", CPU, "gan-28", timer(SLOW_BF16, calls), tmp_path)
    assert len(calls) > probed and not other_model.bf16


def sequences(table: dict[tuple[bool, bool], list[float]], calls: list) -> speed.StepTimer:
    """A probe whose seconds for each (bf16, channels_last) come from its list in `table`, over and over."""
    cycles: dict[tuple[bool, bool], Iterator[float]] = {k: itertools.cycle(v) for k, v in table.items()}

    def time_steps(bf16: bool, layout: torch.memory_format) -> float:
        calls.append((bf16, layout))
        return next(cycles[(bf16, layout == torch.channels_last)])

    return time_steps


# A busy machine: every candidate's step takes half as long again every other time. bf16 is 1.4x faster
# by median, but its spread and fp32's overlap across the 1.10x it must clear, and the layouts' across 1.03x.
NOISY = {
    (False, False): [1.0, 1.5],
    (False, True): [0.98, 1.47],
    (True, False): [0.7, 1.05],
    (True, True): [0.69, 1.035],
}


def test_a_noisy_probe_keeps_fp32_contiguous_for_this_run_and_caches_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list = []
    with caplog.at_level(logging.INFO, logger="vaegan.training.speed"):
        choice = speed.choose("auto", "auto", CPU, "vae-64", sequences(NOISY, calls), tmp_path)
    assert (choice.bf16, choice.channels_last) == (False, False)
    assert "bf16 autocast ran" in choice.doubt and "channels_last ran" in choice.doubt
    assert choice.seconds_per_step == 1.5  # fp32 contiguous's median of its last 1.5, 1.0, 1.5: for the pace check
    assert len(calls) == 4 * speed.MAX_ROUNDS  # instant steps never spend the budget: timed to the bound
    assert not speed.cache_file(tmp_path).exists()
    [line] = [r.getMessage() for r in caplog.records]
    assert "unclear" in line and "nothing cached" in line and "across the 1.10x" in line


def test_an_unclear_layout_caches_the_clear_precision_and_the_next_run_times_only_its_layouts(
    tmp_path: Path,
) -> None:
    layouts_overlap = {(False, False): [1.0], (False, True): [1.0], (True, False): [0.5, 0.55], (True, True): [0.51]}
    choice = speed.choose("auto", "auto", CPU, "vae-64", sequences(layouts_overlap, []), tmp_path)
    assert (choice.bf16, choice.channels_last) == (True, False) and "channels_last ran" in choice.doubt
    [entry] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert (entry["bf16"], entry["channels_last"]) == (True, None) and entry["note"].startswith("bf16 autocast: 1.9")
    calls: list = []  # the next run: the layouts still overlap, bf16 is not asked again, the entry stays as it was
    again = speed.choose("auto", "auto", CPU, "vae-64", sequences(layouts_overlap, calls), tmp_path)
    assert (again.bf16, again.channels_last) == (True, False) and {bf16 for bf16, _ in calls} == {True}
    assert list(speed.read_cache(speed.cache_file(tmp_path)).values()) == [entry]
    calls.clear()  # a run that finds channels_last clearly faster caches the whole verdict
    clear = speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16, calls), tmp_path)
    assert (clear.bf16, clear.channels_last) == (True, True) and {bf16 for bf16, _ in calls} == {True}
    [full] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert full["channels_last"] is True and full["note"].startswith("bf16 autocast: 1.9")


def test_a_probe_timed_beside_other_work_decides_for_its_run_and_caches_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Seen on a 2-core EPYC: beside a neighbour, bf16 ran 5x slower than fp32, clearly, where idle it runs
    1.4x faster. Clear timings of a busy moment must not stand for the machine, nor bf16 be marked hopeless."""
    monkeypatch.setattr(contention.OthersShare, "__exit__", lambda self, *exc: setattr(self, "share", 0.6))
    monkeypatch.setattr(contention, "BUSY_SHARE", BUSY_SHARE)  # the suite's conftest counts no share as busy
    with caplog.at_level(logging.INFO, logger="vaegan.training.speed"):
        choice = speed.choose("auto", "auto", CPU, "vae-64", timer(NO_BF16_KERNELS), tmp_path)
    assert not choice.bf16 and choice.doubt == ""
    assert not speed.cache_file(tmp_path).exists()
    [line] = [r.getMessage() for r in caplog.records]
    assert "other processes took 60% of the CPUs" in line and "nothing cached" in line


def test_a_fresh_probe_times_bf16_again_on_a_cpu_once_found_hopeless(tmp_path: Path) -> None:
    """The pace check's probe: training ran far off the cached pace, so what the cache says is in doubt."""
    speed.choose("auto", "auto", CPU, "vae-64", timer(NO_BF16_KERNELS), tmp_path)
    calls: list = []
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16, calls), tmp_path, fresh=True)
    assert choice.bf16 and {bf16 for bf16, _ in calls} == {False, True}
    assert speed.known_bf16_speedup(speed.read_cache(speed.cache_file(tmp_path)), CPU) is None  # nor for others


def test_an_unclear_gpu_verdict_is_a_tie_cached_with_its_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The H100's layouts ran 0.85x to 1.47x of each other: launch jitter, which no later run settles either."""
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "a GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    cuda, calls = torch.device("cuda"), []
    choice = speed.choose("auto", "auto", cuda, "vae-64", sequences(NOISY, calls), tmp_path)
    assert (choice.bf16, choice.channels_last) == (False, False) and choice.doubt
    [entry] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert (entry["bf16"], entry["channels_last"]) == (False, False)
    again = speed.choose("auto", "auto", cuda, "vae-64", sequences(NOISY, calls), tmp_path)
    assert (again.bf16, again.channels_last) == (False, False) and len(calls) == 4 * speed.MAX_ROUNDS


def test_a_probe_times_on_until_its_verdict_is_clear_then_caches_it_with_its_date(tmp_path: Path) -> None:
    """The first rounds overlap (a busy neighbour), the later ones do not: the verdict waits for them."""
    settling = {option: [1.5 * s] * 2 + [s] * 20 for option, s in FAST_BF16.items()}
    settling[(True, True)] = [0.5, 1.2, 0.5, 1.2] + [0.5] * 20
    calls: list = []
    choice = speed.choose("auto", "auto", CPU, "vae-64", sequences(settling, calls), tmp_path)
    assert (choice.bf16, choice.channels_last) == (True, True) and choice.doubt == ""
    assert 4 * speed.ROUNDS < len(calls) < 4 * speed.MAX_ROUNDS
    [entry] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert entry["measured"] == speed.today() and entry["seconds_per_step"] == 0.5


def test_a_clear_verdict_is_cached_with_its_date_and_seconds_per_step(tmp_path: Path) -> None:
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16), tmp_path)
    [entry] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert entry == {
        "bf16": True,
        "channels_last": True,
        "note": choice.note,
        "seconds_per_step": FAST_BF16[(True, True)],
        "measured": speed.today(),
        "days": speed.MAX_AGE_DAYS,
    }


@pytest.mark.parametrize(
    "entry",
    [
        {"bf16": False, "channels_last": False, "note": "cached before dates"},
        {"bf16": False, "channels_last": False, "note": "old", "seconds_per_step": 1.0, "measured": "2000-01-01"},
        {"bf16": False, "channels_last": False, "note": "odd", "seconds_per_step": 1.0, "measured": 20250101},
        {"bf16": "no", "channels_last": False, "note": "damaged", "seconds_per_step": 1.0, "measured": "2099-01-01"},
        {"bf16": False, "channels_last": False, "note": "no figure", "measured": "2099-01-01"},
    ],
)
def test_a_stale_undated_or_damaged_cache_entry_is_measured_again(tmp_path: Path, entry: dict) -> None:
    key = f"{speed.cache_key(CPU, 'vae-64')}|auto|auto"
    speed.cache_file(tmp_path).write_text(json.dumps({key: entry}))
    calls: list = []
    choice = speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16, calls), tmp_path)
    assert choice.bf16 and len(calls) == 4 * speed.ROUNDS
    assert speed.read_cache(speed.cache_file(tmp_path))[key]["measured"] == speed.today()


def test_a_recent_entry_is_used_and_a_fresh_probe_measures_past_it(tmp_path: Path) -> None:
    """A verdict measured MAX_AGE_DAYS - 1 days ago still holds; `fresh` (training's pace check) measures anyway."""
    from datetime import date, timedelta

    key = f"{speed.cache_key(CPU, 'vae-64')}|auto|auto"
    measured = (date.today() - timedelta(days=speed.MAX_AGE_DAYS - 1)).isoformat()
    entry = {"bf16": False, "channels_last": False, "note": "n", "seconds_per_step": 2.0, "measured": measured}
    speed.cache_file(tmp_path).write_text(json.dumps({key: entry}))
    calls: list = []
    assert speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16, calls), tmp_path) == speed.SpeedChoice(
        False, False, "n", 2.0
    )
    assert calls == []
    assert speed.choose("auto", "auto", CPU, "vae-64", timer(FAST_BF16, calls), tmp_path, fresh=True).bf16
    assert len(calls) == 4 * speed.ROUNDS


def test_an_old_cpu_verdict_on_bf16_is_measured_again(tmp_path: Path) -> None:
    speed.cache_file(tmp_path).write_text(json.dumps({speed.cpu_verdict_key(CPU): {"bf16_speedup": 0.05}}))
    calls: list = []
    speed.choose("auto", "auto", CPU, "gan-64", timer(FAST_BF16, calls), tmp_path)
    assert {bf16 for bf16, _ in calls} == {False, True}


def test_explicit_settings_override_and_narrow_the_probe(tmp_path: Path) -> None:
    calls: list = []
    assert speed.choose("fp32", "contiguous", CPU, "m", timer(FAST_BF16, calls), tmp_path).bf16 is False
    assert calls == []  # nothing left to decide: no probe
    choice = speed.choose("fp32", "auto", CPU, "m", timer(FAST_BF16, calls), tmp_path)
    assert not choice.bf16 and {bf16 for bf16, _ in calls} == {False}
    assert speed.choose("bf16", "auto", CPU, "m2", timer(SLOW_BF16), tmp_path).bf16 is True


def test_a_damaged_cache_is_measured_again(tmp_path: Path) -> None:
    speed.cache_file(tmp_path).write_text("{not json")
    choice = speed.choose("auto", "auto", CPU, "m", timer(FAST_BF16), tmp_path)
    assert choice.bf16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_gpu_is_probed_too(tmp_path: Path) -> None:
    """On a GPU bf16 can lose too (an H200 at batch 64): the probe decides there as on the CPU."""
    cuda = torch.device("cuda")
    assert not speed.choose("auto", "auto", cuda, "m", timer(SLOW_BF16), tmp_path).bf16
    calls: list = []
    assert speed.choose("auto", "auto", cuda, "m2", timer(FAST_BF16, calls), tmp_path).bf16 and calls


def test_a_gpu_verdict_is_keyed_by_the_gpu_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two GPU models cache apart (as two CPU models do): an H200's fp32 verdict must not stand for another
    card. Runs without a GPU: only the name is asked for."""
    cuda, keys = torch.device("cuda"), {}
    for name in ("NVIDIA H200", "NVIDIA A100"):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None, name=name: name)
        keys[name] = (speed.cache_key(cuda, "m"), speed.cpu_verdict_key(cuda))
    assert keys["NVIDIA H200"][0] != keys["NVIDIA A100"][0] and keys["NVIDIA H200"][1] != keys["NVIDIA A100"][1]


def test_a_gpu_timing_covers_several_steps_up_to_their_last_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """One small step on a GPU is launch noise: the timer runs GPU_STEPS of them between synchronisations,
    so the queued kernels are counted; on the CPU, one step. Runs without a GPU: synchronize is recorded."""
    events: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    time_steps = speed.timer(lambda layout: lambda bf16: events.append("step"), torch.device("cuda"))
    time_steps(False, torch.contiguous_format)
    assert events == ["step"] + ["sync"] + ["step"] * speed.GPU_STEPS + ["sync"]  # warm-up, then the timed run
    events.clear()
    speed.timer(lambda layout: lambda bf16: events.append("step"), CPU)(False, torch.contiguous_format)
    assert events == ["step", "step"]


def test_a_probe_builds_one_model_per_layout_and_warms_up_each_candidate_once() -> None:
    """bf16 autocast and fp32 share a layout's model: four candidates, two models in memory."""
    built, stepped = [], []
    time_steps = speed.timer(lambda layout: built.append(layout) or (lambda bf16: stepped.append(bf16)), CPU)
    for bf16, layout in itertools.product((False, True), (torch.contiguous_format, torch.channels_last)):
        time_steps(bf16, layout)
        time_steps(bf16, layout)
    assert built == [torch.contiguous_format, torch.channels_last]
    assert stepped == [False] * 6 + [True] * 6  # per candidate: one warm-up, then one timed step per call


def test_a_training_run_on_auto_measures_once_and_caches_the_verdict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe is wired into the loop: the first run of a model shape writes the verdict, the next reads it.
    The real steps are timed, but their seconds come from a table: a busy machine must not leave it unclear."""
    from dataclasses import replace

    from tiny import tiny_config, tiny_splits
    from vaegan.training.train_vae import train_vae

    real_timer, ran = speed.timer, []

    def table_timer(prepare, device=None):  # type: ignore[no-untyped-def]
        time_steps = real_timer(prepare, device)

        def from_table(bf16: bool, layout: torch.memory_format) -> float:
            ran.append(time_steps(bf16, layout))
            return SLOW_BF16[(bf16, layout == torch.channels_last)]

        return from_table

    monkeypatch.setattr(speed, "timer", table_timer)
    cfg = tiny_config(epochs=1, precision="auto", memory_format="auto")
    cfg = replace(cfg, data=replace(cfg.data, cache_dir=str(tmp_path / "cache")))
    train_vae(cfg, tmp_path / "a", splits=tiny_splits())
    assert len(ran) == 4 * speed.ROUNDS  # the real step of every candidate
    cached = speed.read_cache(speed.cache_file(tmp_path / "cache"))
    verdicts = [entry for entry in cached.values() if "note" in entry]  # not the CPU's own bf16 verdict
    assert len(verdicts) == 1 and set(verdicts[0]) == {
        "bf16",
        "channels_last",
        "note",
        "seconds_per_step",
        "measured",
        "days",
    }
    assert verdicts[0]["seconds_per_step"] == SLOW_BF16[(False, True)]
    train_vae(cfg, tmp_path / "b", splits=tiny_splits())
    assert speed.read_cache(speed.cache_file(tmp_path / "cache")) == cached and len(ran) == 4 * speed.ROUNDS


def test_a_cpu_that_proved_bf16_hopeless_is_not_asked_again_for_another_model(tmp_path: Path) -> None:
    """bf16 without kernels is the CPU's verdict: the next model's probe times fp32 layouts only."""
    speed.choose("auto", "auto", CPU, "vae-64", timer(NO_BF16_KERNELS), tmp_path)
    calls: list = []
    choice = speed.choose("auto", "auto", CPU, "gan-64", timer(NO_BF16_KERNELS, calls), tmp_path)
    assert not choice.bf16 and calls and {bf16 for bf16, _ in calls} == {False}
    assert "bf16 autocast was 0.05x on this CPU in an earlier probe" in choice.note
    fixed_layout = speed.choose("auto", "contiguous", CPU, "gan-28", timer(NO_BF16_KERNELS, calls), tmp_path)
    assert fixed_layout == speed.SpeedChoice(False, False, fixed_layout.note) and len(calls) == 2 * speed.ROUNDS
    assert speed.choose("bf16", "contiguous", CPU, "m", timer(NO_BF16_KERNELS), tmp_path).bf16  # asked for


def test_a_merely_slower_bf16_leaves_the_next_model_to_be_timed_in_full(tmp_path: Path) -> None:
    speed.choose("auto", "auto", CPU, "vae-64", timer(SLOW_BF16), tmp_path)
    calls: list = []
    speed.choose("auto", "auto", CPU, "gan-64", timer(SLOW_BF16, calls), tmp_path)
    assert len(calls) == 4 * speed.ROUNDS


def changed(config: object, name: str) -> object:
    """A copy of the frozen dataclass `config` with field `name` set to a value no config holds."""
    copied = copy.copy(config)
    object.__setattr__(copied, name, ("changed", getattr(config, name)))
    return copied


def test_the_probe_key_changes_with_every_field_that_shapes_a_step_and_no_other() -> None:
    """A verdict timed for one step is never reused for another: every field of the model, the VAE's loss and
    each stage's settings enters its probe's key, but those that cannot change a step's cost (NOT_IN_STEP:
    a longer run, another seed or learning rate reuses the verdict). A new option enters by itself."""
    images = torch.zeros(100, 3, 16, 16, dtype=torch.uint8)  # more than a batch: the batch is not cut to fit
    cfg = vae_run_config(data={"source": "emoji", "image_size": 16, "channels": 3}, model={"base_channels": 4})
    gc = GANConfig(disc_channels=4)
    vae_key, gan_key = vae_probe(cfg, images).shape, gan_probe(gc, cfg, images).shape
    for section in ("model", "loss", "train"):
        for f in dataclasses.fields(getattr(cfg, section)):
            if f.name == "batch_size":  # the key holds one process's share of it, below
                continue
            other = copy.copy(cfg)
            object.__setattr__(other, section, changed(getattr(cfg, section), f.name))
            keys = vae_probe(other, images).shape, gan_probe(gc, other, images).shape
            assert (keys[0] != vae_key) == (f.name not in speed.NOT_IN_STEP), (section, f.name)
            if section == "model":  # the GAN's step is the VAE model's too
                assert (keys[1] != gan_key) == (f.name not in speed.NOT_IN_STEP), (section, f.name)
    for f in dataclasses.fields(gc):
        if f.name != "batch_size":
            key = gan_probe(changed(gc, f.name), cfg, images).shape  # type: ignore[arg-type]
            assert (key != gan_key) == (f.name not in speed.NOT_IN_STEP), ("gan", f.name)
    assert gan_probe(dataclasses.replace(gc, batch_size=2), cfg, images).shape != gan_key
    assert gan_probe(gc, cfg, images, processes=2).shape != gan_key  # two processes: half the batch each


def test_cpus_of_one_name_but_another_family_are_told_apart() -> None:
    zen4 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nmodel name\t: AMD EPYC\n\n"
    zen5 = zen4.replace("family\t: 25", "family\t: 26").replace("\t: 17", "\t: 2")
    assert speed.cpu_name(zen4) == "AMD EPYC (family 25, model 17)"
    assert speed.cpu_name(zen5) == "AMD EPYC (family 26, model 2)"
    assert speed.cpu_name("model name\t: Apple M2\n") == "Apple M2"  # no family line: the name alone
    assert speed.cpu_name("") == ""


@pytest.mark.parametrize(
    ("bf16_seconds", "close"),
    [(0.96, True), (0.85, True), (1.5, False), (0.6, False)],
    ids=["fp32-by-1.04x", "bf16-by-1.18x", "fp32-by-far", "bf16-by-far"],
)
def test_a_close_call_is_cached_for_a_day_and_a_clear_one_for_a_month(
    tmp_path: Path, bf16_seconds: float, close: bool
) -> None:
    """A bf16 gain near MIN_BF16_GAIN is what a neighbour unseen in /proc/stat moves: measured again tomorrow."""
    table = {(False, False): 1.0, (False, True): 1.0, (True, False): bf16_seconds, (True, True): bf16_seconds}
    choice = speed.choose("auto", "contiguous", CPU, "vae-28", timer(table), tmp_path)
    assert choice.close is close
    (entry,) = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert entry["days"] == (speed.CLOSE_CALL_DAYS if close else speed.MAX_AGE_DAYS)


def test_a_close_call_from_yesterday_is_measured_again(tmp_path: Path) -> None:
    from datetime import date, timedelta

    key = f"{speed.cache_key(CPU, 'vae-28')}|auto|auto"
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    entry = {"bf16": False, "channels_last": True, "note": "fp32: bf16 autocast is 1.04x here", "seconds_per_step": 1.0}
    speed.cache_file(tmp_path).write_text(json.dumps({key: {**entry, "measured": yesterday, "days": 1}}))
    calls: list = []
    assert speed.choose("auto", "auto", CPU, "vae-28", timer(FAST_BF16, calls), tmp_path).bf16
    assert len(calls) == 4 * speed.ROUNDS
    # the same verdict of a month's lifetime still holds
    speed.cache_file(tmp_path).write_text(json.dumps({key: {**entry, "measured": yesterday}}))
    assert not speed.choose("auto", "auto", CPU, "vae-28", timer(FAST_BF16, calls), tmp_path).bf16
    assert len(calls) == 4 * speed.ROUNDS


def test_a_layout_settled_on_a_close_precision_keeps_its_day(tmp_path: Path) -> None:
    """bf16 1.15x ahead, clearly but close: the precision is cached for a day while the layouts overlap, and
    the whole verdict that a later run completes with a clear layout keeps that day, not a month."""
    layouts_overlap = {
        (False, False): [1.0],
        (False, True): [1.0],
        (True, False): [0.87, 0.9],
        (True, True): [0.85, 0.9],
    }
    speed.choose("auto", "auto", CPU, "vae-28", sequences(layouts_overlap, []), tmp_path)
    [entry] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert (entry["bf16"], entry["channels_last"], entry["days"]) == (True, None, speed.CLOSE_CALL_DAYS)
    clear_layout = {(False, False): 1.0, (False, True): 1.0, (True, False): 0.87, (True, True): 0.8}
    assert speed.choose("auto", "auto", CPU, "vae-28", timer(clear_layout), tmp_path).channels_last
    [full] = speed.read_cache(speed.cache_file(tmp_path)).values()
    assert (full["bf16"], full["channels_last"], full["days"]) == (True, True, speed.CLOSE_CALL_DAYS)
