"""Emoji rendered from the Noto Color Emoji font: a small, clean, labelled image set that needs no download.

Every fully-qualified emoji the `emoji` package knows is drawn with Pillow and libraqm (which shapes
skin-tone and ZWJ sequences into one glyph). Emoji newer than the installed font are detected and left
out rather than drawn as a box or as several glyphs side by side: see `EmojiFont.render`. The result
is cached on disk, keyed by the font's SHA-256, the emoji package version, the size and the channels.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path

import emoji as emoji_package
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, features

from vaegan.data.emoji_attributes import GROUPS, attributes, group
from vaegan.data.images import ImageDataset
from vaegan.errors import VaeganError
from vaegan.progress import progress_bar

logger = logging.getLogger(__name__)

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_SIZE = 109  # the one size of Noto Color Emoji's CBDT bitmaps: 136 x 128 px per glyph
SUBSETS = {"emoji": None, "emoji:people": "person", "emoji:faces": "face"}
_CACHE_FORMAT = 1
_REFERENCE = "\U0001f600"  # 😀, in every colour emoji font: its advance is the width of one glyph
# What the font draws for text it lacks: .notdef for a codepoint it has no glyph for (a private-use
# one here), and Noto's white flag with a question mark for a regional-indicator pair that is no country.
_PLACEHOLDERS = ("\U0010fffd", "\U0001f1e6\U0001f1e6")


class EmojiFont:
    """A colour emoji font that renders one emoji into a square RGBA cell, or says it cannot."""

    def __init__(self, path: str | Path) -> None:
        if not features.check("raqm"):
            raise VaeganError(
                "Pillow was built without libraqm, which emoji sequences need to render as one glyph; "
                "install libraqm (apt-get install libraqm0) and reinstall Pillow from a wheel"
            )
        try:
            self.font = ImageFont.truetype(str(path), FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)
        except OSError as exc:
            message = f"cannot load emoji font {path} ({exc}); pass a colour emoji .ttf with --data-root"
            raise VaeganError(message) from exc
        self.advance = self.font.getlength(_REFERENCE)
        _, _, right, bottom = self.font.getbbox(_REFERENCE)
        self.height = int(bottom)  # glyphs are drawn from y = 0: the cell spans the reference's full height
        self.width = max(int(np.ceil(self.advance)), int(right))
        self._placeholders = [self._drawn(p) for p in _PLACEHOLDERS]
        if self.height <= 0 or self.render(_REFERENCE) is None:
            raise VaeganError(f"{path} has no glyph for {_REFERENCE}; pass an emoji font with --data-root")

    def _drawn(self, text: str) -> np.ndarray:
        canvas = Image.new("RGBA", (self.width, self.height), (255, 255, 255, 0))
        ImageDraw.Draw(canvas).text((0, 0), text, font=self.font, embedded_color=True)
        return np.asarray(canvas)

    def render(self, text: str) -> Image.Image | None:
        """`text` as a square RGBA image, or None when the font has no single glyph for it.

        A sequence the font cannot ligate is shaped into several glyphs, so its advance is a multiple of one
        emoji's. A codepoint it lacks draws as .notdef (empty in Noto, a box in other fonts) and an unknown
        flag as Noto's placeholder flag: both are caught by comparing with the placeholders' drawings.
        """
        if abs(self.font.getlength(text) - self.advance) > 0.5:
            return None
        pixels = self._drawn(text)
        if not pixels[..., 3].any() or any(np.array_equal(pixels, p) for p in self._placeholders):
            return None
        left = (self.width - self.height) // 2  # square cell centred in the advance
        return Image.fromarray(pixels[:, left : left + self.height], "RGBA")


def font_path(root: str | None) -> Path:
    """The font file: `root` itself, or NotoColorEmoji.ttf inside the folder `root`, or the Debian default."""
    path = Path(root or FONT_PATH).expanduser()
    if path.is_dir():
        path = path / Path(FONT_PATH).name
    if not path.is_file():
        raise VaeganError(
            f"emoji font {path} not found; install it with `apt-get install fonts-noto-color-emoji` "
            "or pass --data-root PATH/TO/NotoColorEmoji.ttf"
        )
    return path


def fully_qualified() -> list[str]:
    """Every fully-qualified emoji the `emoji` package knows, in its (alphabetical by name) order."""
    status = emoji_package.STATUS["fully_qualified"]
    return [e for e, data in emoji_package.EMOJI_DATA.items() if data["status"] == status]


def render_all(path: Path, image_size: int, channels: int) -> tuple[torch.Tensor, list[str]]:
    """(N, channels, image_size, image_size) uint8 on white, and the N emoji the font could draw."""
    font = EmojiFont(path)
    wanted = fully_qualified()
    mode = "RGB" if channels == 3 else "L"
    arrays, drawn = [], []
    with progress_bar(len(wanted), "rendering emoji", unit="emoji") as bar:
        for text in wanted:
            bar.update(1)
            cell = font.render(text)
            if cell is None:
                continue
            white = Image.new("RGBA", cell.size, (255, 255, 255, 255))
            white.alpha_composite(cell)
            small = white.convert(mode).resize((image_size, image_size), Image.Resampling.LANCZOS, reducing_gap=2)
            arrays.append(np.asarray(small).reshape(image_size, image_size, channels))
            drawn.append(text)
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    return images.contiguous(), drawn


def _cache_file(path: Path, image_size: int, channels: int, cache_dir: str | None) -> Path:
    font_hash = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    key = f"v{_CACHE_FORMAT}-{font_hash}-emoji{emoji_package.__version__}-{image_size}px-{channels}ch"
    return Path(cache_dir or "~/.cache/vaegan").expanduser() / "emoji" / f"{key}.pt"


def _rendered(path: Path, image_size: int, channels: int, cache_dir: str | None) -> tuple[torch.Tensor, list[str]]:
    """Rendered emoji from the cache, rendering and caching them on a miss."""
    cache = _cache_file(path, image_size, channels, cache_dir)
    if cache.is_file():
        try:
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            images, drawn = saved["images"], saved["emoji"]
            shape = (len(drawn), channels, image_size, image_size)
            if images.dtype == torch.uint8 and tuple(images.shape) == shape and isinstance(drawn, list):
                return images, drawn
            logger.warning("ignoring the emoji cache %s (not %s uint8 images); rendering again", cache, shape)
        except Exception as exc:  # noqa: BLE001 - a damaged cache is rebuilt, never fatal
            # the type alone: torch's message spans lines and advises loading with weights_only=False
            logger.warning("ignoring unreadable emoji cache %s (%s); rendering again", cache, type(exc).__name__)
    start = time.perf_counter()
    images, drawn = render_all(path, image_size, channels)
    logger.info(
        "rendered %d of %d emoji in %.1f s (the rest are newer than the font)",
        len(drawn),
        len(fully_qualified()),
        time.perf_counter() - start,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            torch.save({"images": images, "emoji": drawn}, out)
        os.replace(tmp, cache)  # atomic: a crash or a parallel run never leaves half a cache file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return images, drawn


def load_emoji(source: str, root: str | None, image_size: int, channels: int, cache_dir: str | None) -> ImageDataset:
    """The emoji of `source` (one of `SUBSETS`), labelled by coarse group with boolean attributes."""
    if source not in SUBSETS:
        raise VaeganError(f"unknown emoji set {source!r}; choose one of {', '.join(SUBSETS)}")
    images, drawn = _rendered(font_path(root), image_size, channels, cache_dir)
    groups = [group(e) for e in drawn]
    keep = [i for i, g in enumerate(groups) if SUBSETS[source] in (None, g)]
    names = [emoji_package.EMOJI_DATA[drawn[i]]["en"].strip(":") for i in keep]
    rows = [attributes(drawn[i], emoji_package.EMOJI_DATA[drawn[i]]["en"]) for i in keep]
    return ImageDataset(
        images=images[torch.tensor(keep, dtype=torch.long)],
        labels=torch.tensor([GROUPS.index(groups[i]) for i in keep], dtype=torch.int64),
        label_names=GROUPS,
        attributes={k: torch.tensor([r[k] for r in rows], dtype=torch.bool) for k in rows[0]},
        names=tuple(names),
    )
