"""Charts drawn with matplotlib's Agg canvas: line panels, a bar chart, and the latent map's scatter.

Each function returns a PIL image so callers save it or embed it like any other picture. Figures are
built with matplotlib.figure.Figure on an Agg canvas directly, never through pyplot, so drawing needs no
display, touches no global state and leaves no figure open. matplotlib is imported inside the functions:
the training loops and the CLI's start-up never pay for it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
Series = Mapping[str, tuple[Sequence[float], Sequence[float]]]  # name -> (xs, ys)


@dataclass(frozen=True)
class Panel:
    """One line chart: a title, the y axis's label with its unit, named (x, y) series and an optional note
    printed inside the axes."""

    title: str
    ylabel: str
    series: Series
    xlabel: str = "epoch"
    note: str = ""


def figure(width: float, height: float) -> Figure:
    """A blank figure of width x height pixels on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_image(fig: Figure) -> Image.Image:
    """The rendered figure as an RGB PIL image."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    buffer.seek(0)
    with Image.open(buffer) as image:
        return image.convert("RGB")


def draw_lines(ax: Axes, panel: Panel) -> None:
    """The panel's series as lines with dots, or a note when none has a finite point."""
    xs_drawn: set[float] = set()
    for name, (xs, ys) in panel.series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", markersize=3, linewidth=1.5, label=name)
            xs_drawn.update(x for x, _ in points)
    ax.set_title(panel.title, fontsize=11)
    ax.set_xlabel(panel.xlabel)
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, color="#e5e5e5")
    if not xs_drawn:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#777")
        return
    from matplotlib.ticker import MaxNLocator

    if len(xs_drawn) <= 10:
        ticks = sorted(xs_drawn)  # a tick per epoch logged, so one point is not an axis of 0.945s
        ax.set_xticks(ticks, labels=[f"{x:g}" for x in ticks])  # "6", not "6.0", beside a 7.5
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs: no tick at 1.5
    if len(panel.series) > 1:
        ax.legend(fontsize=8)
    if panel.note:
        ax.text(0.02, 0.03, panel.note, transform=ax.transAxes, fontsize=7, color="#a33", wrap=True)


def line_charts(panels: Sequence[Panel], ncol: int = 3, cell: tuple[int, int] = (360, 260)) -> Image.Image:
    """Line charts side by side, `ncol` per row, each with labelled axes."""
    nrow = math.ceil(len(panels) / ncol)
    cols = min(ncol, len(panels))
    fig = figure(cell[0] * cols, cell[1] * nrow)
    for i, panel in enumerate(panels):
        draw_lines(fig.add_subplot(nrow, cols, i + 1), panel)
    return to_image(fig)


def bar_chart(
    values: torch.Tensor,
    title: str,
    ylabel: str,
    threshold: float | None = None,
    xlabel: str = "latent dimension",
    size: tuple[int, int] = (640, 300),
) -> Image.Image:
    """One bar per value (index on x); bars above `threshold` in blue, below in grey, the threshold dashed.

    With a threshold the y axis is logarithmic from a tenth of it: a 0.01 threshold beside bars of several
    units would lie on the x axis, unseen, on a linear one; bars below that floor stand at it."""
    values = values.detach().float().cpu()
    fig = figure(*size)
    ax = fig.add_subplot()
    active = [threshold is None or v > threshold for v in values.tolist()]
    colours = ["tab:blue" if a else "#b0b0b0" for a in active]
    if threshold is None:
        ax.bar(range(len(values)), values.tolist(), color=colours)
    else:
        floor = threshold / 10
        heights = values.clamp_min(floor) - floor
        ax.bar(range(len(values)), heights.tolist(), bottom=floor, color=colours)
        ax.set_yscale("log")
        ax.set_ylim(floor, max(float(values.max()), threshold) * 2)
        ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.legend(fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.6, len(values) - 0.4)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # dimensions: no tick at 0.5
    return to_image(fig)


def latent_map(
    points: torch.Tensor,
    labels: torch.Tensor | None,
    label_names: Sequence[str],
    grid: Image.Image,
    box: tuple[torch.Tensor, torch.Tensor],
    titles: tuple[str, str],
) -> Image.Image:
    """Left: points (N, 2) coloured by label, every one inside the axes, with the rectangle `box` (lo, hi)
    dashed. Right: `grid`, the decodes over that rectangle, drawn on the same coordinates."""
    lo, hi = (t.tolist() for t in box)
    fig = figure(1100, 500)
    left, right = fig.subplots(1, 2)
    scatter(left, points, labels, label_names)
    from matplotlib.patches import Rectangle

    left.add_patch(
        Rectangle((lo[0], lo[1]), hi[0] - lo[0], hi[1] - lo[1], fill=False, linestyle="--", edgecolor="#444")
    )
    right.imshow(grid, extent=(lo[0], hi[0], lo[1], hi[1]), interpolation="nearest", cmap="gray", aspect="auto")
    for ax, title in zip((left, right), titles, strict=True):
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("first principal direction")
        ax.set_ylabel("second principal direction")
    return to_image(fig)


def scatter(ax: Axes, points: torch.Tensor, labels: torch.Tensor | None, label_names: Sequence[str]) -> None:
    """Points coloured by integer label (tab10) with a legend outside the axes; limits hold every point."""
    xy = points.detach().float().cpu()
    options: dict[str, Any] = {"s": 8, "alpha": 0.7, "linewidths": 0}
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], **options)
    else:
        for k in sorted(set(labels.tolist())):
            mine = labels == k
            name = label_names[k] if k < len(label_names) else str(k)
            ax.scatter(xy[mine, 0], xy[mine, 1], color=f"C{k % 10}", label=name, **options)
        ax.legend(fontsize=8, markerscale=2, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.margins(0.04)
    ax.grid(True, color="#eeeeee")
