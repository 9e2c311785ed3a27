"""A folder of image files -> an `ImageDataset`, decoded once, square, RGB or grey.

Every file is turned upright (EXIF orientation), flattened onto white (transparent logos and emoji
should not turn black), its short side scaled to the target size and its centre cut out. Files that
cannot be decoded are skipped and reported together in one warning, so one bad download does not stop
a run and a hundred bad ones do not flood the log. Images directly inside one level of subfolders are
labelled by subfolder, sorted by name, as torchvision's ImageFolder does.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from vaegan.data.images import ImageDataset
from vaegan.errors import VaeganError, first_time, not_a_file

logger = logging.getLogger(__name__)

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"})
# 64 megapixels: above every phone camera we know of short of 108 MP sensors, far below the gigapixel
# PNGs of a few hundred bytes that decompression bombs use to exhaust memory.
MAX_PIXELS = 64 * 1024 * 1024
_SHOWN_SKIPS = 10  # file names listed in the skip warning; the rest are counted
_MAX_THREADS = 8


def list_images(root: Path) -> list[Path]:
    """Image files under `root` at any depth, by extension, sorted so the dataset order is reproducible; one
    warning names the folders under it that cannot be read (chmod 000), whose images are left out."""
    unreadable: list[OSError] = []
    found = [
        Path(folder) / name
        for folder, _, names in os.walk(root, onerror=unreadable.append)  # symlinked folders not entered, as rglob
        for name in names
        if Path(name).suffix.lower() in EXTENSIONS
    ]
    if unreadable and unreadable[0].filename == os.fspath(root):
        raise VaeganError(f"cannot read folder {root}: {unreadable[0].strerror}; give yourself read permission")
    if unreadable:
        shown = ", ".join(f"{exc.filename} ({exc.strerror})" for exc in unreadable[:_SHOWN_SKIPS])
        more = f", and {len(unreadable) - _SHOWN_SKIPS} more" if len(unreadable) > _SHOWN_SKIPS else ""
        logger.warning(
            "left out %d folder(s) under %s that cannot be read: %s%s; give yourself read permission (chmod -R u+rX)",
            len(unreadable),
            root,
            shown,
            more,
        )
    return sorted(p for p in found if p.is_file())


@contextmanager
def _pixel_limit(limit: int) -> Iterator[None]:
    # Pillow reads its bomb limit from a module global; restore it so other code keeps its own setting.
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x the limit; we want those files skipped too
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _to_mode(im: Image.Image, channels: int) -> Image.Image:
    """Any Pillow mode -> "RGB" or "L", transparency composited on white."""
    if im.mode.startswith("I"):  # 16/32-bit grey: Pillow's own convert clips to 255 instead of scaling
        wide = np.asarray(im).astype(np.float64)
        bits = 16 if im.mode.startswith("I;16") or wide.max(initial=0) <= 65535 else 32
        im = Image.fromarray((wide * (255 / (2**bits - 1))).round().clip(0, 255).astype(np.uint8), "L")
    elif im.mode == "F":
        im = Image.fromarray((np.asarray(im).clip(0, 1) * 255).round().astype(np.uint8), "L")
    # a transparent colour (PNG's tRNS) in a palette, grey or RGB image is transparency too
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode in ("P", "L", "RGB") and "transparency" in im.info):
        rgba = im.convert("RGBA")
        im = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im.alpha_composite(rgba)
    target = "RGB" if channels == 3 else "L"
    return im if im.mode == target else im.convert(target)  # convert to its own mode is a full copy


def decode(path: Path | IO[bytes], size: int, channels: int) -> np.ndarray:
    """One file -> (size, size, channels) uint8; raises whatever Pillow raises for a bad file."""
    with Image.open(path) as file:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; draft keeps both sides >= size
        file.draft(None, (size, size))
        return decode_pil(file, size, channels)


def decode_pil(image: Image.Image, size: int, channels: int) -> np.ndarray:
    """A PIL image -> (size, size, channels) uint8: upright, on white, short side resized, centre cropped."""
    # exif_transpose copies an upright image whole (186 MB at 62 megapixels): turn only what needs turning
    upright = image.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1)
    im = _to_mode(image if upright else ImageOps.exif_transpose(image), channels)  # frame 0: a GIF's first
    w, h = im.size
    side = min(w, h)
    box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)  # centre square
    # reducing_gap box-filters by an integer factor first: much faster on big photos, same look
    im = im.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return np.asarray(im).reshape(size, size, channels)


def decode_bytes(data: bytes, size: int, channels: int, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An image file's bytes (an upload, never written to disk) -> (size, size, channels) uint8, prepared
    exactly as a folder's files are; raises whatever Pillow raises for a bad or oversized image."""
    with _pixel_limit(max_pixels):
        return decode(io.BytesIO(data), size, channels)


