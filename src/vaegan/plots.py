"""Charts drawn with Pillow alone (lines, bars, scatter), so pictures need no matplotlib.

Each function returns a PIL image; callers save or embed it. Axes get "nice" ticks (1, 2, 5 x 10^k),
and colours come from one ten-colour palette (matplotlib's tab10) so a label keeps its colour everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from PIL import Image, ImageDraw, ImageFont

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
MARGIN = (56, 28, 14, 36)  # left, top, right, bottom: room for tick labels, title and x label


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at `size` (FreeType builds), else its fixed bitmap font: never a font file."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round numbers covering [lo, hi]."""
    if not math.isfinite(lo) or not math.isfinite(hi):
        return [0.0]
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))

    def ticks(step: float) -> list[float]:
        start = math.floor(lo / step) * step
        return [start + i * step for i in range(int(math.ceil((hi - start) / step - 1e-9)) + 1)]

    return min((ticks(m * power) for m in (1, 2, 5, 10)), key=lambda t: abs(len(t) - count))


def inside(ticks: list[float], lo: float, hi: float) -> list[float]:
    """The ticks within [lo, hi]: a map's limits are its data's, not rounded outwards."""
    return [t for t in ticks if lo - 1e-12 <= t <= hi + 1e-12]


def tick_label(value: float) -> str:
    if abs(value) >= 1e5:
        return f"{value:.2g}"
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


