"""The main job: train the VAE, train the GAN from it, then write the pictures that compare them.

Layout of a pipeline run folder:
    vae/            the VAE stage's run (config, metrics, grids, checkpoint)
    gan/            the GAN stage's run
    vae_vs_gan.png  VAE samples | GAN samples, decoded from the same z
    progress.gif    held-out images' posterior means decoded after every VAE epoch, then every GAN epoch
    summary.txt     what was trained, the final numbers, training time and one-time set-up time
Re-running continues whichever stage is unfinished; a finished stage is not retrained unless the rerun
asks for more epochs (as --resume does), and a VAE with a GAN trained from it is never trained further.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from vaegan.checkpoint import CHECKPOINT_NAME, load_checkpoint
from vaegan.config import GANConfig, GANRunConfig, VAERunConfig
from vaegan.data import DataSplits, load_splits, to_uint8
from vaegan.errors import VaeganError
from vaegan.metrics.collapse import features_at_chance
from vaegan.metrics.copies import MAX_TRAIN, CopyCheck
from vaegan.metrics.features import limits_line, train_seconds
from vaegan.metrics.quality import (
    MIN_IMAGES,
    embed,
    fid,
    quality_metrics,
    reference_pick,
    uint8_to_unit,
    versus_reference,
)
from vaegan.presets import gan_budget, vae_budget
from vaegan.prior import sample_latents
from vaegan.report import FEW_IMAGES, write_report
from vaegan.runs import Run, collapse_lines, open_run, read_metrics
from vaegan.training import distributed
from vaegan.training.changes import Sections
from vaegan.training.common import resolve_device
from vaegan.training.epoch_log import HELD_OUT_GRIDS
from vaegan.training.feature_net import feature_net_for, real_side
from vaegan.training.gan_step import g_moved
from vaegan.training.placement import cpu_time_note
from vaegan.training.train_gan import latent_source, quality_draw, train_gan
from vaegan.training.train_vae import train_vae
from vaegan.viz import label_image, make_grid, save_gif, to_pil, upscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineResult:
    run_dir: Path
    comparison: Path
    gif: Path
    summary: Path
    report: Path


def stage_state(run_dir: Path, epochs: int | None = None, max_minutes: float | None = None) -> str:
    """'new', 'partial' or 'done', from the stage's checkpoint and the epochs and time limit asked for
    (None: its own).

    A stage its time limit (--max-minutes) ended early is done when the rerun asks for no more epochs than
    it was first asked for under the same limit: the same `vaegan run --max-minutes M` twice draws the
    pictures again rather than training on (or refusing to train a VAE that has a GAN)."""
    if not (run_dir / CHECKPOINT_NAME).exists():
        return "new"
    saved = load_checkpoint(run_dir / CHECKPOINT_NAME)
    settings = saved.config.train if saved.STAGE == "vae" else saved.config.gan  # type: ignore[union-attr]
    if saved.loop.epoch > (epochs or settings.epochs):
        return "done"
    # a limit that ran out mid-epoch keeps the checkpoint at that step, the epoch's line written; Ctrl-C writes none
    cut = saved.loop.batch_in_epoch > 0
    ended = saved.loop.epoch if cut else saved.loop.epoch - 1
    last = [r for r in read_metrics(run_dir) if r.get("stage") == saved.STAGE and r.get("epoch") == ended]
    finished = ended == settings.epochs
    asked = last[-1].get("epochs_asked", 0) if last and finished else 0
    same_limit = max_minutes is None or max_minutes == settings.max_minutes
    return "done" if asked and (epochs or 0) <= asked and same_limit else "partial"


def run_pipeline(
    vae_cfg: VAERunConfig,
    gan_cfg: GANConfig,
    out: Path,
    *,
    wanted: Sections | None = None,
    progress: bool | None = None,
) -> PipelineResult | None:
    """Train what is not trained yet. `wanted` holds the settings the user gave (not the defaults): a
    rerun applies them to stages that exist, as --resume does (more epochs, another lr, ...)."""
    out = Path(out)
    wanted = wanted or {}
    vae_wanted = {section: v for section, v in wanted.items() if section != "gan"}
    gan_wanted = {"gan": wanted.get("gan", {})}
    vae_dir, gan_dir = out / "vae", out / "gan"
    vae_state = vae_stage_state(out, vae_wanted.get("train", {}))
    note = cpu_time_note(resolve_device(vae_cfg.train.device))
    if note and distributed.is_main_process():
        log.info("%s", note)
    started = time.perf_counter()
    splits = load_splits(vae_cfg.data)
    setup = {"loading the data": time.perf_counter() - started}
    features = prepare_feature_net(vae_cfg, gan_cfg, splits)

    if vae_state != "done":
        resume = vae_state == "partial"
        vae_cfg = vae_budget(vae_cfg, len(splits.train), vae_wanted)  # a resumed stage keeps its own config
        train_vae(vae_cfg, vae_dir, resume=resume, wanted=vae_wanted, splits=splits, progress=progress)
    state = stage_state(gan_dir, gan_wanted["gan"].get("epochs"), gan_wanted["gan"].get("max_minutes"))
    if state != "done":
        gan_run = GANRunConfig(vae_checkpoint=str(vae_dir / CHECKPOINT_NAME), gan=gan_cfg)
        gan_run = gan_budget(gan_run, len(splits.train), gan_wanted)
        train_gan(gan_run, gan_dir, resume=state == "partial", wanted=gan_wanted, splits=splits, progress=progress)

    if not distributed.is_main_process():
        # under torchrun every rank gets here; two writing progress.gif while the other read it broke a run
        return None
    setup.update(feature_net_setup(features, vae_cfg.data.source))
    run = open_run(out)
    for line in collapse_lines(run).values():
        log.warning("%s", line)
    comparison = write_comparison(run, out / "vae_vs_gan.png")
    gif = write_progress_gif(run, out / "progress.gif")
    measured = vae_cfg.train.quality_every or gan_cfg.quality_every
    fids = same_sampler_fids(run, splits) if measured else None
    summary = write_summary(run, setup, len(splits.train), len(splits.val), fids)
    report = write_report(out, splits=splits)
    with summary.open("a") as f:
        f.write(f"report: {report}\n")
    return PipelineResult(out, comparison, gif, summary, report)


def vae_stage_state(out: Path, asked: dict[str, Any]) -> str:
    """The VAE stage's state in a `vaegan run` folder (stage_state), refusing folders a run cannot go on in."""
    vae_dir, gan_dir = out / "vae", out / "gan"
    if (out / CHECKPOINT_NAME).exists() or (out / "config.json").exists():
        raise VaeganError(
            f"{out} is the folder of one training stage (train-vae or train-gan), not of a `vaegan run`; "
            "choose a new --out (a GAN from that VAE: vaegan train-gan --vae " + f"{out})"
        )
    vae_state = stage_state(vae_dir, asked.get("epochs"), asked.get("max_minutes"))
    if vae_state == "new" and (gan_dir / CHECKPOINT_NAME).exists():
        raise VaeganError(f"{gan_dir} exists without its VAE stage; choose a new --out")
    if vae_state == "partial" and (gan_dir / CHECKPOINT_NAME).exists():
        raise VaeganError(
            f"{gan_dir} was trained from {vae_dir} as it is, so that VAE cannot train further; "
            "extend the GAN with --gan-epochs, or choose a new --out"
        )
    return vae_state


