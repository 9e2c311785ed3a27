"""Mode coverage on labelled data: the classes generated samples fall into, by the feature classifier.

A generator that collapses onto a few modes can still score a fair FID on a small sample; the class
histogram shows it directly (as in the mode counts of Srivastava et al. 2017, arXiv:1705.07761, and
Metz et al. 2017 on stacked MNIST). Metrics, for K classes:
- `classes_covered`: classes whose share of the samples is at least COVERED_SHARE of their share among
  real images (a quarter: a class drawn at 1/4 of its real rate is under-produced but present).
- `class_kl`: KL(real || generated) in nats between the two class histograms. This direction blows up
  when the generator drops a class the data has, the failure we look for; the generated histogram is
  smoothed by half a count per class (a Jeffreys prior) so a missing class gives a large finite value.
"""

from __future__ import annotations

import torch

COVERED_SHARE = 0.25


def class_histogram(classes: torch.Tensor, n_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Normalised counts of int64 `classes` (N,) over n_classes: (K,) float64 summing to 1."""
    counts = torch.bincount(classes, minlength=n_classes).double() + smoothing
    return counts / counts.sum()


def mode_coverage(fake_classes: torch.Tensor, real_classes: torch.Tensor, n_classes: int) -> dict[str, float]:
    """Classes covered, their share of the classes present in real data, and KL(real || fake) in nats."""
    p_real = class_histogram(real_classes, n_classes)
    p_fake_raw = class_histogram(fake_classes, n_classes)
    p_fake = class_histogram(fake_classes, n_classes, smoothing=0.5)
    present = p_real > 0
    covered = int((p_fake_raw[present] >= COVERED_SHARE * p_real[present]).sum())
    kl = float((p_real[present] * (p_real[present] / p_fake[present]).log()).sum())
    return {
        "classes_covered": float(covered),
        "class_coverage": covered / max(1, int(present.sum())),
        "class_kl": kl,
    }
