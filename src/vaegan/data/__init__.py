"""Datasets held in memory as uint8 tensors, decoded once.

`build_dataset(cfg)` is the one entry point: it reads a folder of images, IDX files or the emoji font,
and returns an `ImageDataset` whose images are (N, C, H, W) uint8. Conversion to floats in [-1, 1] or
[0, 1] happens per batch in the training loop (`to_float`), so an epoch never decodes files again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class ImageDataset:
    images: torch.Tensor  # (N, C, H, W) uint8
    labels: torch.Tensor | None = None  # (N,) int64 class index, or None for unlabelled data
    label_names: tuple[str, ...] = ()  # label_names[labels[i]] is the class name
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (N,) bool
    names: tuple[str, ...] = ()  # one per image: a file path or an emoji name

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: torch.Tensor) -> ImageDataset:
        """The images at `index` (a 1-D long tensor), with their labels, attributes and names."""
        return ImageDataset(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            label_names=self.label_names,
            attributes={k: v[index] for k, v in self.attributes.items()},
            names=tuple(self.names[i] for i in index.tolist()) if self.names else (),
        )


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
