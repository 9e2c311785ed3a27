"""An equal wall-clock race: every variant trains for its budget with vaegan's own loops, scored on the way.

The variants run `train_vae` and `train_gan`, the loops `vaegan train` runs, at today's defaults for the
dataset (presets.py); all the race adds is a budget and a score hook. The budget is the loops' own
--max-minutes, looked at after every step: a stage stops at the first step past it (never before its
first whole epoch ends), so it overshoots by about one step. The hook is called after every step with
the loops' clock paused: at each mark (seconds of training) it scores samples, and a slow FID never eats
into a budget. The clock counts whatever the loops do, epoch ends and setup (a prior fit) included.
- two-stage: the VAE until vae_share of the budget, then the GAN warm-started from its decoder for the
  rest on the same clock, G's z from the Gaussian mixture fitted to the VAE's training latents;
- scratch GAN: the same GAN from random weights, given the whole budget; with no VAE it has no anchor and
  no fitted prior, so z ~ N(0, I) and only the anchor-free settings stay (its VAE folder holds an
  untrained VAE, for the model's shape);
- VAE alone, given the whole budget, drawn through vaegan's best VAE sampler (the fitted prior, fitted
  when scored: a sampler's cost, like the FID's);
- DCGAN (dcgan.py), the peer a user would pick instead, given the whole budget, in its own small loop;
- the -auto variants: the same at `--precision auto --memory-format auto`, the loops' default: bf16
  autocast where the CPU lists bf16 instructions, and channels_last (training/placement.py's rule).
Every other variant runs in fp32 with the plain layout on the CPU, the same for all; every variant eager,
as `vaegan run` trains by default. Their huge epochs and the CPU leave presets.vae_budget/gan_budget
nothing to change, so the race calls neither.
"""

from __future__ import annotations

import collections
import dataclasses
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from dcgan import DCGAN, NZ, Batches, train_dcgan

from vaegan.checkpoint import CHECKPOINT_NAME, LoopState, VAECheckpoint, save_checkpoint
from vaegan.config import GANConfig, GANRunConfig, RunSettings, VAERunConfig
from vaegan.data import DataSplits, to_uint8
from vaegan.models.vae import VAE
from vaegan.training.common import adam
from vaegan.training.loop import Latents, Sampler
from vaegan.training.stopping import Clock
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae

Score = Callable[[Sampler, float], None]  # (what to draw from, the seconds of training at a mark)
EPOCHS = 10**6  # a raced stage's epochs: its budget ends it
SettingsT = TypeVar("SettingsT", bound=RunSettings)


def normal(latent_dim: int) -> Latents:
    return lambda n, g: torch.randn(n, latent_dim, generator=g)


class Marks:
    """A score hook: scores the stage's sampler once at each mark the clock has passed."""

    def __init__(self, marks: Sequence[float], score: Score, clock: Clock) -> None:
        self.pending, self.score, self.clock = sorted(marks), score, clock
        self.sampler: Sampler | None = None

    def __call__(self, seconds: float, sampler: Sampler) -> None:
        self.sampler = sampler
        while self.pending and self.pending[0] <= seconds:
            self.pending.pop(0)
            self.score(sampler, seconds)

    def finish(self, seconds: float) -> None:
        """The marks a stage's end passed (its last epoch's end can pass one after its last step)."""
        if self.sampler is not None:
            with self.clock.paused():
                self(seconds, self.sampler)


LAST_LOSSES = 50  # steps a stage's closing loss is averaged over: one batch's loss is noisy


