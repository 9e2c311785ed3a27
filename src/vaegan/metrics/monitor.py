"""Sample quality measured during training: every few epochs, cheap by default, best checkpoint by FID.

The feature net is trained once per dataset on first use and cached (features.py); the real side is
the held-out split, embedded once per run. A fresh, fixed noise seed per measurement makes the numbers
of successive epochs comparable. A loop that calls `track_reconstruction` also gets the PSNR of
decode(mean of q(z|x)) on the held-out images (psnr.py): the VAE's own, or the GAN's beside the VAE's.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

from vaegan.config import DataConfig
from vaegan.data import DataSplits
from vaegan.metrics.features import FeatureNet, feature_net_for
from vaegan.metrics.psnr import posterior_psnr
from vaegan.metrics.quality import embed, quality_metrics, uint8_to_unit

log = logging.getLogger(__name__)


class QualityMonitor:
    """FID, KID, precision/recall, density/coverage (and mode coverage) of a decoder, every `every` epochs."""

    def __init__(self, data: DataConfig, splits: DataSplits, every: int, samples: int, epochs: int) -> None:
        self.data, self.splits, self.every, self.epochs = data, splits, every, epochs
        held_out = splits.val if len(splits.val) else splits.train
        self.real = held_out.images[:samples]
        self.samples = len(self.real)
        self.net: FeatureNet | None = None
        self.real_features: torch.Tensor | None = None
        self.best_fid = math.inf  # saved in checkpoints, so a resumed run keeps its best
        self.encode_mean: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.baseline: Callable[[], float] | None = None
        self.baseline_psnr: float | None = None

    def track_reconstruction(
        self,
        encode_mean: Callable[[torch.Tensor], torch.Tensor],
        value_range: tuple[float, float],
        baseline: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        """Measure quality/psnr of the stage's decoder through `encode_mean` (x -> mean of q(z|x)) from now
        on; with `baseline` (the frozen VAE decoder of a GAN run) also quality/psnr_vae, computed once."""
        self.encode_mean = encode_mean
        if baseline is not None:
            self.baseline = lambda: posterior_psnr(encode_mean, baseline, self.real, value_range)

    def due(self, epoch: int) -> bool:
        """On every `every`-th epoch and the last one; never when `every` is 0."""
        return self.every > 0 and (epoch % self.every == 0 or epoch == self.epochs)

    def update(
        self,
        record: dict[str, float],
        epoch: int,
        decode: Callable[[torch.Tensor], torch.Tensor],
        latent_dim: int,
        value_range: tuple[float, float],
    ) -> bool:
        """Adds the `quality/` metrics to the epoch's record when due; True when FID beat the best so far."""
        if not self.due(epoch):
            return False
        record.update(self.measure(decode, latent_dim, value_range))
        if record["quality/fid"] >= self.best_fid:
            return False
        self.best_fid = record["quality/fid"]
        return True

    @torch.no_grad()
    def measure(
        self, decode: Callable[[torch.Tensor], torch.Tensor], latent_dim: int, value_range: tuple[float, float]
    ) -> dict[str, float]:
        """The metrics under `quality/` keys, for metrics.jsonl."""
        if self.net is None:
            self.net = feature_net_for(self.data, self.splits, self.data.cache_dir)
            self.real_features = embed(self.net, uint8_to_unit(self.real))
        values = quality_metrics(
            decode,
            latent_dim,
            self.real,
            value_range,
            self.net,
            n=self.samples,
            generator=torch.Generator().manual_seed(0),
            real_features=self.real_features,
        )
        if self.encode_mean is not None:
            values["psnr"] = posterior_psnr(self.encode_mean, decode, self.real, value_range)
        if self.baseline is not None:
            self.baseline_psnr = self.baseline_psnr if self.baseline_psnr is not None else self.baseline()
            values["psnr_vae"] = self.baseline_psnr
        return {f"quality/{k}": v for k, v in values.items()}
