"""Benchmark: seconds to fit the fitted prior's Gaussian mixture (prior.fit_mixture, 100 EM iterations).

    python benchmarks/prior_fit.py

On 51,200 synthetic 32-dimensional latents in 30 clusters, the size of a Fashion-MNIST fit (the 100
components of the grey default, and the 10 of before): the cost depends on N, K and D, not on where
the latents come from, so no VAE is trained here.
"""

from __future__ import annotations

import time

import torch

from vaegan.prior import fit_mixture


def main() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(30, 32, generator=g) * 2
    z = centres[torch.randint(0, 30, (51_200,), generator=g)] + torch.randn(51_200, 32, generator=g) * 0.5
    for components in (10, 100):
        start = time.perf_counter()
        fit_mixture(z, components=components)
        print(f"{components} components, 100 EM iterations on {len(z)} latents: {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
