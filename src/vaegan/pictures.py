"""From a run folder to the latent tools' pictures: load the right decoder, run vaegan.latent, draw.

Every picture works for both stages: `load_models(run, stage)` returns the VAE (whose encoder turns images
into latents for either stage) and a `decode` that is the VAE decoder or the GAN's EMA generator. The
functions return PIL images (GIFs: lists of frames) so the CLI can save them and the report can embed them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from vaegan import latent, plots
from vaegan.attributes import AttributeGroups
from vaegan.config import VAERunConfig
from vaegan.data import ImageDataset, load_splits, to_float, to_uint8
from vaegan.errors import VaeganError
from vaegan.models.vae import VAE
from vaegan.prior import logged_sampler
from vaegan.runs import Run, open_run
from vaegan.viz import font, make_grid, to_pil

MIN_CELL = 64  # pixels: small images (28 px digits) are scaled up so the pictures can be seen
MAX_GROUP = 1000  # images per attribute group the direction is averaged over (see group_direction)


@dataclass(frozen=True)
class RunModels:
    vae: VAE  # its encoder maps images to latents for either stage
    decode: latent.Decode  # the VAE decoder or the GAN's EMA generator
    stage: str
    cfg: VAERunConfig
    run: Path | None = None  # where they were read from, named when the run's data is gone

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(x)
        return posterior.mean, posterior.logvar

    def encode_images(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 (N, C, H, W) -> posterior (mean, logvar), (N, D) each."""
        return latent.encode_batched(self.encode, to_float(images, self.cfg.model.value_range))


def load_models(run: str | Path | Run, stage: str | None = None) -> RunModels:
    """The models behind a run folder or checkpoint; stage None: the last stage (GAN if trained)."""
    opened = open_run(run)
    chosen = opened.stage(stage).name
    vae = opened.vae().requires_grad_(False)  # pictures only: no autograd graph behind every encode
    decode = opened.generator().requires_grad_(False) if chosen == "gan" else vae.decode
    return RunModels(vae, decode, chosen, opened.config, opened.path)


def dataset(models: RunModels, split: str = "val") -> ImageDataset:
    """The run's data split ("train" or "val"), reloaded from the config the checkpoint embeds."""
    splits = load_splits(models.cfg.data, models.run)
    return splits.train if split == "train" or len(splits.val) == 0 else splits.val


def pick(n: int, total: int, seed: int) -> torch.Tensor:
    """n distinct indices of `total`, seeded, sorted; all of them when n >= total."""
    if n >= total:
        return torch.arange(total)
    return torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values


