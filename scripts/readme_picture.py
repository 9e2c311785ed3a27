"""The README's picture from a `vaegan run` folder: VAE vs GAN from the same z, and a few progress frames.

    PYTHONPATH=src python scripts/readme_picture.py runs/emoji docs/emoji_run.png

Top: the run's vae_vs_gan.png as written. Bottom: the fixed-z sample grid after the first VAE epoch, the
middle one, the last one and the last GAN epoch (the frames of progress.gif), each at half size.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from vaegan.viz import label_image


def frames(run: Path) -> list[tuple[Path, str]]:
    """(grid, label) for VAE epochs first, middle and last, and the last GAN epoch."""
    vae = sorted((run / "vae" / "grids").glob("samples_e*.png"))
    gan = sorted((run / "gan" / "grids").glob("samples_e*.png"))
    if not vae or not gan:
        raise SystemExit(f"{run} is not a finished 'vaegan run' folder (vae/grids and gan/grids)")
    picks = [(p, "VAE") for p in dict.fromkeys([vae[0], vae[len(vae) // 2], vae[-1]])] + [(gan[-1], "GAN")]
    sampler = {"VAE": "z ~ N(0, I)", "GAN": "z from the prior"}  # the VAE's training grids draw N(0, I)
    return [(p, f"{stage} epoch {int(p.stem.split('_e')[1])}, {sampler[stage]}") for p, stage in picks]


def readme_picture(run: Path, out: Path, gap: int = 12) -> Path:
    with Image.open(run / "vae_vs_gan.png") as im:
        top = im.convert("RGB")
    row = []
    for path, label in frames(run):
        with Image.open(path) as im:
            small = im.convert("RGB").resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
        row.append(label_image(small, label, size=14))
    width = max(top.width, sum(f.width for f in row) + gap * (len(row) - 1))
    canvas = Image.new("RGB", (width, top.height + gap + max(f.height for f in row)), "white")
    canvas.paste(top, ((width - top.width) // 2, 0))
    x = (width - sum(f.width for f in row) - gap * (len(row) - 1)) // 2
    for f in row:
        canvas.paste(f, (x, top.height + gap))
        x += f.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, optimize=True)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished 'vaegan run' folder")
    parser.add_argument("out", type=Path, help="the PNG to write")
    args = parser.parse_args()
    print(readme_picture(args.run, args.out))