class Axes:
    """A plot area inside an image that maps data coordinates to pixels."""

    def __init__(self, image: Image.Image, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
        self.image, self.draw = image, ImageDraw.Draw(image)
        left, top, right, bottom = MARGIN
        self.box = (left, top, image.width - right, image.height - bottom)
        self.xlim, self.ylim = xlim, ylim

    def px(self, x: float, y: float) -> tuple[float, float]:
        (x0, x1), (y0, y1) = self.xlim, self.ylim
        left, top, right, bottom = self.box
        return (
            left + (x - x0) / (x1 - x0 or 1) * (right - left),
            bottom - (y - y0) / (y1 - y0 or 1) * (bottom - top),
        )

    def frame(self, title: str, xlabel: str, xticks: Sequence[float], yticks: Sequence[float]) -> None:
        left, top, right, bottom = self.box
        f = font(11)
        for y in yticks:
            _, py = self.px(self.xlim[0], y)
            self.draw.line([(left, py), (right, py)], fill="#e5e5e5")
            self.draw.text((left - 4, py), tick_label(y), fill="#333", font=f, anchor="rm")
        for x in xticks:
            px, _ = self.px(x, self.ylim[0])
            self.draw.line([(px, bottom), (px, bottom + 3)], fill="#333")
            self.draw.text((px, bottom + 5), tick_label(x), fill="#333", font=f, anchor="mt")
        self.draw.rectangle(self.box, outline="#333")
        self.draw.text((self.image.width / 2, 6), title, fill="black", font=font(13), anchor="mt")
        self.draw.text(((left + right) / 2, self.image.height - 4), xlabel, fill="#333", font=f, anchor="mb")


def legend(draw: ImageDraw.ImageDraw, entries: Sequence[tuple[str, str]], x: float, y: float) -> None:
    """Colour swatches and names stacked downwards from (x, y)."""
    f = font(11)
    for i, (name, colour) in enumerate(entries):
        top = y + 14 * i
        draw.rectangle([x, top + 2, x + 9, top + 11], fill=colour)
        draw.text((x + 13, top), name, fill="black", font=f)


def line_chart(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str = "epoch",
    size: tuple[int, int] = (380, 250),
) -> Image.Image:
    """One line per named (xs, ys) series, with dots at the points and a legend in the top-left corner."""
    image = Image.new("RGB", size, "white")
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    if not points:
        ImageDraw.Draw(image).text((10, 10), f"{title}: no data", fill="black", font=font())
        return image
    xs_all, ys_all = [p[0] for p in points], [p[1] for p in points]
    xticks, yticks = nice_ticks(min(xs_all), max(xs_all), 6), nice_ticks(min(ys_all), max(ys_all), 5)
    xticks = [t for t in xticks if min(xs_all) - 1e-9 <= t <= max(xs_all) + 1e-9] or [min(xs_all)]
    if all(float(x).is_integer() for x in xs_all):  # epochs: no tick at 1.5
        xticks = [t for t in xticks if float(t).is_integer()] or sorted(set(xs_all))
    ax = Axes(image, (min(xs_all), max(xs_all)), (yticks[0], yticks[-1]))
    ax.frame(title, xlabel, xticks, yticks)
    for i, (xs, ys) in enumerate(series.values()):
        colour = PALETTE[i % len(PALETTE)]
        pixels = [ax.px(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
        if len(pixels) > 1:
            ax.draw.line(pixels, fill=colour, width=2)
        for px, py in pixels:
            ax.draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
    entries = [(name, PALETTE[i % len(PALETTE)]) for i, name in enumerate(series)]
    # top right: losses fall from the top left, so that corner is the one most often empty
    width = max(font(11).getlength(name) for name in series) + 13
    legend(ax.draw, entries, ax.box[2] - width - 6, ax.box[1] + 4)
    return image


def bar_chart(
    values: torch.Tensor,
    title: str,
    threshold: float | None = None,
    xlabel: str = "latent dimension",
    size: tuple[int, int] = (560, 260),
) -> Image.Image:
    """One bar per value (index on x); bars above `threshold` in blue, below in grey, the threshold dashed."""
    image = Image.new("RGB", size, "white")
    values = values.detach().float().cpu()
    top_value = max(float(values.max()), threshold or 0.0, 1e-6)
    yticks = nice_ticks(0.0, top_value, 5)
    n = len(values)
    ax = Axes(image, (-0.5, n - 0.5), (0.0, yticks[-1]))
    step = max(1, n // 16)
    ax.frame(title, xlabel, list(range(0, n, step)), yticks)
    half = 0.4
    for i, v in enumerate(values.tolist()):
        (x0, y0), (x1, y1) = ax.px(i - half, v), ax.px(i + half, 0.0)
        active = threshold is None or v > threshold
        ax.draw.rectangle([x0, y0, max(x0, x1 - 1), y1], fill=PALETTE[0] if active else "#b0b0b0")
    if threshold is not None:
        _, py = ax.px(0, threshold)
        left, _, right, _ = ax.box
        for x in range(int(left), int(right), 8):
            ax.draw.line([(x, py), (min(x + 4, right), py)], fill=PALETTE[3], width=1)
    return image


def scatter(
    points: torch.Tensor,
    labels: torch.Tensor | None,
    label_names: Sequence[str],
    title: str,
    lo: torch.Tensor,
    hi: torch.Tensor,
    size: tuple[int, int] = (460, 400),
) -> Image.Image:
    """Points (N, 2) in the rectangle [lo, hi], coloured by integer label, with a legend to the right."""
    legend_width = 110 if labels is not None else 0
    image = Image.new("RGB", (size[0] + legend_width, size[1]), "white")
    plot = Image.new("RGB", size, "white")
    ax = Axes(plot, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])))
    ax.frame(
        title,
        "first principal direction (y: second)",
        inside(nice_ticks(float(lo[0]), float(hi[0]), 5), float(lo[0]), float(hi[0])),
        inside(nice_ticks(float(lo[1]), float(hi[1]), 5), float(lo[1]), float(hi[1])),
    )
    left, top, right, bottom = ax.box
    for i, (x, y) in enumerate(points.tolist()):
        px, py = ax.px(x, y)
        if not (left <= px <= right and top <= py <= bottom):
            continue
        colour = PALETTE[int(labels[i]) % len(PALETTE)] if labels is not None else PALETTE[0]
        ax.draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
    image.paste(plot, (0, 0))
    if labels is not None:
        present = sorted(set(labels.tolist()))
        names = [label_names[k] if k < len(label_names) else str(k) for k in present]
        legend(
            ImageDraw.Draw(image),
            [(n, PALETTE[k % len(PALETTE)]) for n, k in zip(names, present, strict=True)],
            size[0] + 4,
            MARGIN[1],
        )
    return image


def tile(images: Sequence[Image.Image], ncol: int, gap: int = 8) -> Image.Image:
    """Images side by side, `ncol` per row, top-left aligned on white."""
    rows = [images[i : i + ncol] for i in range(0, len(images), ncol)]
    width = max(sum(im.width for im in row) + gap * (len(row) - 1) for row in rows)
    height = sum(max(im.height for im in row) for row in rows) + gap * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    y = 0
    for row in rows:
        x = 0
        for im in row:
            canvas.paste(im.convert("RGB"), (x, y))
            x += im.width + gap
        y += max(im.height for im in row) + gap
    return canvas