@torch.no_grad()
def write_comparison(run: Run, path: Path, n: int = 32) -> Path:
    """VAE decoder samples beside GAN (EMA) generator samples for the very same z: the GAN's own kind of
    z (N(0, I), or the fitted prior with --latents fitted), seeded by the run."""
    vae, generator, cfg = run.vae(), run.generator(), run.config
    z = sample_latents(run, "gan", n, torch.Generator().manual_seed(cfg.train.seed + 7919))
    panels = []
    for title, decode in (("VAE", vae.decode), ("GAN (same z)", generator)):
        grid = make_grid(to_uint8(decode(z), cfg.model.value_range), nrow=4)
        panels.append(label_image(upscale(to_pil(grid), 240), title))
    gap = 12
    canvas = Image.new("RGB", (sum(p.width for p in panels) + gap, max(p.height for p in panels)), "white")
    canvas.paste(panels[0], (0, 0))
    canvas.paste(panels[1], (panels[0].width + gap, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return path


# A longer animation tells a user nothing more, and each frame costs its quantising and LZW (a GPU run has 4x
# the epochs, presets.gpu_budget): evenly spaced frames beyond this, each stage's last always kept.
MAX_GIF_FRAMES = 40


def write_progress_gif(run: Run, path: Path) -> Path:
    """The held-out grid (epoch_log.held_out_grid) after each VAE epoch, then each GAN epoch (at most
    MAX_GIF_FRAMES of them), labelled with stage, epoch and z.

    Both stages decode the posterior means of the same held-out images: the GAN's samples draw z from a prior
    fitted to such means, which the VAE's epochs have none of yet (a fit costs tens of seconds), and decoding
    N(0, I) before the cut and the prior after it made the animation jump where only the sampler changed."""
    grids: list[tuple[str, int, Path]] = []
    for stage, found in run.stages.items():
        for grid in sorted((found.folder / "grids").glob(HELD_OUT_GRIDS)):
            epoch = int(grid.stem.split("_e")[1])
            if stage == "gan" and epoch == 0:
                continue  # identical to the VAE's last grid: the warm start in one picture
            grids.append((stage, epoch, grid))
    frames, labels = [], []
    images = "held-out images" if run.config.data.val_fraction > 0 else "training images"
    for stage, epoch, grid in evenly_spaced(grids, MAX_GIF_FRAMES):
        with Image.open(grid) as im:
            frames.append(upscale(im.convert("RGB"), 480))  # 28 px digits: a label that fits
        labels.append(f"{stage.upper()} epoch {epoch}, z: {images}' posterior means")
    return save_gif(frames, path, labels)


def evenly_spaced(grids: list[tuple[str, int, Path]], most: int) -> list[tuple[str, int, Path]]:
    """At most about `most` of `grids` (stage, epoch, path), evenly spaced, with each stage's last one."""
    if len(grids) <= most:
        return grids
    keep = {round(i * (len(grids) - 1) / (most - 1)) for i in range(most)}
    keep |= {i for i, g in enumerate(grids) if i + 1 == len(grids) or grids[i + 1][0] != g[0]}
    return [grids[i] for i in sorted(keep)]


def prepare_feature_net(cfg: VAERunConfig, gan_cfg: GANConfig, splits: DataSplits) -> Path | None:
    """The feature net's cache file when this run is the one to train it (FID measured, no net cached yet).

    The first FID measurement trains it (QualityMonitor), so the first epochs' grids are written before
    anything waits on it; with a time limit (--max-minutes) it trains here instead, before the limit's clock
    starts. Under torchrun it is always the monitor, on rank 0 alone. Too few held-out images for FID, and
    no net is trained (QualityMonitor says so)."""
    from vaegan.metrics.features import cache_path
    from vaegan.training.feature_net import feature_net_for

    path = cache_path(cfg.data, cfg.data.cache_dir)
    measured = (cfg.train.quality_every or gan_cfg.quality_every) and (
        len(real_side(splits, cfg.train.quality_samples)) >= MIN_IMAGES
    )
    if not measured or path.is_file():
        return None
    if (cfg.train.max_minutes or gan_cfg.max_minutes) and distributed.world_size() == 1:
        feature_net_for(cfg.data, splits, cfg.data.cache_dir)
    return path


def feature_net_setup(path: Path | None, source: str) -> dict[str, float]:
    """The seconds this run spent training the feature net (its cache file records them), for summary.txt:
    one-time set-up, never counted as training time."""
    if path is None or not path.is_file():
        return {}
    return {f"training the {source} feature network (once per dataset)": train_seconds(path)}


SETUP_WORTH_NAMING = 1.0  # seconds: set-up steps quicker than this are noise in the summary


def stage_seconds(records: list[dict]) -> float:
    return sum(r.get("seconds", 0.0) for r in records if "epoch" in r)


def stage_line(name: str, records: list[dict]) -> str:
    """'VAE: 12 epochs (844 optimiser steps) in 95s: 80s of steps, 15s of validation, grids and quality metrics'."""
    epochs = [r for r in records if "epoch" in r]
    steps_s = sum(r.get("train_seconds", 0.0) for r in epochs)
    total_s = stage_seconds(records)
    return (
        f"{name}: {epochs[-1]['epoch']} epochs ({epochs[-1]['step']} optimiser steps) in {total_s:.0f}s: "
        f"{steps_s:.0f}s of steps, {total_s - steps_s:.0f}s of validation, grids and quality metrics"
    )


def time_lines(run: Run, setup: dict[str, float]) -> list[str]:
    """Training time, then the one-time set-up apart from it, naming only the steps that took a while."""
    seconds = {name: stage_seconds(stage.metrics) for name, stage in run.stages.items()}
    each = ", ".join(f"{name.upper()} {s:.0f}s" for name, s in seconds.items())
    lines = [f"training time: {sum(seconds.values()):.0f}s ({each})"]
    slow = {what: s for what, s in setup.items() if s >= SETUP_WORTH_NAMING}
    if slow:
        lines.append("one-time set-up, not training: " + "; ".join(f"{what} {s:.0f}s" for what, s in slow.items()))
    return lines


@dataclass(frozen=True)
class SummaryFids:
    """Both stages' FID on one sampler, and real training images scored the same way at the same count."""

    values: dict[str, float]  # stage -> FID
    sampler: str  # where both stages' z come from
    n: int  # generated images, and held-out real ones, per FID
    reference: float | None  # training vs held-out images: the floor; None when nothing is held out
    copy_rates: dict[str, float] = field(default_factory=dict)  # stage -> share of near copies
    copy_floor: float | None = None  # held-out images' own share: what copying nothing scores
    withheld: str = ""  # why no FID is shown (metrics.collapse.features_at_chance); then nothing else is
    judge: str = ""  # what the own features can judge, and how to get Inception's (features.limits_line)


def same_sampler_fids(run: Run, splits: DataSplits) -> SummaryFids | None:
    """Both stages' FID in own features on the same z: the z of the GAN's logged FID (train_gan.quality_draw,
    drawn as the GAN draws them and `vaegan sample` does), beside the real-vs-real reference; None below
    MIN_IMAGES held-out images. Training logs the VAE's on z ~ N(0, I), which would compare unlike things.

    The GAN's is the number its last epoch logged, which the report's table shows: on a CPU the very z scored
    again. A GPU draws other z than the CPU, and at a few hundred images other z move FID by half its value
    (make run's GAN: 5.4 to 16.5 over 8 draws), so the log's is shown rather than a second draw."""
    cfg = run.config
    real = real_side(splits, cfg.train.quality_samples)
    if len(real) < MIN_IMAGES:
        return None
    net = feature_net_for(cfg.data, splits, cfg.data.cache_dir)
    if withheld := features_at_chance(net, splits.test):
        return SummaryFids({}, "", len(real), None, withheld=withheld)
    real_features = embed(net, uint8_to_unit(real))
    reference, copies = None, None
    if len(splits.val):
        train = splits.train.images[reference_pick(len(splits.train), len(real))]
        reference = fid(real_features, embed(net, uint8_to_unit(train), desc="features: real reference"))
        train_features = embed(net, uint8_to_unit(splits.train.images[:MAX_TRAIN]), desc="features: training")
        copies = CopyCheck.fit(train_features, real_features) if len(real_features) >= 2 else None
    gan = run.stage("gan").checkpoint.config.gan  # type: ignore[union-attr]
    cpu = torch.device("cpu")
    draw_z = latent_source(gan, run, splits.train.images, cpu)[0]
    fids, copy_rates = {}, {}
    for stage, decode in (("vae", run.vae().decode), ("gan", run.generator())):
        metrics = quality_metrics(
            quality_draw(decode, draw_z, gan.seed, cpu),
            cfg.model.latent_dim,
            real,
            cfg.model.value_range,
            net,
            n=len(real),
            real_features=real_features,
            copies=copies,
        )
        fids[stage] = metrics["fid"]
        if copies is not None:
            copy_rates[stage] = metrics["copy_rate"]
    logged = [r["quality/fid"] for r in run.stages["gan"].metrics if "quality/fid" in r]
    if logged and len(real) == min(gan.quality_samples, len(splits.held_out)):
        fids["gan"] = logged[-1]
    sampler = "the fitted prior" if gan.latents == "fitted" else "N(0, I)"
    floor = None if copies is None else copies.floor
    judge = limits_line(net, cfg.data, len(splits.train), len(splits.val))
    return SummaryFids(fids, sampler, len(real), reference, copy_rates, floor, judge=judge)


def fid_lines(run: Run, held_out: int, fids: SummaryFids | None) -> list[str]:
    """Both stages' FID on one sampler beside the real-vs-real reference, what they mean, and a warning when
    few held-out images made them."""
    n = fids.n if fids is not None else min(run.config.train.quality_samples, held_out)
    if fids is None:
        if n < MIN_IMAGES:
            return [f"FID not measured: {n} held-out image(s), and FID needs at least {MIN_IMAGES}"]
        return ["FID not measured (--quality-every 0)"]
    if fids.withheld:
        return [fids.withheld]
    lines = [
        f"FID in vaegan's own features, {n} generated vs {n} held-out images "
        "(lower is closer; compare between runs on the same data only):"
    ]
    if fids.judge:
        lines.append(fids.judge)
    if fids.reference is not None:
        lines.append(f"  real training images (the floor at this count): {fids.reference:.2f}")
    for stage, value in fids.values.items():
        verdict = versus_reference(value, fids.reference, n)
        lines.append(f"  {stage.upper()}, z from {fids.sampler}: {value:.2f}" + (f"; {verdict}" if verdict else ""))
    if fids.copy_floor is not None:
        collapsed = collapse_lines(run)  # one picture for every z copies nothing
        rates = ", ".join(
            f"{stage.upper()} " + ("collapsed, not a copier" if stage in collapsed else f"{rate:.2f}")
            for stage, rate in fids.copy_rates.items()
        )
        lines.append(
            f"  copy rate (samples nearer a training image than half the held-out images are): {rates}; "
            f"held-out images {fids.copy_floor:.2f}, a generator that copies scores near 1"
        )
    vae_logged = [r for r in run.stages["vae"].metrics if "quality/fid" in r]
    if vae_logged:
        last = vae_logged[-1]
        floor = f", real vs real {last['quality/fid_reference']:.2f}" if "quality/fid_reference" in last else ""
        lines.append(
            f"  (the VAE's training log draws z ~ N(0, I): FID {last['quality/fid']:.2f} at epoch {last['epoch']}"
            f"{floor})"
        )
    if n < FEW_IMAGES:
        lines.append(
            f"  measured on {n} held-out images only: with fewer than {FEW_IMAGES:,} images "
            "FID is biased upwards and noisy"
        )
    return lines


def write_summary(run: Run, setup: dict[str, float], n_train: int, n_val: int, fids: SummaryFids | None = None) -> Path:
    """summary.txt: the data, each stage's time and final numbers, both FIDs, and the one-time set-up apart."""
    vae, gan = (run.stages[s].metrics for s in ("vae", "gan"))
    vae_last, gan_last = vae[-1], gan[-1]
    gc = run.stages["gan"].checkpoint.config.gan  # type: ignore[union-attr]
    data, out = run.config.data, run.path
    lines = [
        f"data: {data.source} ({n_train} training images, {n_val} held out), "
        f"{data.image_size}px, {data.channels} channel(s)",
        *collapse_lines(run).values(),
        stage_line("VAE", vae),
        f"  validation -ELBO {vae_last['val/neg_elbo']:.2f} nats (reconstruction "
        f"{vae_last['val/reconstruction']:.2f}, KL {vae_last['val/kl']:.2f})",
        stage_line("GAN", gan),
        f"  G moved on {g_moved(gc, gan_last['step'])} of them "
        "(D alone on the others: its warm-up, and d_steps D updates per G update)",
        f"  D(x) {gan_last['d_real']:.3f}, D(G(z)) {gan_last['d_fake']:.3f}, "
        f"sample diversity {gan_last['diversity']:.2f} of the real data's",
        *fid_lines(run, n_val or n_train, fids),
        *time_lines(run, setup),
        f"pictures: {out / 'vae_vs_gan.png'}, {out / 'progress.gif'}",
    ]
    path = out / "summary.txt"
    path.write_text("\n".join(lines) + "\n")
    return path
