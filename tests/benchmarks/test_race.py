"""The equal wall-clock race: each variant trains for its budget, give or take one step; scoring is free."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import pytest
import torch
from race import (
    LAST_LOSSES,
    GANTrainer,
    Stage,
    VAETrainer,
    draw,
    logged,
    most_real,
    normal,
    run_timed,
    scratch_config,
    variants,
)

from tiny import tiny_splits
from vaegan.config import GANConfig, vae_run_config
from vaegan.models.blocks import ResizeConv
from vaegan.training.speed import SpeedChoice

BUDGET = 1.0  # seconds of training per variant


def stage(name: str, until: float, step_s: float, counter: list[int]) -> Stage:
    def step() -> float:
        counter.append(1)
        time.sleep(step_s)
        return 1.0 / len(counter)

    return Stage(name, step, until, lambda z: z, lambda: normal(4), (0.0, 1.0))


def test_stages_stop_at_their_end_times_and_scoring_is_not_counted() -> None:
    vae_steps: list[int] = []
    gan_steps: list[int] = []
    stages = [stage("vae", 0.2, 0.01, vae_steps), stage("gan", 0.5, 0.02, gan_steps)]
    scored: list[tuple[str, float]] = []

    def score(s: Stage, elapsed: float) -> None:
        scored.append((s.name, elapsed))
        time.sleep(0.1)  # a slow FID: must not eat into the budget

    ends = run_timed(stages, [0.1, 0.2, 0.5], score)
    assert 0.2 <= ends[0] < 0.2 + 0.01 * 3  # overshoot: at most about one step
    assert 0.5 <= ends[1] < 0.5 + 0.02 * 3
    assert [name for name, _ in scored] == ["vae", "vae", "gan"]  # the mark at the switch scores the VAE
    assert len(gan_steps) >= 0.3 / 0.02 * 0.7  # the GAN's share was not spent on scoring


def test_a_logged_stage_counts_its_steps_and_keeps_the_mean_of_its_last_losses() -> None:
    log: list[dict] = []
    counter: list[int] = []
    stages = [logged(stage("vae", 0.05, 0.0005, counter), log)]
    run_timed(stages, [], lambda s, t: None)
    n = len(counter)  # the step returns 1 / (steps so far)
    expected = sum(1.0 / k for k in range(max(1, n - LAST_LOSSES + 1), n + 1)) / min(n, LAST_LOSSES)
    assert n > LAST_LOSSES and log == [{"stage": "vae", "steps": n, "closing_loss": pytest.approx(expected)}]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple:
    cfg = vae_run_config(
        data={"source": "unused", "image_size": 16, "channels": 3, "cache_dir": str(tmp_path)},  # auto's probe cache
        model={"latent_dim": 4, "base_channels": 4},
        train={"batch_size": 8},
    )
    gan = GANConfig(batch_size=8, disc_channels=4, latents="fitted", anchor="pixel", r1_gamma=1.0)
    return cfg, gan, tiny_splits(n=32).train.images


def timed(stage: Stage, durations: list[float]) -> Stage:
    """The same stage, recording how long each of its steps took."""

    def step() -> float:
        start = time.perf_counter()
        loss = stage.step()
        durations.append(time.perf_counter() - start)
        return loss

    return Stage(stage.name, step, stage.until, stage.decode, stage.latents, stage.value_range, stage.disc)


def test_every_variant_gets_its_budget_within_one_step(tiny: tuple) -> None:
    cfg, gan, images = tiny
    torch.manual_seed(0)
    for name, build in variants(cfg, gan, images, BUDGET, vae_share=0.5, seed=0).items():
        scores: list[float] = []
        durations: list[float] = []
        stages = [timed(s, durations) for s in build()]
        ends = run_timed(stages, [BUDGET / 2, BUDGET], lambda s, t, scores=scores: scores.append(t))
        # Over budget by at most one step: a few percent once a budget holds dozens of steps
        # (not asserted as a percentage: on a loaded 2-core machine one tiny step can take 100 ms).
        assert BUDGET <= ends[-1] <= BUDGET + max(durations) + 1e-3, (name, ends)
        assert len(durations) >= 3, name
        if name == "two-stage":
            assert BUDGET / 2 <= ends[0] <= BUDGET / 2 + max(durations) + 1e-3  # the VAE's half, then the GAN's
        assert len(scores) == 2
        images_out = draw(stages[-1], 10, seed=0)
        assert images_out.shape == (10, 3, 16, 16) and images_out.dtype == torch.uint8
        if name.startswith("two-stage"):  # a GAN with its D: --rank draws twice as many and keeps half
            ranked = draw(stages[-1], 10, seed=0, rank=2)
            assert ranked.shape == images_out.shape and not torch.equal(ranked, images_out)


def test_the_two_stage_gan_draws_from_the_fitted_prior_and_the_scratch_gan_from_n01(tiny: tuple) -> None:
    cfg, gan, images = tiny
    built = variants(cfg, gan, images, BUDGET, vae_share=0.5, seed=0)
    vae, gan_stage = built["two-stage"]()
    vae.step()
    gan_stage.step()  # builds the GAN and fits its prior to the VAE's latents
    g = torch.Generator().manual_seed(0)
    z = gan_stage.latents()(4000, g)
    assert z.mean(0).abs().max() > 0.05 or (z.std(0) - 1).abs().max() > 0.05  # not N(0, I): the fitted mixture
    (scratch,) = built["scratch-gan"]()
    z = scratch.latents()(4000, g)
    assert z.mean(0).abs().max() < 0.1 and (z.std(0) - 1).abs().max() < 0.1
    assert scratch_config(gan).anchor == "none" and scratch_config(gan).init == "scratch"


def channels_last_outputs(model: torch.nn.Module) -> list[bool]:
    """Filled on each forward: whether every conv-like layer's output was strictly channels_last."""
    seen: list[bool] = []

    def note(module: torch.nn.Module, inputs: object, out: torch.Tensor) -> None:
        seen.append(out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous())

    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d | torch.nn.ConvTranspose2d | ResizeConv):
            module.register_forward_hook(note)
    return seen


