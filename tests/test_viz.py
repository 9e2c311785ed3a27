from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaegan import plots
from vaegan.viz import make_grid, save_gif, save_grid


def coloured(image: Image.Image) -> int:
    """Pixels that are neither white nor grey: what was drawn in colour."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    return int(((rgb.max(-1) - rgb.min(-1)) > 40).sum())


def colours(image: Image.Image) -> set[tuple[int, ...]]:
    return {tuple(c) for c in np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0).tolist()}


def test_nice_ticks_are_round_and_cover_the_range() -> None:
    ticks = plots.nice_ticks(0.13, 9.7, 5)
    assert ticks[0] <= 0.13 and ticks[-1] >= 9.7
    assert ticks == [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]
    assert len(plots.nice_ticks(5.0, 5.0)) >= 2  # a flat series still gets an axis


def test_line_chart_draws_each_series_in_its_colour() -> None:
    chart = plots.line_chart({"train": ([1, 2, 3], [3.0, 2.0, 1.5]), "val": ([1, 2, 3], [3.5, 2.5, 2.0])}, "loss")
    assert chart.size == (380, 250)
    drawn = colours(chart)
    assert (31, 119, 180) in drawn and (255, 127, 14) in drawn  # PALETTE[0], PALETTE[1]
    blank = plots.line_chart({"train": ([], [])}, "empty")
    assert coloured(blank) == 0


def test_bar_chart_greys_out_bars_below_the_threshold() -> None:
    chart = plots.bar_chart(torch.tensor([0.5, 0.001, 0.2]), "kl", threshold=0.01)
    drawn = colours(chart)
    assert (31, 119, 180) in drawn and (176, 176, 176) in drawn


def test_scatter_colours_points_by_label_and_drops_points_outside() -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [50.0, 50.0]])
    chart = plots.scatter(
        points,
        torch.tensor([0, 2, 1]),
        ("a", "b", "c"),
        "map",
        torch.tensor([-1.0, -1.0]),
        torch.tensor([2.0, 2.0]),
    )
    drawn = colours(chart)
    assert (31, 119, 180) in drawn and (44, 160, 44) in drawn
    orange = (np.asarray(chart.convert("RGB")) == (255, 127, 14)).all(-1).sum()
    assert orange == 100  # the 10 x 10 legend swatch of "b" alone: its point lies outside the map


def test_tile_places_panels_side_by_side() -> None:
    panels = [Image.new("RGB", (10, 20), "red"), Image.new("RGB", (30, 5), "blue"), Image.new("RGB", (7, 7))]
    assert plots.tile(panels, ncol=2, gap=4).size == (44, 31)


def test_grid_and_gif_helpers_keep_their_contracts(tmp_path: Path) -> None:
    images = torch.randint(0, 255, (5, 3, 4, 4), dtype=torch.uint8)
    assert make_grid(images, nrow=2).shape == (3, 3 * 6 + 2, 2 * 6 + 2)
    path = save_grid(images.float() / 255, tmp_path / "g.png", (0.0, 1.0), nrow=5)
    with Image.open(path) as im:
        assert im.size == (5 * 6 + 2, 8)
    gif = save_gif([Image.new("RGB", (20, 20), c) for c in ("red", "blue")], tmp_path / "a.gif", ["1", "2"])
    with Image.open(gif) as im:
        assert im.n_frames == 2