class StageLog:
    """A stage's steps counted and its closing loss (the mean of its last LAST_LOSSES) kept in `entry`, so a
    record shows a stage that never trained (docs/results/levers/README.md); also the longest stretch of the
    clock between two steps, what a budget can be overshot by."""

    def __init__(self, stage: str, clock: Clock) -> None:
        self.entry: dict[str, Any] = {"stage": stage, "steps": 0, "closing_loss": None}
        self.last: collections.deque[float] = collections.deque(maxlen=LAST_LOSSES)
        self.clock, self.at, self.longest = clock, clock.seconds(), 0.0

    def step(self, loss: float) -> None:
        self.last.append(loss)
        self.entry["steps"] += 1
        self.entry["closing_loss"] = statistics.fmean(self.last)
        self.lap(self.clock.seconds())

    def lap(self, seconds: float) -> None:
        self.longest, self.at = max(self.longest, seconds - self.at), seconds


@dataclass(frozen=True)
class Raced:
    ends: list[float]  # the clock's seconds at each stage's end
    stages: list[dict[str, Any]]  # per stage: its steps and closing loss (StageLog.entry)
    longest_step: float  # the longest stretch of the clock between two budget checks


def raced(settings: SettingsT, seed: int, seconds: float, *, auto: bool) -> SettingsT:
    """A stage's settings for the race: its budget in seconds, on the CPU, no FID or checkpoints of its own;
    `auto`: precision and layout by the loops' rule, else the plain fp32 step."""
    return dataclasses.replace(
        settings,
        seed=seed,
        epochs=EPOCHS,
        max_minutes=seconds / 60,
        device="cpu",
        precision="auto" if auto else "fp32",
        memory_format="auto" if auto else "contiguous",
        quality_every=0,
        checkpoint_every=EPOCHS,
        tensorboard=False,
    )


def scratch_config(gan: GANConfig) -> GANConfig:
    """The GAN's settings for random weights: no VAE means no anchor to it and no prior fitted on it."""
    return dataclasses.replace(gan, init="scratch", anchor="none", latents="normal")


def untrained_vae(cfg: VAERunConfig, folder: Path, seed: int) -> Path:
    """A VAE checkpoint of random weights: what a scratch GAN needs of a VAE run (the model's shape, the data)."""
    torch.manual_seed(seed)
    model = VAE(cfg.model)
    folder.mkdir(parents=True, exist_ok=True)
    optimizer = adam(model.parameters(), lr=cfg.train.lr)
    save_checkpoint(
        VAECheckpoint(cfg, LoopState(), model.state_dict(), optimizer.state_dict()), folder / CHECKPOINT_NAME
    )
    return folder / CHECKPOINT_NAME


