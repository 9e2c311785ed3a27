from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vaegan import plots
from vaegan.viz import label_image, make_grid, save_gif, save_grid, upscale


def coloured(image: Image.Image) -> int:
    """Pixels that are neither white nor grey: what was drawn in colour."""
    rgb = np.asarray(image.convert("RGB")).astype(int)
    return int(((rgb.max(-1) - rgb.min(-1)) > 40).sum())


def colours(image: Image.Image) -> set[tuple[int, ...]]:
    return {tuple(c) for c in np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0).tolist()}


def test_line_charts_draw_each_series_in_its_colour_with_labelled_axes() -> None:
    panels = [
        plots.Panel("loss", "nats", {"train": ([1, 2, 3], [3.0, 2.0, 1.5]), "val": ([1, 2, 3], [3.5, 2.5, 2.0])}),
        plots.Panel("empty", "nats", {"train": ([], [])}),
    ]
    chart = plots.line_charts(panels, ncol=2, cell=(300, 200))
    assert chart.size == (600, 200)
    drawn = colours(chart)
    assert (31, 119, 180) in drawn and (255, 127, 14) in drawn  # tab10's first two: one per series
    right = chart.crop((300, 0, 600, 200))
    assert (31, 119, 180) not in colours(right)  # the empty panel draws no line


def test_bar_chart_greys_out_bars_below_the_threshold() -> None:
    chart = plots.bar_chart(torch.tensor([0.5, 0.001, 0.2]), "kl", "nats", threshold=0.01)
    drawn = colours(chart)
    assert (31, 119, 180) in drawn and (176, 176, 176) in drawn


def test_scatter_keeps_every_point_inside_the_axes() -> None:
    points = torch.tensor([[0.0, 0.0], [1.0, 1.0], [50.0, -40.0]])
    fig = plots.figure(300, 300)
    ax = fig.add_subplot()
    plots.scatter(ax, points, torch.tensor([0, 2, 1]), ("a", "b", "c"))
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 < 0.0 and x1 > 50.0 and y0 < -40.0 and y1 > 1.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]


def test_latent_map_draws_the_map_beside_its_decodes() -> None:
    grid = Image.new("RGB", (40, 40), (255, 0, 0))
    box = (torch.tensor([-1.0, -1.0]), torch.tensor([1.0, 1.0]))
    picture = plots.latent_map(torch.randn(50, 2), None, (), grid, box, ("map", "decodes"))
    assert picture.size == (1100, 500)
    assert (255, 0, 0) in colours(picture.crop((550, 0, 1100, 500)))


def test_gif_labels_are_large_and_unchanged_frames_cost_nothing(tmp_path: Path) -> None:
    assert label_image(Image.new("RGB", (100, 50)), "VAE epoch 3").height >= 50 + 20
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    one, ten = save_gif([noise], tmp_path / "1.gif"), save_gif([noise] * 10, tmp_path / "10.gif")
    assert ten.stat().st_size < 1.1 * one.stat().st_size  # a frame like the last stores no pixels again


def test_upscale_enlarges_small_pictures_by_a_whole_factor() -> None:
    assert upscale(Image.new("L", (28, 10)), 100).size == (112, 40)
    assert upscale(Image.new("L", (300, 10)), 100).size == (300, 10)


def test_grid_and_gif_helpers_keep_their_contracts(tmp_path: Path) -> None:
    images = torch.randint(0, 255, (5, 3, 4, 4), dtype=torch.uint8)
    assert make_grid(images, nrow=2).shape == (3, 3 * 6 + 2, 2 * 6 + 2)
    path = save_grid(images.float() / 255, tmp_path / "g.png", (0.0, 1.0), nrow=5)
    with Image.open(path) as im:
        assert im.size == (5 * 6 + 2, 8)
    gif = save_gif([Image.new("RGB", (20, 20), c) for c in ("red", "blue")], tmp_path / "a.gif", ["1", "2"])
    with Image.open(gif) as im:
        assert im.n_frames == 2


def test_default_grids_fill_their_rows() -> None:
    from vaegan.viz import grid_columns

    columns = {n: grid_columns(n) for n in (1, 2, 6, 7, 12, 32, 64, 100)}
    assert columns == {1: 1, 2: 2, 6: 3, 7: 3, 12: 4, 32: 8, 64: 8, 100: 10}  # 32: 8 x 4, not 6 x 6 with 4 empty


def test_gif_frames_keep_their_own_colours(tmp_path: Path) -> None:
    """A palette shared by every frame held 63 colours: pinks turned salmon and greens vanished."""
    rng = np.random.default_rng(0)
    reds = rng.integers(0, 256, (200, 1)) * np.array([[1, 0, 0]]) + np.array([[0, 40, 90]])
    greens = rng.integers(0, 256, (200, 1)) * np.array([[0, 1, 0]]) + np.array([[120, 0, 30]])
    frames = [  # 200 colours each, none shared: 400 in all
        Image.fromarray(np.clip(family, 0, 255).astype(np.uint8)[rng.integers(0, 200, (60, 60))], "RGB")
        for family in (reds, greens)
    ]
    with Image.open(save_gif(frames, tmp_path / "two.gif")) as gif:
        for i, frame in enumerate(frames):
            gif.seek(i)
            assert np.array_equal(np.asarray(gif.convert("RGB")), np.asarray(frame)), f"frame {i} lost colours"


def test_bar_chart_threshold_stands_clear_of_the_x_axis() -> None:
    """KL per dimension: a 0.01-nat threshold beside bars of several nats lay on the axis, unseen."""
    chart = np.asarray(plots.bar_chart(torch.tensor([6.0, 0.001, 3.0, 0.5]), "kl", "nats", threshold=0.01))
    red = (np.abs(chart.astype(int) - (214, 39, 40)).sum(-1) < 30).sum(1)  # tab:red pixels per row
    blue = (np.abs(chart.astype(int) - (31, 119, 180)).sum(-1) < 30).any(1)
    line, bars_end = int(red.argmax()), int(np.nonzero(blue)[0].max())  # the dashed line; the bars' foot
    assert red[line] > 100 and bars_end - line > 40, (line, bars_end)
