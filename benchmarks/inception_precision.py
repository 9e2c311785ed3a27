"""Does bf16 autocast change Inception FID? fp32 vs bf16 on the same Fashion-MNIST test images, and speed.

Real = test images 0..N-1; compared with test images N..2N-1 as they are and blurred (a [1 2 1] box).
vaegan embeds in bf16 only if both FIDs move by less than 0.5 *and* it is faster (docs/FID.md).
Run: PYTHONPATH=src python benchmarks/inception_precision.py [--n 250]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from vaegan.config import DataConfig
from vaegan.data import build_dataset
from vaegan.metrics.quality import fid
from vaegan.metrics.tf_inception import load_tf_inception, to_tf_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=250)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    n = args.n
    test = build_dataset(DataConfig(source="fashion-mnist", image_size=28, channels=1), "test").images
    real, other = test[:n].float() / 255, test[n : 2 * n].float() / 255
    k = torch.tensor([1.0, 2.0, 1.0])
    k = (k[:, None] * k[None]) / 16
    blurred = F.conv2d(F.pad(other, (1, 1, 1, 1), mode="replicate"), k[None, None])
    net = load_tf_inception()
    feats = {}
    for bf16 in (False, True):
        start = time.perf_counter()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            feats[bf16] = [
                torch.cat([net.net(to_tf_input(x[i : i + 25])).float() for i in range(0, n, 25)])
                for x in (real, other, blurred)
            ]
        rate = 3 * n / (time.perf_counter() - start)
        a, b, c = feats[bf16]
        print(
            f"{'bf16' if bf16 else 'fp32'}: {rate:.1f} img/s, FID(real, other) {fid(a, b):.4f}, "
            f"FID(real, blurred) {fid(a, c):.4f}"
        )
    drift = (feats[True][0] - feats[False][0]).norm() / feats[False][0].norm()
    print(f"relative feature difference bf16 vs fp32: {drift:.4f}")


if __name__ == "__main__":
    main()
