"""The defect score: about 1 for real emoji against real emoji, high and rising with hand-made defects."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from vaegan.data import to_float
from vaegan.metrics.defects import (
    add_specks,
    blockify,
    defect_ratios,
    defect_score,
    hole_share,
    punch_holes,
)


def square(background: int = 255, fill: int = 100) -> torch.Tensor:
    """One (1, 3, 32, 32) uint8 image: a flat 16 x 16 square on a flat background."""
    image = torch.full((1, 3, 32, 32), background, dtype=torch.uint8)
    image[..., 8:24, 8:24] = fill
    return image


def test_a_punched_pixel_is_one_hole_and_lines_and_dark_dots_are_none() -> None:
    clean = square()
    assert float(hole_share(clean)) == 0
    punched = clean.clone()
    punched[..., 16, 16] = 255
    assert float(hole_share(punched)) == pytest.approx(1 / 256)  # the gap is closed: the square stays 256 pixels
    lined = clean.clone()
    lined[..., 16, 8:24] = 255  # a thin white line runs out through every ring: a feature, not a hole
    assert float(hole_share(lined)) == 0
    pupil = clean.clone()
    pupil[..., 16, 16] = 0  # darker than the object: an eye, not a hole on a white background
    assert float(hole_share(pupil)) == 0


def test_on_a_black_background_holes_are_dark() -> None:
    clean = square(background=0, fill=160)
    punched = clean.clone()
    punched[..., 12, 12] = 0
    assert float(hole_share(punched)) == pytest.approx(1 / 256)
    punched[..., 20, 20] = 255
    assert float(hole_share(punched)) == pytest.approx(1 / 256)  # a bright dot is not the background's colour


def test_real_emoji_against_real_emoji_score_about_one(emoji: torch.Tensor) -> None:
    # halves of about 1,700: a few hundred real emoji hold too few bright dots for a steady share
    holes, blocks = defect_ratios(emoji[1::2], emoji[::2])
    assert 0.8 < holes < 1.25 and 0.95 < blocks < 1.05
    assert defect_score(emoji[1::2], emoji[::2]) == max(holes, blocks)


def test_holes_specks_and_blocks_score_high_and_rise_with_their_density(emoji: torch.Tensor) -> None:
    fake, real = emoji[1::2], emoji[::2]

    def scores(make: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor], densities: tuple) -> list[float]:
        return [defect_score(make(fake, d, torch.Generator().manual_seed(0)), real) for d in densities]

    holes = scores(lambda x, d, g: punch_holes(x, per_image=int(d), generator=g), (1, 2, 4))
    specks = scores(lambda x, d, g: add_specks(x, share=d, generator=g), (0.0025, 0.005, 0.01))
    blocks = scores(lambda x, d, g: blockify(x, share=d, generator=g), (0.1, 0.25, 0.5))
    for values in (holes, specks, blocks):
        assert values == sorted(values) and len(set(values)) == 3
    assert holes[1] > 2.5 and specks[1] > 2.5 and blocks[1] > 1.5  # at about the density users see


def test_the_value_range_does_not_change_the_score(emoji: torch.Tensor) -> None:
    fake = punch_holes(emoji[:200], per_image=2, generator=torch.Generator().manual_seed(0))
    real = emoji[200:400]
    scaled = defect_score(to_float(fake, (-1.0, 1.0)), to_float(real, (-1.0, 1.0)), value_range=(-1.0, 1.0))
    assert scaled == pytest.approx(defect_score(fake, real), rel=1e-3)
