"""Image grids and labelled GIFs, written with Pillow (torchvision does not import with our torch)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from PIL import Image

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
    nrow = nrow or max(1, math.ceil(math.sqrt(b)))
    ncol = math.ceil(b / nrow)
    grid = torch.full((c, ncol * (h + padding) + padding, nrow * (w + padding) + padding), pad_value, dtype=torch.uint8)
    for i in range(b):
        r, k = divmod(i, nrow)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


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
        to_pil(make_grid(images.cpu(), nrow=nrow)).save(path)
    except OSError as exc:  # a full disk: one line naming the file, not a traceback
        raise VaeganError(f"cannot write {path}: {exc.strerror or exc}; free some disk space") from exc
    return path


def label_image(image: Image.Image, text: str) -> Image.Image:
    """The image with a white strip above it holding `text` (Pillow's built-in font: no font files)."""
    from PIL import ImageDraw

    strip = 14
    out = Image.new("RGB", (image.width, image.height + strip), "white")
    out.paste(image.convert("RGB"), (0, strip))
    ImageDraw.Draw(out).text((4, 1), text, fill="black")
    return out


def save_gif(frames: list[Image.Image], path: Path, labels: list[str] | None = None, ms_per_frame: int = 400) -> Path:
    """An animated GIF of `frames`, each labelled, looping forever; the last frame lingers."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    if labels is not None:
        frames = [label_image(f, t) for f, t in zip(frames, labels, strict=True)]
    durations = [ms_per_frame] * (len(frames) - 1) + [ms_per_frame * 4]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path
