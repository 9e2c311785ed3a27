"""What one latent-tool call may ask for, checked alike by the CLI's flags and the Python API's keywords.

Each count is bounded by the memory its picture takes: every image of a picture is decoded as floats and
held until the grid is drawn (a 64x64 RGB image is 48 KiB, so 4,096 of them are 200 MiB; at 1024 px each is
12 MiB); image files given by path count against the same rows before any is read. Seeds are bounded by what
torch's generators take; real values must be finite and at most MAX_MULTIPLE, or the latents they scale
overflow (1e308 is a finite float, its z in float32 is inf) and the picture is black or noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from vaegan.config import MAX_SEED
from vaegan.errors import VaeganError

MAX_SAMPLES = 4096  # images in one picture: one PNG grid of 64 x 64 images
MAX_TARGETS = 64  # input images of a similar or attribute picture, one row each
MAX_VARIANTS = 64  # variants per row of a similar picture: 64 rows of 66 cells (input, mean, variants)
MAX_STEPS = 256  # images along an interpolation, per method, each also a GIF frame
MAX_GRID = 64  # decodes per side of a latent map: 4,096 images
MAX_STRENGTHS = 64  # columns of an attribute sweep
MAX_ENCODED = 100_000  # images encoded for a latent map or KL chart: their latents, not their pixels, are kept
# |scale|, |strength|, temperature: multiples of z's spread; past ~10 every decode is already noise, and 1e3
# keeps z and the decoder's activations far below float32's overflow at 3.4e38
MAX_MULTIPLE = 1e3


def check_count(value: int, low: int, high: int, what: str) -> int:
    """`value` if it is a whole number in [low, high]; else one line naming the bound."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise VaeganError(f"{what} must be between {low} and {high}, got {value!r}")
    return value


def check_finite(value: float, what: str, low: float = -MAX_MULTIPLE) -> float:
    """`value` if it is a finite number in [low, MAX_MULTIPLE]: NaN and inf would turn every latent into NaN,
    and a huge finite one overflows z in float32."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not (number and math.isfinite(value) and low <= value <= MAX_MULTIPLE):
        raise VaeganError(f"{what} must be finite and between {low:g} and {MAX_MULTIPLE:g}, got {value!r}")
    return float(value)


def check_strengths(strengths: Sequence[float], what: str) -> list[float]:
    """An attribute sweep's multiples: 1 to MAX_STRENGTHS finite numbers."""
    check_count(len(strengths), 1, MAX_STRENGTHS, f"the number of {what}")
    return [check_finite(s, what) for s in strengths]


def seeded(seed: int, what: str = "--seed") -> torch.Generator:
    """A CPU generator seeded with `seed`, which must lie in [0, MAX_SEED] (10**23 overflowed in torch)."""
    return torch.Generator().manual_seed(check_count(seed, 0, MAX_SEED, what))
