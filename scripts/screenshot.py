"""A full-page screenshot of an HTML file in headless Chromium, as a person would see it at 1200 px wide.

    python scripts/screenshot.py runs/emoji/report.html docs/report.png

Chromium's --screenshot captures the window, not the page, so the window is made taller than any report
and the blank rows below the page's end are cut off afterwards. Needs Debian's `chromium` (apt-get
install -y chromium); run as root it needs --no-sandbox, which is safe for a local file of our own.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from vaegan.explorer.browser import CHROMIUM_FLAGS, chromium_path

WIDTH, TALLEST = 1200, 16000  # Chromium's largest window texture is 16,384 px


def screenshot(page: Path, out: Path, width: int = WIDTH) -> Path:
    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("no chromium on PATH: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as profile:
        shot = Path(profile) / "shot.png"
        subprocess.run(
            [
                str(chromium),
                "--headless",
                *CHROMIUM_FLAGS,  # the flags Chromium needs as root on a machine without network
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                f"--window-size={width},{TALLEST}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        with Image.open(shot) as image:
            trimmed = trim_bottom(image.convert("RGB"))
    out.parent.mkdir(parents=True, exist_ok=True)
    # A page is text and small grids: 256 colours without dithering look the same and make the file
    # about a third the size (4.2 MB -> 1.3 MB for an emoji report), small enough to commit under docs/.
    trimmed.quantize(256, dither=Image.Dither.NONE).save(out, optimize=True)
    return out


def trim_bottom(image: Image.Image, margin: int = 24) -> Image.Image:
    """The image down to its last row that is not plain white, plus `margin` rows."""
    rows = (np.asarray(image) < 250).any(axis=(1, 2))
    last = int(np.nonzero(rows)[0][-1]) if rows.any() else 0
    return image.crop((0, 0, image.width, min(image.height, last + margin)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path, help="an HTML file")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--width", type=int, default=WIDTH, help=f"window width in pixels (default {WIDTH})")
    args = parser.parse_args()
    print(screenshot(args.page, args.out, args.width))
