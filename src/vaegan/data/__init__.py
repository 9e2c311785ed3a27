"""Datasets held in memory as uint8 tensors, decoded once.

`build_dataset(cfg)` is the one entry point: it reads a folder of images, IDX files or the emoji font,
and returns an `ImageDataset` whose images are (N, C, H, W) uint8. Conversion to floats in [-1, 1] or
[0, 1] happens per batch in the training loop (`to_float`), so an epoch never decodes files again.
`load_splits(cfg)` adds the seeded train/val split. The readers live in folder.py, idx.py and emoji.py
and are imported on first use, so `import vaegan.data` stays cheap.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vaegan.config import DataConfig
from vaegan.data.images import ImageDataset
from vaegan.errors import VaeganError

__all__ = ["ImageDataset", "DataSplits", "build_dataset", "load_splits", "to_float", "to_uint8"]

logger = logging.getLogger(__name__)

IDX_SOURCES = ("fashion-mnist", "mnist")
# Two images to train on, as the prior fitted to their latents (prior.py: it draws the VAE's samples and the
# GAN's z) needs a spread, and one held out, so validation scores images the model did not learn: three in
# all at any --val-fraction above 0. Held-out sets too small for FID & co. switch those off (metrics/quality.py).
MIN_TRAIN = 2
EMOJI_SOURCES = ("emoji", "emoji:people", "emoji:faces")


def to_float(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 in `value_range`, (0, 1) or (-1, 1)."""
    lo, hi = value_range
    return images.float().mul_((hi - lo) / 255.0).add_(lo)


def to_uint8(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """The inverse of `to_float`, clamped, for saving pictures."""
    lo, hi = value_range
    scaled = (images.detach().float() - lo) * (255.0 / (hi - lo))
    return scaled.round_().clamp_(0, 255).to(torch.uint8)


def train_val_split(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, seeded held-out split: the same (n, fraction, seed) always gives the same indices."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n_val == 0 and n > 1:
        n_val = 1
    return order[n_val:].sort().values, order[:n_val].sort().values


@dataclass(frozen=True)
class DataSplits:
    train: ImageDataset
    val: ImageDataset
    test: ImageDataset  # the official test set for IDX data; the same object as `val` for folders and emoji

    @property
    def held_out(self) -> ImageDataset:
        """The validation images; the training images when none are held out."""
        return self.val if len(self.val) else self.train


def absolute_source(source: str) -> str:
    """A --data folder as an absolute path (a run stores it, and is read from other folders); a dataset's
    name, or a path that does not exist (its error says so later), as given."""
    if source in IDX_SOURCES + EMOJI_SOURCES or not Path(source).expanduser().exists():
        return source
    return os.path.abspath(Path(source).expanduser())


def build_dataset(cfg: DataConfig, split: str = "train", run: str | Path | None = None) -> ImageDataset:
    """All images of `cfg.source`; `split` picks the official "train" or "test" set of IDX data. `run`: the
    run whose config names the data, for the message when its folder is gone."""
    if split not in ("train", "test"):
        raise VaeganError(f"split must be 'train' or 'test', got {split!r}")
    if cfg.source in IDX_SOURCES:
        from vaegan.data.idx import default_root, load_idx_dataset

        root = cfg.root or default_root(cfg.source, cfg.cache_dir)
        data = load_idx_dataset(cfg.source, root, split, cfg.image_size, cfg.channels)
    elif split == "test":
        raise VaeganError(
            f"{cfg.source} has no official test split; use load_splits(cfg), whose test set is the held-out val split"
        )
    elif cfg.source in EMOJI_SOURCES:
        from vaegan.data.emoji import load_emoji

        data = load_emoji(cfg.source, cfg.root, cfg.image_size, cfg.channels, cfg.cache_dir)
    elif Path(cfg.source).expanduser().is_dir():
        from vaegan.data.folder import load_folder

        data = load_folder(cfg.source, cfg.image_size, cfg.channels)
    elif run is not None:
        raise VaeganError(
            f"{run} was trained on the images in {cfg.source}, which is gone; put them back there (a symlink to "
            "where they are now will do)"
        )
    else:
        raise VaeganError(
            f"data source {cfg.source!r} is neither a known dataset nor an existing folder; "
            f"use one of {', '.join(EMOJI_SOURCES + IDX_SOURCES)} or the path of a folder of images"
        )
    size = cfg.image_size
    logger.debug("read %s (%s): %d images, %dx%d px", cfg.source, split, len(data), size, size)
    return data


def load_splits(cfg: DataConfig, run: str | Path | None = None) -> DataSplits:
    """Seeded train/val split of the training data, plus a test set. A split that leaves fewer than MIN_TRAIN
    images to train on, or none held out where --val-fraction asks for some, is refused.

    Folders and emoji have no official test set, so their `test` is the val split: test metrics on them are
    held-out metrics, not a separate benchmark. `run`: the run the config is read from (build_dataset).
    """
    full = build_dataset(cfg, "train", run)
    train_idx, val_idx = train_val_split(len(full), cfg.val_fraction, cfg.split_seed)
    if len(train_idx) < MIN_TRAIN or (cfg.val_fraction > 0 and len(val_idx) == 0):
        raise VaeganError(
            f"{cfg.source} holds {len(full)} readable image(s), {len(train_idx)} to train on and {len(val_idx)} held "
            f"out; vaegan needs at least {MIN_TRAIN} to train on (the prior fitted to their latents needs a spread) "
            "and 1 held out (--val-fraction): add images"
        )
    train, val = full.subset(train_idx), full.subset(val_idx)
    test = build_dataset(cfg, "test") if cfg.source in IDX_SOURCES else val
    size = cfg.image_size
    logger.info(
        "data %s: %d images of %dx%d px, %d channel(s): %d for training, %d held out for validation%s",
        cfg.source,
        len(full),
        size,
        size,
        cfg.channels,
        len(train),
        len(val),
        f", {len(test)} in the official test set" if test is not val else "",
    )
    return DataSplits(train=train, val=val, test=test)
