"""Training's own pace against the speed probe's figure: injected probe timings and an injected clock."""

import json
import logging
import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from tiny import tiny_config, tiny_gan, tiny_splits
from vaegan.config import GANRunConfig
from vaegan.training import pace, speed, train_gan, train_vae
from vaegan.training.stopping import Clock

CPU = torch.device("cpu")
FP32_PLAIN = {(False, False): 1.0, (False, True): 1.0, (True, False): 2.0, (True, True): 2.0}  # fp32, contiguous
FAST_BF16 = {(False, False): 1.0, (False, True): 0.9, (True, False): 0.6, (True, True): 0.5}  # bf16, channels_last


def test_off_pace_is_a_ratio_either_way() -> None:
    assert not pace.off_pace(1.25, 1.0) and not pace.off_pace(0.8, 1.0)
    assert pace.off_pace(1.4, 1.0) and pace.off_pace(0.7, 1.0)


def test_pace_leaves_each_epochs_first_step_out_and_counts_a_short_batch_by_its_images() -> None:
    now = [0.0]
    counted = pace.Pace(CPU)
    for steps in ([4, 4, 4], [4, 4, 2]):  # two epochs, the second's last batch half a batch
        for i, images in enumerate(steps):
            now[0] += 100.0 if i == 0 else 1.0  # a slow first step (warm-up, the epoch's set-up)
            if i == 0:
                counted.start(lambda: now[0])
            else:
                counted.count(images, 4)
        counted.end(lambda: now[0])
    assert counted.steps == 3.5 and counted.seconds == 4.0
    assert counted.seconds_per_step() == pytest.approx(4.0 / 3.5)


class StepClock(Clock):
    """A run's clock that moves `per_step` seconds with every training step (on_step), whatever the wall clock."""

    def __init__(self, per_step: float) -> None:
        super().__init__()
        self.per_step, self.steps = per_step, 0

    def seconds(self) -> float:
        return self.steps * self.per_step

    def tick(self, step: int, values: torch.Tensor) -> None:
        self.steps += 1


def probe_changes_once_training_starts(monkeypatch: pytest.MonkeyPatch, clock: StepClock) -> list[int]:
    """The probe first finds fp32 contiguous best at 1 s/step and, once training has started, bf16 and
    channels_last; returns the clock's steps at each probe's timing."""
    monkeypatch.setattr(pace, "PACE_STEPS", 3)  # a tiny epoch's 4 steps less its first: checked after epoch 1
    probed: list[int] = []

    def table_timer(prepare, device=None):  # type: ignore[no-untyped-def]
        def time_steps(bf16: bool, layout: torch.memory_format) -> float:
            probed.append(clock.steps)
            return (FAST_BF16 if clock.steps else FP32_PLAIN)[(bf16, layout == torch.channels_last)]

        return time_steps

    monkeypatch.setattr(speed, "timer", table_timer)
    return probed


def run_with_pace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_step: float) -> tuple[list, list]:
    """A VAE on auto whose clock says `per_step` (probe_changes_once_training_starts): (the clock's steps at
    each probe's timing during training, each step's bf16 and channels_last for batch and decoder)."""
    clock, steps = StepClock(per_step), []
    probed = probe_changes_once_training_starts(monkeypatch, clock)
    real_step = train_vae.vae_step

    def recording_step(model, optimizer, x, eps, **kwargs):  # type: ignore[no-untyped-def]
        decoder_layout = model.decoder.layout == torch.channels_last
        steps.append((kwargs["bf16"], x.is_contiguous(memory_format=torch.channels_last), decoder_layout))
        return real_step(model, optimizer, x, eps, **kwargs)

    monkeypatch.setattr(train_vae, "vae_step", recording_step)
    cfg = tiny_config(epochs=3, precision="auto", memory_format="auto", compile="off")  # steps: training's only
    cfg = replace(cfg, data=replace(cfg.data, cache_dir=str(tmp_path / "cache")))
    train_vae.train_vae(cfg, tmp_path / "run", splits=tiny_splits(), on_step=clock.tick, clock=clock)
    return [p for p in probed if p], steps


