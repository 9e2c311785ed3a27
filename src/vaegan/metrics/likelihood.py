"""Likelihood bounds and reconstruction error of a trained VAE, per image, on held-out uint8 images.

What the numbers mean (D = C*H*W dimensions per image):
- `neg_elbo` is reconstruction + KL in nats, exactly the training log's `val/neg_elbo`, so runs of the same
  reconstruction kind compare directly. For `bce` it is a bound on -log p(x) under a Bernoulli decoder.
- `nll_elbo` / `nll_iwae` add the decoder's log-normaliser, making each an upper bound on -log p(x) under a
  proper density: Bernoulli for `bce` (normaliser 0); for `mse_sum` a Gaussian with variance 1/2 on
  [-1, 1] data, since (x - mu)^2 = (x - mu)^2 / (2 sigma^2) when sigma^2 = 1/2; for `mse_mean` a Gaussian
  with variance D/2 (the per-pixel mean divides the same sum by D); for `gaussian` the loss is already
  a full -log p(x|z) with the variance set to the batch's mean squared error, one fitted scalar, so its
  bounds are very slightly optimistic.
- `bpd` (bits per dimension) = nll / (D ln 2), where for the Gaussians nll is the *discrete* negative
  log-likelihood of the 8-bit data, approximated as density at the pixel value times the bin width
  Delta = (hi - lo) / 255: nll_discrete ~ nll_density - D ln Delta. The approximation is tight because
  sigma is far wider than Delta, but it is not a strict bound (no dequantisation noise; Theis et al. 2016,
  arXiv:1511.01844). The fixed variance 1/2 is wider than the whole data range, so Gaussian bpd sits above
  8 bits (worse than uniform): it compares runs, not papers. Bernoulli bpd on grey levels follows the usual
  convention, although the Bernoulli is only a proper pmf on binary pixels (Loaiza-Ganem & Cunningham 2019,
  arXiv:1907.06845).
- The importance-weighted bound (Burda et al. 2016, arXiv:1509.00519) with k samples:
  log p(x) >= E[log 1/k sum_i p(x|z_i) p(z_i) / q(z_i|x)]. k = 1 is the ELBO (estimated with a sampled
  rather than analytic KL); the bound tightens monotonically in k in expectation.
- PSNR is 10 log10(1 / MSE) per image on the [0, 1] scale, from the posterior mean, averaged over images.
"""

from __future__ import annotations

import math

import torch

from vaegan.data import to_float
from vaegan.losses import LOG_2PI, reconstruction_loss
from vaegan.models.vae import VAE
from vaegan.progress import progress_bar


def log_normaliser(kind: str, dims: int) -> float:
    """c such that -log p(x|z) = reconstruction_loss(x_hat, x, kind) + c, per image (see module doc)."""
    if kind in ("bce", "gaussian"):
        return 0.0  # gaussian: the loss already holds its normaliser, with sigma fitted to the batch
    variance = 0.5 if kind == "mse_sum" else dims / 2.0  # mse_mean divides the same sum by D
    return 0.5 * dims * math.log(2.0 * math.pi * variance)


def bits_per_dim(nll: torch.Tensor, kind: str, dims: int, value_range: tuple[float, float]) -> torch.Tensor:
    """Per-image nats -> bits per dimension; Gaussians become 8-bit probabilities via the bin width."""
    if kind != "bce":
        bin_width = (value_range[1] - value_range[0]) / 255.0
        nll = nll - dims * math.log(bin_width)
    return nll / (dims * math.log(2.0))


def log_importance_weights(
    model: VAE, x: torch.Tensor, k: int, kind: str, generator: torch.Generator | None = None, chunk: int = 16
) -> torch.Tensor:
    """log p(x|z_i) + log p(z_i) - log q(z_i|x) for k posterior samples per image: (k, B).

    Decodes `chunk` samples per image at a time, so memory is chunk * B images, whatever k is.
    """
    posterior = model.encode(x)
    mean, logvar, std = posterior.mean.float(), posterior.logvar.float(), posterior.std.float()
    dims = x[0].numel()
    out = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n, *mean.shape), generator=generator, dtype=mean.dtype)  # (n, B, L)
        z = mean + std * eps
        x_hat = model.decode(z.flatten(0, 1))  # (n*B, C, H, W)
        log_px = -reconstruction_loss(x_hat, x.repeat(n, 1, 1, 1), kind).view(n, -1) - log_normaliser(kind, dims)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        out.append(log_px + log_pz - log_qz)
    return torch.cat(out)


@torch.no_grad()
def likelihood_metrics(
    model: VAE,
    images: torch.Tensor,
    kind: str,
    value_range: tuple[float, float],
    k: int = 64,
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, float]:
    """Means over uint8 `images` (N, C, H, W) of the bounds in the module doc, plus MSE and PSNR.

    The AE has no posterior to sample or prior to score, so it gets only mse and psnr; the KL-only
    ablation (kind "none") has no decoder density, so it gets no nll or bpd.
    """
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    sums: dict[str, float] = {}
    what = f"likelihood bounds (k={k})" if model.cfg.kind == "vae" and k > 0 else "reconstruction error"
    with progress_bar(len(images), what, unit="img") as bar:
        for start in range(0, len(images), batch_size):
            x = to_float(images[start : start + batch_size], value_range)  # (B, C, H, W)
            for name, values in batch_terms(model, x, kind, value_range, k, generator).items():
                sums[name] = sums.get(name, 0.0) + float(values.double().sum())
            bar.update(len(x))
    return {name: total / len(images) for name, total in sums.items()}


def batch_terms(
    model: VAE, x: torch.Tensor, kind: str, value_range: tuple[float, float], k: int, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """The per-image terms of one batch (B, C, H, W) in the value range: each (B,)."""
    lo, hi = value_range
    dims = x[0].numel()
    posterior = model.encode(x)
    mse = ((model.decode(posterior.mode()).float() - x) / (hi - lo)).pow(2).flatten(1).mean(1)
    terms = {"mse": mse, "psnr": 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))}
    if model.cfg.kind != "vae":
        return terms
    rec, kl = reconstruction_loss(model.decode(posterior.sample(generator)), x, kind), posterior.kl()
    neg_elbo = rec + kl
    terms.update(reconstruction=rec, kl=kl, neg_elbo=neg_elbo)
    if kind == "none":
        return terms  # the KL-only ablation has no decoder likelihood: no bound on -log p(x)
    nll_elbo = neg_elbo + log_normaliser(kind, dims)
    terms.update(nll_elbo=nll_elbo, bpd_elbo=bits_per_dim(nll_elbo, kind, dims, value_range))
    if k > 0:
        log_w = log_importance_weights(model, x, k, kind, generator)  # (k, B)
        nll_iwae = -(torch.logsumexp(log_w, 0) - math.log(k))
        terms.update(nll_iwae=nll_iwae, bpd_iwae=bits_per_dim(nll_iwae, kind, dims, value_range))
    return terms