def grid_image(images: torch.Tensor, value_range: tuple[float, float], nrow: int | None = None) -> Image.Image:
    """Float images in `value_range` -> one PIL grid, scaled up by a whole factor if small."""
    grid = to_pil(make_grid(to_uint8(images.cpu(), value_range), nrow=nrow))
    factor = max(1, MIN_CELL // images.shape[-1])
    return grid.resize((grid.width * factor, grid.height * factor), Image.Resampling.NEAREST) if factor > 1 else grid


def with_header(grid: Image.Image, labels: Sequence[str], cell: float) -> Image.Image:
    """`grid` with one centred label above each column of width `cell` pixels."""
    strip = 16
    out = Image.new("RGB", (grid.width, grid.height + strip), "white")
    out.paste(grid.convert("RGB"), (0, strip))
    draw = ImageDraw.Draw(out)
    for i, text in enumerate(labels):
        draw.text((cell * i + cell / 2 + 1, strip / 2), text, fill="black", font=font(11), anchor="mm")
    return out


def cell_width(grid: Image.Image, ncol: int) -> float:
    return grid.width / ncol


def with_row_labels(grid: Image.Image, labels: Sequence[str], top: int = 0, header: str = "") -> Image.Image:
    """`grid` with a label left of each of its rows (below `top` pixels of header, where `header` names them)."""
    strip, cell = 48, (grid.height - top) / len(labels)
    out = Image.new("RGB", (grid.width + strip, grid.height), "white")
    out.paste(grid.convert("RGB"), (strip, 0))
    draw = ImageDraw.Draw(out)
    draw.text((strip / 2, top / 2), header, fill="black", font=font(11), anchor="mm")
    for i, text in enumerate(labels):
        draw.text((strip / 2, top + cell * i + cell / 2), text, fill="black", font=font(11), anchor="mm")
    return out


def with_title(picture: Image.Image, title: str) -> Image.Image:
    """`picture` under one line of text that says what it shows."""
    strip = 20
    out = Image.new("RGB", (picture.width, picture.height + strip), "white")
    out.paste(picture.convert("RGB"), (0, strip))
    ImageDraw.Draw(out).text((4, strip / 2), title, fill="black", font=font(12), anchor="lm")
    return out


def similar_picture(
    models: RunModels,
    images: torch.Tensor,
    n: int = 8,
    scale: float = 1.0,
    seed: int = 0,
    posterior: bool = True,
) -> Image.Image:
    """One row per image: the original, its mean decode, then n variants z = mu + s * (sigma *) eps."""
    mean, logvar = models.encode_images(images)
    z = latent.similar_latents(mean, torch.exp(0.5 * logvar), n, scale, torch.Generator().manual_seed(seed), posterior)
    value_range = models.cfg.model.value_range
    x = to_float(images, value_range)
    rows = [
        torch.cat([x[i : i + 1], latent.decode_batched(models.decode, torch.cat([mean[i : i + 1], z[i]]))])
        for i in range(len(images))
    ]
    grid = grid_image(torch.cat(rows), value_range, nrow=n + 2)
    labels = ["input", "mean"] + [""] * n
    labels[2 + n // 2] = f"z = mu + {scale:g} * {'sigma * eps' if posterior else 'eps'}"
    return with_header(grid, labels, cell_width(grid, n + 2))


def interpolation_frames(
    models: RunModels,
    a: torch.Tensor,
    b: torch.Tensor,
    steps: int = 8,
    methods: Sequence[str] = ("lerp", "slerp"),
    inputs: torch.Tensor | None = None,
) -> tuple[Image.Image, list[Image.Image], list[str]]:
    """A grid with one labelled row per method from z a to z b (between the two input images, uint8
    (2, C, H, W), when they are given), and GIF frames showing the methods side by side."""
    for m in methods:
        if m not in latent.INTERPOLATIONS:
            raise VaeganError(f"unknown interpolation {m!r}; use {' or '.join(latent.INTERPOLATIONS)}")
    value_range = models.cfg.model.value_range
    rows = [latent.decode_batched(models.decode, latent.interpolate(a, b, steps, m)) for m in methods]
    header = ["a"] + [""] * (steps - 2) + ["b"]
    cells = torch.stack(rows)  # (methods, steps, C, H, W)
    if inputs is not None:
        ends = to_float(inputs, value_range).unsqueeze(0).expand(len(methods), -1, -1, -1, -1)
        cells = torch.cat([ends[:, :1], cells, ends[:, 1:]], 1)
        header = ["input a", *header, "input b"]
    grid = grid_image(cells.flatten(0, 1), value_range, nrow=cells.shape[1])
    grid = with_row_labels(with_header(grid, header, cell_width(grid, cells.shape[1])), list(methods), top=16)
    frames, labels = [], []
    for k in range(steps):
        frames.append(grid_image(torch.stack([row[k] for row in rows]), value_range, nrow=len(methods)))
        labels.append(f"{' | '.join(methods)}  t={k / (steps - 1):.2f}")
    return grid, frames, labels


def endpoints_from_seeds(models: RunModels, seeds: Sequence[int], temperature: float = 1.0) -> tuple[torch.Tensor, ...]:
    """Prior latents of two seeds, each (D,)."""
    d = models.cfg.model.latent_dim
    return tuple(latent.prior_latents(1, d, torch.Generator().manual_seed(s), temperature)[0] for s in seeds)


def group_direction(models: RunModels, groups: AttributeGroups, seed: int = 0) -> torch.Tensor:
    """The attribute vector (D,) from at most MAX_GROUP seeded picks of each group.

    Encoding every image of a large labelled set (54,000 for Fashion-MNIST's "the rest") took most of
    `vaegan attribute`'s time; a mean of 1,000 posterior means already has a standard error of about 3%
    of the spread of the latents, far below what the sweep's pictures can show.
    """
    picks = [
        torch.nonzero(mask).squeeze(1)[pick(MAX_GROUP, int(mask.sum()), seed)]
        for mask in (groups.positive, groups.negative)
    ]
    means, _ = models.encode_images(groups.images[torch.cat(picks)])
    positive = torch.arange(len(means)) < len(picks[0])
    return latent.attribute_direction(means, positive, ~positive)


def attribute_picture(
    models: RunModels, groups: AttributeGroups, targets: torch.Tensor, strengths: Sequence[float]
) -> Image.Image:
    """Rows = target images (uint8): the input, then decodes of z + s * direction for each strength s."""
    direction = group_direction(models, groups)
    z, _ = models.encode_images(targets)
    swept = latent.apply_direction(z, direction, torch.tensor(list(strengths)))  # (B, S, D)
    decoded = latent.decode_batched(models.decode, swept.reshape(-1, swept.shape[-1])).unflatten(0, swept.shape[:2])
    x = to_float(targets, models.cfg.model.value_range).unsqueeze(1)  # (B, 1, C, H, W)
    rows = torch.cat([x, decoded], 1).flatten(0, 1)  # the input beside its sweep, to judge identity
    ncol = len(strengths) + 1
    grid = grid_image(rows, models.cfg.model.value_range, nrow=ncol)
    labels = ["input"] + [f"{s:+g}" if s else "0" for s in strengths]
    return with_title(with_header(grid, labels, cell_width(grid, ncol)), f"z + s * ({groups.description})")


def latent_map_picture(
    models: RunModels, data: ImageDataset, max_images: int = 2000, k: int = 10, seed: int = 0
) -> Image.Image:
    """Posterior means projected on their two principal directions, coloured by label, beside a k x k grid
    of decodes of points spread over the dashed rectangle (the middle 96% of the points on each axis)."""
    index = pick(max_images, len(data), seed)
    mean, _ = models.encode_images(data.images[index])
    points, centre, components = latent.pca_2d(mean)
    lo = torch.quantile(points, 0.02, dim=0)
    hi = torch.quantile(points, 0.98, dim=0)
    flat = (hi - lo < 1e-6).float()  # one image (a tiny held-out split): a unit square around it, not a point
    lo, hi = lo - flat, hi + flat
    labels = data.labels[index] if data.labels is not None else None
    decoded = latent.decode_batched(models.decode, latent.map_latents(centre, components, lo, hi, k))
    grid = grid_image(decoded, models.cfg.model.value_range, nrow=k)
    titles = (f"posterior means of {len(index)} images", f"{models.stage.upper()} decodes over the dashed rectangle")
    return plots.latent_map(points, labels, data.label_names, grid, (lo, hi), titles)


def kl_picture(models: RunModels, images: torch.Tensor) -> tuple[Image.Image, torch.Tensor]:
    """Bar chart of mean KL per latent dimension (nats) over `images`, and the values, (D,)."""
    mean, logvar = models.encode_images(images)
    kl = latent.kl_per_dim(mean, logvar)
    active = int(latent.active_units(kl).sum())
    title = f"KL per dimension: {active} of {len(kl)} active (> {latent.ACTIVE_KL} nats)"
    return plots.bar_chart(kl, title, "mean KL (nats per image)", threshold=latent.ACTIVE_KL), kl


def curves_picture(run: str | Path | Run) -> Image.Image:
    """Loss curves of every trained stage of a run, and FID over epochs where it was measured."""
    opened = open_run(run)
    panels = [
        panel
        for stage, found in opened.stages.items()
        for panel in stage_panels(stage, found.metrics, logged_sampler(opened, stage))
    ]
    if not panels:
        raise VaeganError(f"{run} has no epochs in its metrics.jsonl yet; train for at least one epoch")
    return plots.line_charts(panels, ncol=3)


def stage_panels(stage: str, metrics: list[dict], sampler: str = "N(0, I)") -> list[plots.Panel]:
    """The charts of one stage's metrics.jsonl records; a quantity never logged gets no chart. The FID
    chart names the z its samples were drawn from (`sampler`) and draws real vs real beside them."""
    records = [r for r in metrics if "epoch" in r]

    def series(*keys: str) -> dict[str, tuple[list[float], list[float]]]:
        return {
            k: ([r["epoch"] for r in records if k in r], [float(r[k]) for r in records if k in r])
            for k in keys
            if any(k in r for r in records)
        }

    name = stage.upper()
    specs: list[tuple[tuple[str, ...], str, str]] = (
        [
            (("train/total", "val/neg_elbo"), "VAE loss", "-ELBO (nats per image)"),
            (("train/reconstruction", "val/reconstruction"), "VAE reconstruction", "nats per image"),
            (("train/kl", "val/kl"), "VAE KL", "KL (nats per image)"),
        ]
        if stage == "vae"
        else [
            (("d_loss", "g_loss"), "GAN losses", "loss per image"),
            (("d_real", "d_fake"), "GAN D(x) and D(G(z))", "mean probability (real = 1)"),
            (("diversity",), "GAN sample diversity", "fraction of the real data's"),
        ]
    )
    panels = [plots.Panel(title, ylabel, found) for keys, title, ylabel in specs if (found := series(*keys))]
    if fid := series("quality/fid", "quality/fid_reference"):
        shown = {f"samples, z from {sampler}": fid["quality/fid"]}
        if "quality/fid_reference" in fid:
            shown["real vs real (the floor)"] = fid["quality/fid_reference"]
        floor = dict(zip(*fid.get("quality/fid_reference", ([], [])), strict=True))
        low = any(y <= floor.get(x, -math.inf) for x, y in zip(*fid["quality/fid"], strict=True))
        note = "at or below the floor, FID cannot tell samples from real images" if low else ""
        panels.append(plots.Panel(f"{name} FID, z from {sampler}", "FID (vaegan features)", shown, note=note))
    return panels
