"""The README's picture from a `vaegan run` folder: VAE vs GAN from the same z, and a few progress frames.

    PYTHONPATH=src python scripts/readme_picture.py runs/emoji docs/emoji_run.png \
        --record docs/results/emoji/make-run.json

Top: the run's vae_vs_gan.png as written. Bottom: progress.gif's frames after the first VAE epoch, the
middle one, the last one and the last GAN epoch, each at half size: both stages decode the posterior means
of the same held-out images (training.epoch_log.held_out_grid), so the row compares like with like.
--record also writes the run's D(x) and D(G(z)) by GAN epoch, which say whether D played (issue 67).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from PIL import Image

from vaegan.cpu import cpu_model
from vaegan.runs import read_metrics
from vaegan.training.epoch_log import HELD_OUT_GRIDS
from vaegan.viz import label_image


def frames(run: Path) -> list[tuple[Path, str]]:
    """(grid, label) for VAE epochs first, middle and last, and the last GAN epoch."""
    vae = sorted((run / "vae" / "grids").glob(HELD_OUT_GRIDS))
    gan = sorted((run / "gan" / "grids").glob(HELD_OUT_GRIDS))
    if not vae or not gan:
        raise SystemExit(f"{run} is not a finished 'vaegan run' folder (vae/grids and gan/grids)")
    picks = [(p, "VAE") for p in dict.fromkeys([vae[0], vae[len(vae) // 2], vae[-1]])] + [(gan[-1], "GAN")]
    return [(p, f"{stage} epoch {int(p.stem.split('_e')[1])}, held-out means") for p, stage in picks]


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


def d_record(run: Path, command: str) -> dict[str, object]:
    """The GAN stage's D(x) and D(G(z)) by epoch, and their gap at the last, from the run's metrics."""
    epochs = [
        {"epoch": m["epoch"], "d_real": round(m["d_real"], 4), "d_fake": round(m["d_fake"], 4)}
        for m in read_metrics(run / "gan")
        if "d_real" in m
    ]
    if not epochs:
        raise SystemExit(f"{run}/gan has no GAN epochs in its metrics")
    return {
        "command": command,
        "run": str(run),
        "picture_command": " ".join(["python", *sys.argv]),
        "machine": f"{cpu_model()}, torch {torch.__version__}",
        "gan_epochs": epochs,
        "last_gap": round(epochs[-1]["d_real"] - epochs[-1]["d_fake"], 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished 'vaegan run' folder")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--record", type=Path, help="also write the run's D by GAN epoch to this JSON")
    parser.add_argument(
        "--command", default="make run: vaegan run --data emoji --preset quick", help="what trained RUN, for the record"
    )
    args = parser.parse_args()
    print(readme_picture(args.run, args.out))
    if args.record:
        args.record.write_text(json.dumps(d_record(args.run, args.command), indent=1) + "\n")
        print(args.record)