def test_the_trainers_run_in_the_layout_and_precision_they_are_given(tiny: tuple) -> None:
    cfg, gan, images = tiny
    bf16_nhwc = SpeedChoice(bf16=True, channels_last=True, note="as the probe might pick")
    vae = VAETrainer(cfg, images, 0, bf16_nhwc)
    conv = next(m for m in vae.model.modules() if isinstance(m, torch.nn.Conv2d))
    layouts = channels_last_outputs(vae.model)
    before = conv.weight.detach().clone()
    assert math.isfinite(vae.step())
    assert len(layouts) >= 4 and all(layouts)  # encoder and decoder feature maps alike
    assert conv.weight.dtype == torch.float32 and not torch.equal(conv.weight, before)  # fp32 master weights move
    trainer = GANTrainer(cfg, gan, images, 0, vae.model, None, bf16_nhwc)
    layouts = channels_last_outputs(trainer.nets.trained_d)
    assert all(math.isfinite(trainer.step()) for _ in range(3))
    assert layouts and all(layouts)


@pytest.mark.parametrize("warmup, expected", [(0, [1.0, 0.75, 0.5, 0.25]), (2, [0.5, 0.75, 0.5, 0.25])])
def test_vae_trainer_decays_its_learning_rate_linearly_to_zero_when_asked(
    tiny: tuple, warmup: int, expected: list[float]
) -> None:
    """After the learning-rate warm-up, which the decay multiplies."""
    cfg, _, images = tiny
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr_warmup_steps=warmup))
    decaying, constant = VAETrainer(cfg, images, 0, decay_steps=4), VAETrainer(cfg, images, 0)
    rates = []
    for _ in range(4):
        decaying.step()
        constant.step()
        rates.append(decaying.opt.param_groups[0]["lr"] / cfg.train.lr)
    assert rates == pytest.approx(expected) and constant.opt.param_groups[0]["lr"] == cfg.train.lr


