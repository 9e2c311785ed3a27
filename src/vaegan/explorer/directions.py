"""The explorer's slider directions: principal directions of the posterior means, and named ones.

A raw latent dimension is a poor slider: the decoder mixes dimensions, so sweeping one alone from -3 to 3
often redraws the same picture. The principal directions of the images' posterior means are the axes
along which the encoded images actually differ, and scaled by their spread a slider step means the same
on each. Named directions (attribute pairs, classes) are the ones `vaegan attribute` draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaegan import latent
from vaegan.attributes import MIN_GROUP, PREFERRED_PAIRS, AttributeGroups, from_attributes, from_labels
from vaegan.data import ImageDataset

MAX_DIRECTIONS = 16  # named sliders beyond this bury the useful ones
PRINCIPAL = 8  # principal-direction sliders; the rest carry little of the means' variance


@dataclass(frozen=True)
class Direction:
    name: str  # what the slider says, e.g. "skin_dark vs skin_light"
    description: str  # with the group sizes
    vector: torch.Tensor  # (D,): mean posterior mean of the positive group minus the negative one


@dataclass(frozen=True)
class Principal:
    axis: torch.Tensor  # (D,) unit vector
    spread: float  # standard deviation of the posterior means along the axis
    share: float  # the fraction of the means' total variance along it


def principal_directions(means: torch.Tensor, count: int = PRINCIPAL) -> list[Principal]:
    """The `count` axes of largest variance of the (N, D) means, as pca_2d finds the map's first two."""
    centred = means - means.mean(0)
    _, values, vh = torch.linalg.svd(centred, full_matrices=False)
    variances = values.pow(2) / max(1, len(means) - 1)
    total = float(variances.sum()) or 1.0
    return [
        Principal(vh[k], float(variances[k].sqrt()), float(variances[k]) / total)
        for k in range(min(count, len(values)))
        if variances[k] > 0
    ]


def named_groups(data: ImageDataset) -> list[AttributeGroups]:
    """The directions the data supports, as `vaegan attribute` defines them: the preferred attribute pairs
    (skin tone, smiling, woman/man), every other balanced attribute against its absence, then every class
    against the rest. Groups smaller than MIN_GROUP images are skipped: their mean is mostly noise."""
    counts = {k: int(v.sum()) for k, v in data.attributes.items()}
    groups, paired = [], set()
    for pos, neg in PREFERRED_PAIRS:
        if min(counts.get(pos, 0), counts.get(neg, 0)) >= MIN_GROUP:
            groups.append(from_attributes(data, pos, neg))
            paired |= {pos, neg}
    groups += [
        from_attributes(data, name)
        for name, n in counts.items()
        if name not in paired and MIN_GROUP <= n <= len(data) - MIN_GROUP
    ]
    if data.labels is not None:
        sizes = torch.bincount(data.labels, minlength=len(data.label_names))
        for c, n in enumerate(sizes.tolist()):
            if MIN_GROUP <= n <= len(data) - MIN_GROUP:
                groups.append(from_labels(data, data.label_names[c] if c < len(data.label_names) else str(c)))
    return groups[:MAX_DIRECTIONS]


def named_directions(data: ImageDataset, means: torch.Tensor) -> list[Direction]:
    """A Direction per group named_groups finds in `data`, from the images' (N, D) posterior means."""
    return [
        Direction(
            g.description.split(" (")[0], g.description, latent.attribute_direction(means, g.positive, g.negative)
        )
        for g in named_groups(data)
    ]