def test_a_slow_first_epoch_measures_again_and_switches_precision_and_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Training at 2 s/step where the probe said 1: rank 0 probes again, finds bf16 and channels_last clearly
    faster now, and the rest of the run takes them, its decoder placed again; the check runs once."""
    with caplog.at_level(logging.INFO, logger="vaegan.training.pace"):
        probed, steps = run_with_pace(tmp_path, monkeypatch, per_step=2.0)
    assert probed and set(probed) == {4}  # one probe, after epoch 1's 4 steps
    assert steps[:4] == [(False, False, False)] * 4
    assert steps[4:] == [(True, True, True)] * 8
    [line] = [r.getMessage() for r in caplog.records if r.name == pace.__name__]
    assert "training took 2 s/step where the speed probe expected 1 s/step for fp32, contiguous" in line
    assert line.endswith("now bf16 autocast, channels_last")
    [entry] = speed.read_cache(speed.cache_file(tmp_path / "cache")).values()
    assert entry["bf16"] and entry["seconds_per_step"] == FAST_BF16[(True, True)]


def test_training_at_the_probes_pace_is_not_measured_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="vaegan.training.pace"):
        probed, steps = run_with_pace(tmp_path, monkeypatch, per_step=1.2)
    assert probed == [] and steps == [(False, False, False)] * 12
    assert not [r for r in caplog.records if r.name == pace.__name__]


def test_a_gan_stage_switches_too_its_generator_and_ema_placed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vae_cfg = tiny_config(epochs=1, memory_format="contiguous")
    vae_cfg = replace(vae_cfg, data=replace(vae_cfg.data, cache_dir=str(tmp_path / "cache")))
    train_vae.train_vae(vae_cfg, tmp_path / "vae", splits=tiny_splits())
    clock, steps = StepClock(2.0), []
    probed = probe_changes_once_training_starts(monkeypatch, clock)
    real_step = train_gan.gan_step

    def recording_step(nets, real, z, **kwargs):  # type: ignore[no-untyped-def]
        layouts = [net.layout == torch.channels_last for net in (nets.generator, nets.ema)]
        steps.append((kwargs["bf16"], real.is_contiguous(memory_format=torch.channels_last), *layouts))
        return real_step(nets, real, z, **kwargs)

    monkeypatch.setattr(train_gan, "gan_step", recording_step)
    gan = tiny_gan(epochs=2, precision="auto", memory_format="auto")
    cfg = GANRunConfig(str(tmp_path / "vae" / "checkpoint.pt"), gan)
    train_gan.train_gan(cfg, tmp_path / "gan", splits=tiny_splits(), on_step=clock.tick, clock=clock)
    assert set(p for p in probed if p) == {4}
    assert steps == [(False, False, False, False)] * 4 + [(True, True, True, True)] * 4


def _train_on_rank(rank: int, world: int, folder: str) -> None:
    """One gloo process of test_every_rank_follows_rank_0s_second_verdict: rank 0's steps run slow, rank 1's
    at the probe's pace; each rank writes the settings of its steps and whether its probe was asked."""
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world)
    monkeypatch = pytest.MonkeyPatch()
    clock, steps = StepClock(2.0 if rank == 0 else 1.0), []
    probed = probe_changes_once_training_starts(monkeypatch, clock)
    real_step = train_vae.vae_step

    def recording_step(model, optimizer, x, eps, **kwargs):  # type: ignore[no-untyped-def]
        steps.append([kwargs["bf16"], x.is_contiguous(memory_format=torch.channels_last)])
        return real_step(model, optimizer, x, eps, **kwargs)

    monkeypatch.setattr(train_vae, "vae_step", recording_step)
    cfg = tiny_config(epochs=2, precision="auto", memory_format="auto")
    cfg = replace(cfg, data=replace(cfg.data, cache_dir=f"{folder}/cache{rank}"))
    train_vae.train_vae(cfg, Path(folder, "run"), splits=tiny_splits(), on_step=clock.tick, clock=clock)
    Path(folder, f"{rank}.json").write_text(json.dumps({"steps": steps, "probed": bool(probed)}))
    dist.destroy_process_group()


def test_every_rank_follows_rank_0s_second_verdict(tmp_path: Path) -> None:
    """Only rank 0 judges its pace and probes again; DDP needs one setting, so rank 1, whose own steps ran at
    the probe's pace, switches with it at the same step."""
    torch.multiprocessing.spawn(_train_on_rank, args=(2, str(tmp_path)), nprocs=2)
    ranks = [json.loads((tmp_path / f"{rank}.json").read_text()) for rank in (0, 1)]
    assert ranks[0]["probed"] and not ranks[1]["probed"]
    for rank in ranks:
        assert rank["steps"] == [[False, False]] * 4 + [[True, True]] * 4