def test_quality_races_the_presets_unless_told_the_prior_components_or_gan_settings() -> None:
    from quality import configs

    from vaegan.presets import dataset_defaults

    preset = dataset_defaults("emoji")
    defaults = vae_run_config(**preset).model, GANConfig(**preset["gan"])  # what `vaegan run` would train
    cfg, gan = configs("emoji", None)
    assert cfg.model.prior_components == defaults[0].prior_components
    assert gan.r1_every == defaults[1].r1_every  # the GAN recipe a record stores is the preset's
    assert configs("emoji", None, 7)[0].model.prior_components == 7
    two_time_scale = configs("emoji", None, None, {"lr_d": 4e-4})[1]
    assert two_time_scale.lr_d == 4e-4 and dataclasses.replace(two_time_scale, lr_d=gan.lr_d) == gan
    grey = configs("fashion-mnist", None)[1]
    lazy = configs("fashion-mnist", None, None, {"r1_every": 3})[1]
    assert lazy.r1_every == 3 and dataclasses.replace(lazy, r1_every=grey.r1_every) == grey


def test_quality_passes_on_only_the_gan_settings_given() -> None:
    import argparse

    from quality import gan_overrides

    none = {"lr_d": None, "r1_every": None, "disc_head": None, "disc_init": None}

    def given(**settings: object) -> dict:
        return gan_overrides(argparse.Namespace(**{**none, **settings}))

    assert given(r1_every=16) == {"r1_every": 16}
    assert given(lr_d=4e-4) == {"lr_d": 4e-4}
    assert given(disc_head="patch") == {"disc_head": "patch"}
    assert given(disc_init="encoder") == {"disc_init": "encoder"}
    assert given() == {}  # the preset's recipe


def test_quality_changes_only_the_vae_settings_given_by_vae_set() -> None:
    import argparse

    from quality import configs, vae_overrides, vae_setting

    assert vae_setting("loss.beta=0.5") == ("loss", "beta", 0.5)
    width = vae_setting("model.base_channels=64")
    assert width == ("model", "base_channels", 64) and isinstance(width[2], int)  # a count stays an int
    for bad in ("beta=0.5", "gan.lr_d=1e-3", "model.latent_dim="):
        with pytest.raises(argparse.ArgumentTypeError, match="train.FIELD=NUMBER"):
            vae_setting(bad)
    preset = configs("fashion-mnist", None)[0]
    settings = [width, vae_setting("loss.beta=0.5"), vae_setting("train.lr=0.002")]
    changed = configs("fashion-mnist", None, vae_overrides=vae_overrides(settings))[0]
    assert changed.model.base_channels == 64 and changed.loss.beta == 0.5 and changed.train.lr == 0.002
    assert dataclasses.replace(changed.train, lr=preset.train.lr) == preset.train
    assert dataclasses.replace(changed.model, base_channels=preset.model.base_channels) == preset.model
    assert dataclasses.replace(changed.loss, beta=preset.loss.beta) == preset.loss
    assert vae_overrides(None) == {}


def test_the_discriminator_ranking_keeps_the_images_it_rates_most_real_best_first() -> None:
    """A D that rates brightness keeps the brightest; a patch D (a logit per position) by their mean."""
    images = torch.rand(100, 1, 2, 2, generator=torch.Generator().manual_seed(0))
    brightness = images.mean((1, 2, 3))
    kept = most_real(images, lambda x: x.mean((1, 2, 3)), 30)
    assert torch.equal(kept.mean((1, 2, 3)), brightness.sort(descending=True).values[:30])
    assert torch.equal(most_real(images, lambda x: x.flatten(1), 30), kept)
    with pytest.raises(ValueError, match="cannot keep 101 of 100"):
        most_real(images, lambda x: x.mean((1, 2, 3)), 101)
