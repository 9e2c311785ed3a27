"""A dataset in memory: (N, C, H, W) uint8 images with their labels, attributes and names. Its own module so
the readers (folder.py, idx.py, emoji.py) import it without importing the package that imports them."""

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