def variants(
    cfg: VAERunConfig, gan: GANConfig, splits: DataSplits, budget: float, vae_share: float, seed: int
) -> dict[str, Callable[[Sequence[float], Score], Raced]]:
    """Each variant as a run of its stages for given marks and a score; only one variant's nets live at a time."""
    images = splits.train.images

    def two_stage(marks: Sequence[float], score: Score, *, auto: bool = False, vae_only: bool = False) -> Raced:
        clock = Clock()
        hook, logs = Marks(marks, score, clock), [StageLog("vae", clock)]
        with tempfile.TemporaryDirectory() as tmp:
            vae_cfg = dataclasses.replace(
                cfg, train=raced(cfg.train, seed, budget * (1 if vae_only else vae_share), auto=auto)
            )
            on_step = lambda _, values: logs[0].step(float(values[0]))  # noqa: E731  # the VAE's loss
            vae = train_vae(
                vae_cfg, Path(tmp, "vae"), splits=splits, progress=False, on_step=on_step, score=hook, clock=clock
            )
            ends = [vae.seconds]
            hook.finish(vae.seconds)
            logs[0].lap(vae.seconds)
            if not vae_only:
                gan_cfg = GANRunConfig(str(Path(tmp, "vae")), raced(gan, seed, budget, auto=auto))
                ends.append(raced_gan(gan_cfg, Path(tmp, "gan"), hook, logs, clock))
        return Raced(ends, [log.entry for log in logs], max(log.longest for log in logs))

    def raced_gan(gan_cfg: GANRunConfig, folder: Path, hook: Marks, logs: list[StageLog], clock: Clock) -> float:
        log = StageLog("gan", clock)
        logs.append(log)
        on_step = lambda _, values: log.step(float(values[0] + values[1]))  # noqa: E731  # D's loss and G's
        result = train_gan(gan_cfg, folder, splits=splits, progress=False, on_step=on_step, score=hook, clock=clock)
        hook.finish(result.seconds)
        log.lap(result.seconds)
        return result.seconds

    def scratch_gan(marks: Sequence[float], score: Score, *, auto: bool = False) -> Raced:
        clock = Clock()
        hook, logs = Marks(marks, score, clock), list[StageLog]()
        with tempfile.TemporaryDirectory() as tmp:
            vae_path = untrained_vae(cfg, Path(tmp, "vae"), seed)
            gan_cfg = GANRunConfig(str(vae_path), raced(scratch_config(gan), seed, budget, auto=auto))
            end = raced_gan(gan_cfg, Path(tmp, "gan"), hook, logs, clock)
        return Raced([end], [log.entry for log in logs], logs[0].longest)

    def dcgan(marks: Sequence[float], score: Score) -> Raced:
        net, batches = (
            DCGAN(images.shape[-1], images.shape[1], width=32, seed=seed),
            Batches(images, gan.batch_size, seed + 5),
        )
        sampler = Sampler("dcgan", net.sample, lambda: normal(NZ), (-1.0, 1.0))
        clock = Clock()
        hook, log = Marks(marks, score, clock), StageLog("dcgan", clock)

        def after_step(seconds: float, losses: dict[str, float]) -> None:
            log.step(losses["d_loss"] + losses["g_loss"])
            with clock.paused():
                hook(seconds, sampler)

        seconds = train_dcgan(net, batches, budget, clock, after_step)
        return Raced([seconds], [log.entry], log.longest)

    return {
        "two-stage": two_stage,
        "scratch-gan": scratch_gan,
        "vae": lambda marks, score: two_stage(marks, score, vae_only=True),
        "dcgan": dcgan,
        "two-stage-auto": lambda marks, score: two_stage(marks, score, auto=True),
        "vae-auto": lambda marks, score: two_stage(marks, score, auto=True, vae_only=True),
        "scratch-gan-auto": lambda marks, score: scratch_gan(marks, score, auto=True),
    }


@torch.no_grad()
def most_real(images: torch.Tensor, disc: Callable[[torch.Tensor], torch.Tensor], n: int) -> torch.Tensor:
    """The n of `images` the GAN's discriminator rates most real, best first. Drawing k times the images
    wanted and keeping these is discriminator-ranked sampling, after Discriminator Rejection Sampling
    (Azadi et al. 2019) with a fixed share kept instead of their calibrated acceptance, so the count is
    exact and the draw deterministic. Here for the ablation only (levers round 20, race-rank2-f26): it
    did not lower the GAN's Inception FID beyond seed noise, so no command of vaegan samples this way."""
    if not 0 < n <= len(images):
        raise ValueError(f"cannot keep {n} of {len(images)} images")
    logits = torch.cat([disc(images[i : i + 256]).float() for i in range(0, len(images), 256)])
    score = logits.flatten(1).mean(1) if logits.ndim > 1 else logits  # a projected D rates each position
    return images[score.topk(n).indices]


@torch.no_grad()
def draw(sampler: Sampler, n: int, seed: int, batch_size: int = 250, rank: int = 1) -> torch.Tensor:
    """n uint8 images (n, C, H, W) from the sampler's latents with a fixed seed; with `rank` k > 1, k times
    as many drawn and the ones the stage's D rates most real kept (most_real), batch by batch."""
    g, latents = torch.Generator().manual_seed(seed), sampler.latents()
    disc = sampler.disc if rank > 1 else None
    parts = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        if disc is None:
            images = sampler.decode(latents(count, g)).float()
        else:
            images = most_real(sampler.decode(latents(rank * count, g)).float(), disc, count)
        parts.append(to_uint8(images, sampler.value_range))
    return torch.cat(parts)
