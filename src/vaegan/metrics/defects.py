"""Holes, specks and blocky texture as a number: fake over real, about 1 for real-looking images.

A GAN's samples can gain holes punched through to the background, specks of it, and flat square blocks;
FID barely moves and the checkerboard score (artifacts.py) looks only at the 2-pixel period. Both parts are
read on brightness (the channel mean, in [0, 1] of the value range), inside the object: the pixels off the
background (the median colour of the image's border; emoji sit on white), with gaps as wide as the widest
ring filled so that a hole stays inside its object.
- hole_share, per image: the share of object pixels nearer the background's brightness than every pixel
  of a square ring around them by more than STEP, for a ring at any distance 1..max(2, side // 8). A blob
  that fits inside a ring stands out from all of it, so specks and discs up to about 10 pixels across at
  64 px count, while an edge or a line, which runs out through every ring, does not. Only the background's
  direction counts: real emoji are full of small dark blobs (eyes, pupils) and have few bright ones
  (seeds, stars on flags).
- blockiness, per set: steps of more than BLOCK_STEP between neighbouring dark object pixels (brightness
  under DARK) on the lines that cut the image into BLOCK x BLOCK tiles from its top-left corner, over their
  mean on the other lines. A stride-2 upsampling stack copies each coarse pixel into such an aligned tile,
  so its blocks step there, while real images step about as often anywhere. Dark areas only: that is where
  users see blocks, and a dark face shades smoothly, so a block's small step stands out there.
A set's holes are the mean over its images of sqrt(hole_share), the defects' size relative to the
object's: a length, so that the few real emoji full of dots weigh less than their area would make them.
defect_score is the larger of the two fake-over-real ratios (defect_ratios), so each kind shows on its own.
Calibrated on real emoji against hand-made defects (the functions at the end of this module):
docs/results/defects/calibration.json (its script is in git history).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from vaegan.errors import VaeganError

# Thresholds on brightness in [0, 1]. None is a multiple of 1/765, the step of an 8-bit RGB image's channel
# mean, so no pixel sits on one and an image in another value range scores as its uint8 copy.
STEP = 0.21  # a hole's contrast: a white hole in a yellow face (brightness about 0.7) still clears it
BLOCK_STEP = 0.06  # a block's step: well above eight-bit rounding and the smooth shading of a face
DARK = 0.5  # blocks are counted where both pixels of a step are darker than this
BLOCK = 4  # the tile side of two stride-2 upsamplings, the blocks users report
BACKGROUND = 0.1  # a pixel this far from the border's brightness is object


def brightness(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """(N, C, H, W) in `value_range` -> (N, 1, H, W) channel mean in [0, 1]."""
    if images.ndim != 4:
        raise VaeganError(f"the defect score needs images (N, C, H, W), got shape {tuple(images.shape)}")
    lo, hi = value_range
    return ((images.float().mean(1, keepdim=True) - lo) / (hi - lo)).clamp(0, 1)


def border_median(x: torch.Tensor) -> torch.Tensor:
    """The median of the outermost pixels of (..., H, W): (...), the background's value."""
    border = torch.cat([x[..., 0, :], x[..., -1, :], x[..., 1:-1, 0], x[..., 1:-1, -1]], dim=-1)
    return border.median(dim=-1).values


def largest_ring(side: int) -> int:
    """The widest ring, side / 8: a GAN's holes span up to about 10 pixels at 64 px."""
    return max(2, side // 8)


def object_mask(y: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) bool from brightness `y`: off the background, with the gaps a ring spans filled."""
    inked = ((y - border_median(y)[..., None, None]).abs() > BACKGROUND).float()
    close = 2 * largest_ring(y.shape[-1]) + 1
    return -square_max(-square_max(inked, close), close) > 0  # a closing: dilate, then erode


def square_max(x: torch.Tensor, side: int) -> torch.Tensor:
    """The max over the side x side square around each pixel, as a row pass then a column pass."""
    rows = F.max_pool2d(x, (1, side), stride=1, padding=(0, side // 2))
    return F.max_pool2d(rows, (side, 1), stride=1, padding=(side // 2, 0))


def ring_maxima(y: torch.Tensor, largest: int) -> Iterator[torch.Tensor]:
    """For d = 1..largest, the largest value on the square ring at Chebyshev distance d around each pixel
    (edges replicated), from segment maxima that grow by one pixel each way per ring."""
    h, w = y.shape[-2:]
    pad = largest
    padded = F.pad(y, (pad,) * 4, mode="replicate")  # (N, 1, H + 2 pad, W + 2 pad)
    across = padded[..., pad : pad + w]  # [i, j]: max of padded row i over columns j - d .. j + d
    down = padded[..., pad : pad + h, :]  # [i, j]: max of padded column j over rows i - d .. i + d
    for d in range(1, largest + 1):
        across = torch.maximum(
            across, torch.maximum(padded[..., pad - d : pad - d + w], padded[..., pad + d : pad + d + w])
        )
        down = torch.maximum(
            down, torch.maximum(padded[..., pad - d : pad - d + h, :], padded[..., pad + d : pad + d + h, :])
        )
        top, bottom = across[..., pad - d : pad - d + h, :], across[..., pad + d : pad + d + h, :]
        left, right = down[..., pad - d : pad - d + w], down[..., pad + d : pad + d + w]
        yield torch.maximum(torch.maximum(top, bottom), torch.maximum(left, right))


def hole_pixels(y: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) bool: pixels nearer the background than every pixel of some ring around them by > STEP."""
    light = border_median(y)[..., None, None] > 0.5
    toward = torch.where(light, y, 1 - y)  # large where a pixel looks like the background
    flagged = torch.zeros_like(y, dtype=torch.bool)
    for ring in ring_maxima(toward, largest_ring(y.shape[-1])):
        flagged |= toward - ring > STEP
    return flagged


def holes_per_image(y: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """hole_share from brightness (N, 1, H, W) and its object mask: (N,)."""
    return (hole_pixels(y) & inside).sum(dim=(1, 2, 3)) / inside.sum(dim=(1, 2, 3)).clamp_min(1)


def aligned_steps(y: torch.Tensor, inside: torch.Tensor) -> float:
    """blockiness from brightness (N, 1, H, W) and its object mask."""
    dark = inside & (y < DARK)
    phases = torch.zeros(BLOCK, dtype=torch.float64)
    for dim in (3, 2):  # steps between columns, then between rows
        n = y.shape[dim] - 1
        step = (y.narrow(dim, 1, n) - y.narrow(dim, 0, n)).abs() > BLOCK_STEP
        counted = step & dark.narrow(dim, 1, n) & dark.narrow(dim, 0, n)  # (N, 1, H, W - 1) or (N, 1, H - 1, W)
        per_line = counted.sum(dim=tuple(d for d in range(4) if d != dim)).double()  # [k]: between k and k + 1
        phases += torch.stack([per_line[p::BLOCK].sum() for p in range(BLOCK)])
    aligned = phases[BLOCK - 1]  # between pixels BLOCK - 1 and BLOCK, 2 * BLOCK - 1 and 2 * BLOCK, ...
    others = (phases.sum() - aligned) / (BLOCK - 1)
    return float(aligned / others.clamp_min(1))


def hole_share(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 255.0)) -> torch.Tensor:
    """Per image, the share of object pixels that are holes or specks: (N,) in [0, 1], 0 without object."""
    y = brightness(images, value_range)
    return holes_per_image(y, object_mask(y))


def blockiness(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 255.0)) -> float:
    """Steps in dark object areas on the BLOCK-aligned lines over their mean on the other lines, counted over
    the set: about 1 when nothing lines up with the tiles, larger with aligned blocks, >= 0."""
    y = brightness(images, value_range)
    return aligned_steps(y, object_mask(y))