def _reason(path: Path, exc: Exception) -> str:
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return "too many pixels"
    if isinstance(exc, UnidentifiedImageError):
        return "empty file" if path.stat().st_size == 0 else "not an image"
    if "truncated" in str(exc):
        return "truncated"
    return f"{type(exc).__name__}: {exc}"


def _labels(names: list[str], candidates: list[Path], root: Path) -> tuple[torch.Tensor | None, tuple[str, ...]]:
    """Labels by subfolder when every image file sits exactly one folder deep, else no labels."""
    depths = {len(p.relative_to(root).parts) for p in candidates}
    if depths != {2}:
        return None, ()
    classes = tuple(sorted({p.relative_to(root).parts[0] for p in candidates}))
    index = {c: i for i, c in enumerate(classes)}
    return torch.tensor([index[n.split("/")[0]] for n in names], dtype=torch.int64), classes


def _decode_all(
    files: list[Path],
    shown_as: list[str],
    size: int,
    channels: int,
    max_pixels: int,
    named: frozenset[int] = frozenset(),
) -> tuple[torch.Tensor, list[int]]:
    """(N, C, size, size) uint8 of the readable `files`, and their indices; one warning names the rest (once per
    process), but a file the user `named` itself (by index) that cannot be read is an error: skipping it would
    surprise."""

    def attempt(path: Path) -> np.ndarray | Exception:
        try:
            return decode(path, size, channels)
        except Exception as exc:  # noqa: BLE001 - any decoder failure means "skip this file"
            return exc

    # Pillow releases the GIL while decoding and resizing, so threads use every core without the start-up
    # and pickling costs of processes.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with _pixel_limit(max_pixels), ThreadPoolExecutor(min(_MAX_THREADS, cores)) as pool:
        results = list(pool.map(attempt, files))
    arrays, kept, skipped, unread = [], [], [], set()
    for i, result in enumerate(results):
        if isinstance(result, Exception) and i in named:
            raise VaeganError(f"cannot read image {shown_as[i]} ({_reason(files[i], result)}); pass an image file")
        if isinstance(result, Exception):
            reason = _reason(files[i], result)
            skipped.append(f"{shown_as[i]} ({reason})")
            unread.add(f"{files[i].resolve()} ({reason})")
        else:
            arrays.append(result)
            kept.append(i)
    # once per process: each API call and each stage reads the folder again; the error below points at it
    if skipped and (first_time(("unreadable", frozenset(unread))) or not arrays):
        more = len(skipped) - _SHOWN_SKIPS
        shown = ", ".join(skipped[:_SHOWN_SKIPS]) + (f", and {more} more" if more > 0 else "")
        logger.warning("skipped %d of %d files that could not be read: %s", len(skipped), len(files), shown)
    if not arrays:
        raise VaeganError(f"none of the {len(files)} image files could be read; the warning above says why")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    return images.contiguous(), kept


def load_folder(root: str | Path, image_size: int, channels: int, max_pixels: int = MAX_PIXELS) -> ImageDataset:
    """Every readable image under `root` as (N, channels, image_size, image_size) uint8."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise VaeganError(f"image folder {root} does not exist; pass the path of a folder of image files")
    candidates = list_images(root)
    if not candidates:
        raise VaeganError(f"no image files in {root} or below; add {'/'.join(sorted(EXTENSIONS))} files")
    relative = [p.relative_to(root).as_posix() for p in candidates]
    images, kept = _decode_all(candidates, relative, image_size, channels, max_pixels)
    names = [relative[i] for i in kept]
    labels, label_names = _labels(names, candidates, root)
    return ImageDataset(images=images, labels=labels, label_names=label_names, names=tuple(names))


def image_files(paths: Sequence[str | Path], most: int | None = None, what: str = "--images") -> list[Path]:
    """The image files `paths` name, a folder's every image under it, listed but not read: at most `most`
    of them, or one line saying how many there are, before any is decoded."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(list_images(path))
        elif path.is_file():
            files.append(path)
        else:
            raise VaeganError(f"{path} {not_a_file(path, 'an image')}; pass image files or folders that hold them")
    if not files:
        raise VaeganError(f"no image files in {', '.join(map(str, paths))}; pass image files or folders")
    if most is not None and len(files) > most:
        raise VaeganError(
            f"{what} name {len(files)} image files (a folder counts every image under it), more than the {most} "
            f"this picture takes; pass at most {most}"
        )
    return files


def load_image_files(
    paths: Sequence[str | Path], image_size: int, channels: int, max_pixels: int = MAX_PIXELS, most: int | None = None
) -> torch.Tensor:
    """(N, channels, image_size, image_size) uint8 from image files and folders, in the order given; at most
    `most` of them (image_files)."""
    files = image_files(paths, most)
    given = set(map(Path, paths))
    named = frozenset(i for i, path in enumerate(files) if path in given)  # files the user named: never skipped
    images, _ = _decode_all(files, [str(p) for p in files], image_size, channels, max_pixels, named)
    return images
