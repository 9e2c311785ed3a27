"""`--compile`: the auto decision with injected step timings, and a real compiled VAE run that resumes exactly."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from tiny import tiny_config, tiny_splits
from vaegan.checkpoint import load_checkpoint
from vaegan.errors import VaeganError
from vaegan.training import compiling, speed
from vaegan.training.train_vae import train_vae

CPU = torch.device("cpu")


class Clocked:
    """A trial whose steps take the seconds their lists give, in turn (the last one repeats): eager steps,
    then compiled ones, the first compiled call being the compile. Each step really moves a weight."""

    def __init__(self, eager: list[float], compiled: list[float], *, fails: bool = False) -> None:
        self.times = {False: iter(eager + [eager[-1]] * 100), True: iter(compiled + [compiled[-1]] * 100)}
        self.fails, self.calls = fails, {False: 0, True: 0}
        self.net = torch.nn.Linear(2, 2)

    def step(self, compiled: bool, size: int) -> object:
        if compiled and self.fails:
            raise RuntimeError("no C++ compiler found\nmore detail")
        self.calls[compiled] += 1
        with torch.no_grad():
            self.net.weight += 1.0
        return None

    def trial(self) -> compiling.Trial:
        return compiling.Trial(self.step, [4, 2], (self.net,), CPU)


@pytest.fixture
def clocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """compiling.timed reads the Clocked trial's table instead of the wall clock."""

    def timed(trial: compiling.Trial, compiled: bool) -> float:
        owner: Clocked = trial.step.__self__  # type: ignore[attr-defined]
        trial.step(compiled, trial.sizes[0])
        return next(owner.times[compiled])

    monkeypatch.setattr(compiling, "timed", timed)
    yield


def decide(trial: Clocked, tmp_path: Path, steps: int = 10_000, mode: str = "auto") -> compiling.Verdict:
    return compiling.decide(mode, trial.trial(), shape="vae-64", planned_steps=steps, cache_dir=str(tmp_path))


def cached(tmp_path: Path) -> dict:
    path = speed.cache_file(tmp_path)
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.usefixtures("clocked")
def test_a_clear_win_compiles_caches_its_figures_and_leaves_the_weights_as_they_were(tmp_path: Path) -> None:
    trial = Clocked(eager=[0.2], compiled=[20.2, 0.1])
    before = trial.net.weight.clone()
    verdict = decide(trial, tmp_path)
    assert verdict.compiled and "2.00x" in verdict.note
    assert verdict.seconds_per_step == pytest.approx(0.1)
    assert torch.equal(trial.net.weight, before)  # every trial step undone
    (entry,) = cached(tmp_path).values()
    assert entry["speedup"] == pytest.approx(2.0) and entry["compile_seconds"] == pytest.approx(20.0)


@pytest.mark.usefixtures("clocked")
def test_a_cached_win_compiles_a_long_stage_untimed_and_leaves_a_short_one_eager(tmp_path: Path) -> None:
    decide(Clocked(eager=[0.2], compiled=[20.2, 0.1]), tmp_path)
    later = Clocked(eager=[0.2], compiled=[0.1])
    assert decide(later, tmp_path, steps=10_000).compiled
    assert later.calls == {False: 0, True: 2}  # no timing: only each batch size compiled before training
    short = Clocked(eager=[0.2], compiled=[0.1])
    verdict = decide(short, tmp_path, steps=150)  # 30 s of steps cannot win back a 20 s compile at 2x
    assert not verdict.compiled and "2.00x" in verdict.note
    assert short.calls[True] == 0


@pytest.mark.usefixtures("clocked")
def test_a_noisy_trial_keeps_eager_and_caches_nothing(tmp_path: Path) -> None:
    trial = Clocked(eager=[0.2], compiled=[20.2] + [0.05, 0.3] * 40)
    verdict = decide(trial, tmp_path)
    assert not verdict.compiled and "unclear" in verdict.note
    assert cached(tmp_path) == {}


@pytest.mark.usefixtures("clocked")
def test_a_slower_compiled_step_is_cached_as_such_and_not_tried_again(tmp_path: Path) -> None:
    assert not decide(Clocked(eager=[0.1], compiled=[20.1, 0.15]), tmp_path).compiled
    again = Clocked(eager=[0.1], compiled=[0.15])
    assert not decide(again, tmp_path).compiled
    assert again.calls == {False: 0, True: 0}


@pytest.mark.usefixtures("clocked")
def test_a_stage_too_short_for_a_trial_never_compiles(tmp_path: Path) -> None:
    trial = Clocked(eager=[0.1], compiled=[0.05])
    verdict = decide(trial, tmp_path, steps=100)  # 10 s of steps
    assert not verdict.compiled and "cannot win back" in verdict.note
    assert trial.calls[True] == 0 and cached(tmp_path) == {}


@pytest.mark.usefixtures("clocked")
def test_the_speed_probes_figure_judges_the_stage_without_timing_it_again(tmp_path: Path) -> None:
    trial = Clocked(eager=[0.1], compiled=[0.05])
    verdict = compiling.decide(
        "auto", trial.trial(), shape="vae-64", planned_steps=100, cache_dir=str(tmp_path), seconds_per_step=0.1
    )
    assert not verdict.compiled and "about 10 s of steps" in verdict.note
    assert trial.calls == {False: 0, True: 0}


@pytest.mark.usefixtures("clocked")
def test_a_failing_compile_trains_eager_says_why_once_and_is_not_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        assert not decide(Clocked(eager=[0.1], compiled=[0.05], fails=True), tmp_path).compiled
    assert "torch.compile failed here (RuntimeError: no C++ compiler found)" in caplog.text
    again = Clocked(eager=[0.1], compiled=[0.05], fails=True)
    verdict = decide(again, tmp_path)
    assert not verdict.compiled and "failed" in verdict.note and again.calls[False] == 0


@pytest.mark.usefixtures("clocked")
def test_a_compile_asked_for_that_fails_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(VaeganError, match="--compile on: torch.compile failed here .*use --compile auto or off"):
        decide(Clocked(eager=[0.1], compiled=[0.05], fails=True), tmp_path, mode="on")


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt").model


def test_a_compiled_vae_trains_and_resumes_exactly(tmp_path: Path) -> None:
    """--compile on, for real: the graphs compile, and a run stopped after its first epoch and resumed ends
    with the weights of one that ran straight through (static shapes: the same kernels either way)."""
    splits = tiny_splits()  # 16 training images in batches of 4: one batch size, one graph per network call
    graphs = counters["stats"]["unique_graphs"]
    train_vae(tiny_config(epochs=2, compile="on"), tmp_path / "straight", splits=splits)
    assert counters["stats"]["unique_graphs"] > graphs
    train_vae(tiny_config(epochs=1, compile="on"), tmp_path / "split", splits=splits)
    train_vae(tiny_config(), tmp_path / "split", resume=True, wanted={"train": {"epochs": 2}}, splits=splits)
    straight, resumed = final_weights(tmp_path / "straight"), final_weights(tmp_path / "split")
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert not any("_orig_mod" in k for k in straight)  # the model's own names, not the compiled wrapper's