def defect_ratios(
    fake: torch.Tensor, real: torch.Tensor, *, value_range: tuple[float, float] = (0.0, 255.0)
) -> tuple[float, float]:
    """(mean sqrt(hole_share) of fake over that of real, blockiness of fake over that of real); each about 1 for
    real-looking images. Both sets (N, C, H, W) in `value_range` (the default: uint8 levels), any sizes."""
    (fake_holes, fake_blocks), (real_holes, real_blocks) = (measures(x, value_range) for x in (fake, real))
    return fake_holes / max(real_holes, 1e-12), fake_blocks / max(real_blocks, 1e-12)


def measures(images: torch.Tensor, value_range: tuple[float, float]) -> tuple[float, float]:
    """(mean over images of sqrt(hole_share), blockiness) of a set, from one brightness map and object mask."""
    y = brightness(images, value_range)
    inside = object_mask(y)
    return float(holes_per_image(y, inside).sqrt().mean()), aligned_steps(y, inside)


def defect_score(fake: torch.Tensor, real: torch.Tensor, *, value_range: tuple[float, float] = (0.0, 255.0)) -> float:
    """The larger of defect_ratios, >= 0: about 1 for real-looking images, larger with holes, specks or blocks."""
    return max(defect_ratios(fake, real, value_range=value_range))


# Defects made by hand on uint8 images, what the score is calibrated on and tested with.


def punch_holes(images: torch.Tensor, per_image: int, generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, C, H, W) with `per_image` discs of the background colour inside each object, of radius
    1-3 pixels at 64 px (scaled with the side), centred on random object pixels."""
    out = images.clone()
    inside = object_mask(brightness(images, (0.0, 255.0)))[:, 0]
    h, w = images.shape[-2:]
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    for image, mask in zip(out, inside, strict=True):
        where = mask.flatten().nonzero()[:, 0]
        if len(where) == 0:
            continue
        colour = border_median(image)
        for centre in where[torch.randint(len(where), (per_image,), generator=generator)].tolist():
            radius = (1 + 2 * float(torch.rand((), generator=generator))) * w / 64
            disc = (rows - centre // w) ** 2 + (cols - centre % w) ** 2 <= radius**2
            image[:, disc] = colour.view(-1, 1)
    return out


def add_specks(images: torch.Tensor, share: float, generator: torch.Generator) -> torch.Tensor:
    """uint8 (N, C, H, W) with each object pixel turned to the background colour with probability `share`."""
    inside = object_mask(brightness(images, (0.0, 255.0)))
    hit = (torch.rand(inside.shape, generator=generator) < share) & inside
    colours = border_median(images)[..., None, None]  # (N, C, 1, 1)
    return torch.where(hit, colours, images)


def blockify(images: torch.Tensor, share: float, generator: torch.Generator, amplitude: float = 0.1) -> torch.Tensor:
    """uint8 (N, C, H, W), sides divisible by BLOCK, with a `share` of the dark BLOCK x BLOCK tiles (mean
    brightness under DARK) made flat at their mean, lifted or lowered by `amplitude` of the range."""
    x = images.float() / 255
    tiles = F.avg_pool2d(x, BLOCK)  # (N, C, H / BLOCK, W / BLOCK)
    dark = tiles.mean(1, keepdim=True) < DARK
    picked = (torch.rand(dark.shape, generator=generator) < share) & dark
    sign = torch.randint(0, 2, dark.shape, generator=generator) * 2 - 1
    flat = F.interpolate((tiles + amplitude * sign).clamp(0, 1), scale_factor=BLOCK, mode="nearest")
    where = F.interpolate(picked.float(), scale_factor=BLOCK, mode="nearest") > 0
    return torch.where(where, (flat * 255).round().to(torch.uint8), images)
