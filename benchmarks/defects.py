"""Benchmark: calibrate the defect score (vaegan.metrics.defects) on real emoji, hand-made defects and a GAN.

    python benchmarks/defects.py                   # 64 and 32 px: prints the tables, writes the JSON
    python benchmarks/defects.py --sizes 32        # one size only

Rows, each scored against the whole training split: the held-out split as it is (real against real: about
1), a half of the training split against the other half, the held-out split with each hand-made defect at
rising densities: discs of the background colour (holes per image, radius 1-3 pixels at 64 px), single
pixels of it (specks, a share of object pixels), flat 4x4 tiles lifted or lowered by 0.1 of the range on
dark areas (blocks, a share of dark tiles); and at 64 px the 64 samples of race-core-emoji's two-stage GAN
(its grid, GAN_GRID), whose white holes users report. Each row gives the score and its two ratios (holes
and specks; blocks). Disjoint sets of the training split against all of it show the real-against-real
spread at the held-out split's size and at the grid's. Writes docs/results/defects/calibration.json with
the command that made it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from report import machine

from vaegan.config import DataConfig
from vaegan.data import load_splits
from vaegan.metrics.defects import add_specks, blockify, measures, punch_holes

Maker = Callable[[torch.Tensor, Any, torch.Generator], torch.Tensor]
DEFECTS: dict[str, tuple[Maker, tuple[float, ...]]] = {
    "holes": (lambda x, d, g: punch_holes(x, per_image=int(d), generator=g), (1, 2, 4, 8)),
    "specks": (lambda x, d, g: add_specks(x, share=d, generator=g), (0.0025, 0.005, 0.01, 0.02)),
    "blocks": (lambda x, d, g: blockify(x, share=d, generator=g), (0.1, 0.25, 0.5, 1.0)),
}
TYPICAL = {"holes": 2, "specks": 0.005, "blocks": 0.25}  # two holes an image, as in GAN_GRID's worst samples
GAN_GRID = Path("docs/results/emoji/race-core-emoji-two-stage-auto.png")  # save_grid's: 8 x 8, padding 2
UINT8 = (0.0, 255.0)


def grid_tiles(path: Path, side: int, padding: int = 2) -> torch.Tensor:
    """The uint8 images (N, 3, side, side) of a save_grid PNG."""
    grid = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)  # (3, H, W)
    step = side + padding
    rows, cols = (grid.shape[1] - padding) // step, (grid.shape[2] - padding) // step
    tiles = [
        grid[:, padding + r * step :, padding + c * step :][:, :side, :side] for r in range(rows) for c in range(cols)
    ]
    return torch.stack(tiles)


def row(name: str, density: float | None, fake: torch.Tensor, real: tuple[float, float]) -> dict[str, Any]:
    """One row: the score of `fake` against a real set's measures, and its two ratios."""
    holes, blocks = (f / max(r, 1e-12) for f, r in zip(measures(fake, UINT8), real, strict=True))
    return {"row": name, "density": density, "score": max(holes, blocks), "holes": holes, "blocks": blocks}


def spread(train: torch.Tensor, real: tuple[float, float], size: int) -> dict[str, Any]:
    """Scores of disjoint sets of `size` training images against the whole split: real against real."""
    scores = sorted(row("", None, train[k : k + size], real)["score"] for k in range(0, len(train) - size + 1, size))
    return {
        "images": size,
        "sets": len(scores),
        "median": statistics.median(scores),
        "p90": scores[int(0.9 * (len(scores) - 1))],
        "max": scores[-1],
    }


def calibrate(size: int, cache_dir: str | None, seed: int) -> dict[str, Any]:
    """Every row at one image size, the real spread, and whether each defect's score rises with its density."""
    splits = load_splits(DataConfig(source="emoji", image_size=size, cache_dir=cache_dir))
    train, held = splits.train.images, splits.val.images
    real = measures(train, UINT8)
    rows = [row("held-out", None, held, real), row("training half", None, train[1::2], measures(train[::2], UINT8))]
    for name, (make, densities) in DEFECTS.items():
        for density in densities:
            rows.append(row(name, density, make(held, density, torch.Generator().manual_seed(seed)), real))
    gan = grid_tiles(GAN_GRID, size) if size == 64 else None  # the race's emoji are 64 px
    if gan is not None:
        rows.append(row("GAN grid", None, gan, real))
    scores = {name: {r["density"]: r["score"] for r in rows if r["row"] == name} for name in DEFECTS}
    return {
        "image_size": size,
        "n_train": len(train),
        "n_held_out": len(held),
        "rows": rows,
        "real_spread": [spread(train, real, n) for n in (len(held), *([len(gan)] if gan is not None else []))],
        "rising": {name: is_rising(list(by_density.values())) for name, by_density in scores.items()},
        "typical": {name: scores[name][density] for name, density in TYPICAL.items()},
    }


def is_rising(values: list[float]) -> bool:
    return all(a < b for a, b in zip(values, values[1:], strict=False))


def table(result: dict[str, Any]) -> str:
    lines = [f"{result['image_size']} px: {result['n_held_out']} held-out vs {result['n_train']} training emoji"]
    lines.append(f"  {'row':<16}{'density':>9}{'score':>8}{'holes':>8}{'blocks':>8}")
    for r in result["rows"]:
        density = "" if r["density"] is None else f"{r['density']:g}"
        lines.append(f"  {r['row']:<16}{density:>9}{r['score']:>8.2f}{r['holes']:>8.2f}{r['blocks']:>8.2f}")
    for s in result["real_spread"]:
        lines.append(
            f"  {s['sets']} disjoint sets of {s['images']} training images against all: median {s['median']:.2f}, "
            f"90th percentile {s['p90']:.2f}, max {s['max']:.2f}"
        )
    lines.append(f"  rising with density: {result['rising']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 32], help="image sides (default 64 32)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hand-made defects (default 0)")
    parser.add_argument("--cache-dir", help="emoji cache (default ~/.cache/vaegan)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/defects/calibration.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = [calibrate(size, args.cache_dir, args.seed) for size in args.sizes]
    for result in results:
        print(table(result))
    record = {"command": shlex.join(["python", *sys.argv]), "machine": machine(), "seed": args.seed, "sizes": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
