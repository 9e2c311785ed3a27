"""Image grids and labelled GIFs, written with Pillow (torchvision does not import with our torch)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from vaegan.data import to_uint8
from vaegan.errors import VaeganError


def check_image_path(path: Path) -> None:
    """A picture can be written at `path`: an image extension Pillow knows, and a writable folder."""
    path = Path(path)
    known = Image.registered_extensions()  # ".png" -> "PNG", ...
    if path.suffix.lower() not in known or known[path.suffix.lower()] not in Image.SAVE:
        raise VaeganError(f"cannot write an image to {path}: unknown extension {path.suffix!r}; use .png or .jpg")
    if path.is_dir():
        raise VaeganError(f"{path} is a folder; name an image file such as {path / 'grid.png'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VaeganError(f"cannot write to {path.parent}: {exc.strerror}; choose another -o") from exc


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 255) -> torch.Tensor:
    """uint8 (B, C, H, W) -> one uint8 (C, H', W') grid, `nrow` images per row (default: square)."""
    b, c, h, w = images.shape
    nrow = nrow or grid_columns(b)
    ncol = math.ceil(b / nrow)
    grid = torch.full((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, dtype=torch.uint8)
    for i in range(b):
        r, k = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def grid_columns(n: int) -> int:
    """Images per row for n images: a divisor of n near sqrt(n), so the grid has no empty cells (32 is
    8 x 4, not 6 x 6 with 4 empty), unless that makes it over twice as wide as tall."""
    square = max(1, math.ceil(math.sqrt(n)))
    whole = [k for k in range(square, 2 * square + 1) if n % k == 0 and k <= 2 * (n // k)]
    return whole[0] if whole else square


def to_pil(image: torch.Tensor) -> Image.Image:
    """uint8 (C, H, W) with C = 1 or 3 -> a PIL image."""
    array = image.permute(1, 2, 0).contiguous().numpy()
    return Image.fromarray(array[:, :, 0], "L") if array.shape[2] == 1 else Image.fromarray(array, "RGB")


def save_grid(
    images: torch.Tensor, path: Path, value_range: tuple[float, float] | None = None, nrow: int | None = None
) -> Path:
    """Save a batch as one PNG grid. Float images are mapped from `value_range` to uint8 first."""
    if images.dtype != torch.uint8:
        if value_range is None:
            raise ValueError("float images need their value_range")
        images = to_uint8(images.cpu(), value_range)
    path = Path(path)
    check_image_path(path)
    try:
        # zlib's fastest level: every epoch writes grids, in under half the default level's time, files a little larger
        to_pil(make_grid(images.cpu(), nrow=nrow)).save(path, compress_level=1)
    except OSError as exc:  # a full disk: one line naming the file, not a traceback
        raise VaeganError(f"cannot write {path}: {exc.strerror or exc}; free some disk space") from exc
    return path


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at `size` (FreeType builds), else its fixed bitmap font: never a font file."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def label_image(image: Image.Image, text: str, size: int = 16) -> Image.Image:
    """The image with a white strip above it holding `text` at `size` px (Pillow's bundled font)."""
    strip = size + 8
    out = Image.new("RGB", (image.width, image.height + strip), "white")
    out.paste(image.convert("RGB"), (0, strip))
    ImageDraw.Draw(out).text((4, strip // 2), text, fill="black", font=font(size), anchor="lm")
    return out


def upscale(image: Image.Image, min_width: int) -> Image.Image:
    """The image enlarged by the smallest whole factor that makes it `min_width` wide, pixels kept sharp."""
    factor = max(1, -(-min_width // image.width))
    if factor == 1:
        return image
    return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)


def save_gif(
    frames: list[Image.Image],
    path: Path,
    labels: list[str] | None = None,
    ms_per_frame: int = 400,
    colors: int = 256,
) -> Path:
    """An animated GIF of `frames`, each labelled, looping forever; the last frame lingers.

    Each frame gets its own palette of up to `colors` colours (own_palette), without dithering: one palette
    shared by every frame held 63 colours where a frame's PNG grid had 133,402, so pinks turned salmon and
    greens vanished; dithering's pixel noise is what LZW cannot compress.
    """
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if labels is not None:
        frames = [label_image(f, t) for f, t in zip(frames, labels, strict=True)]
    indexed = [own_palette(f.convert("RGB"), colors) for f in frames]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 4]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=durations, loop=0, optimize=True)
    return path


def own_palette(frame: Image.Image, colors: int) -> Image.Image:
    """An RGB frame as a palette image: its own colours exactly when it has at most `colors`, else an octree
    palette of its own (on 40 sample-grid frames of 530 px, 0.2 s where median cut took 9 s, for a mean
    error of 4.4 levels against median cut's 2.9 and a shared 64-colour palette's 6.7)."""
    exact = frame.getcolors(colors) is not None
    method = Image.Quantize.MEDIANCUT if exact else Image.Quantize.FASTOCTREE
    return frame.quantize(colors=colors, method=method, dither=Image.Dither.NONE)


def last_frame(path: Path) -> Image.Image:
    """The final frame of an animated GIF as RGB: what the animation ends on."""
    with Image.open(path) as gif:
        gif.seek(getattr(gif, "n_frames", 1) - 1)
        return gif.convert("RGB")


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
