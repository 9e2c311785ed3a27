"""Losses as pure functions of tensors: no state, no logging, reduction stated in each docstring.

VAE terms are per image (shape (B,)); the training loop averages them over the batch. Reductions matter
for the balance with the KL term, which is always a per-image sum in nats:
- `mse_sum`: squared error summed over the C*H*W pixels of an image. The negative log-likelihood of a
  Gaussian decoder with variance 1/2, up to a constant, so KL and reconstruction are on the same scale
  and beta = 1 is the textbook ELBO.
- `mse_mean`: squared error averaged over pixels, i.e. mse_sum / (C*H*W). The reconstruction term is
  thousands of times smaller, so at the same beta the KL dominates: smooth latents, blurry images.
- `bce`: binary cross-entropy summed over pixels, for data in [0, 1]: the Bernoulli decoder's
  negative log-likelihood, the classical choice for MNIST-like images.
- `gaussian`: sigma-VAE's "optimal sigma" (Rybkin et al. 2021, arXiv:2006.13202): the Gaussian decoder's
  negative log-likelihood with one shared variance set to its maximum-likelihood value for the batch,
  sigma^2 = the batch's mean squared error. As reconstructions improve sigma shrinks and the data term
  outweighs the KL more and more, instead of the fixed 1/2 of `mse_sum` that is wider than the whole data
  range: sharper images and more informative latents, at the price of a posterior that fills N(0, I)
  less evenly (sample through the fitted prior, prior.py). Includes its log-normaliser, so the per-image
  loss is a full -log p(x|z) in nats. Under DDP each process's shard sets its own sigma.
- `none`: no reconstruction term, the KL-only ablation. The loss is beta * KL alone, minimised by
  q(z|x) = N(0, I) for every x: the posterior collapses to the prior, z carries nothing about x, and the
  decoder gets a zero gradient, so it stays as initialised and learns nothing about the data.
GAN losses take discriminator *logits* l, with D(x) = sigmoid(l), for numerical stability.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vaegan.ssim import ms_ssim

LOG_2PI = math.log(2.0 * math.pi)
MIN_VARIANCE = math.exp(-12.0)  # sigma >= e^-6 (0.0025 on [-1, 1] data), sigma-VAE's floor: no 1/0 at MSE 0


def pixel_dims(x: torch.Tensor) -> tuple[int, ...]:
    """The dimensions after the batch one: reduced over them, a per-image loss needs no flatten, which
    copies a channels_last batch."""
    return tuple(range(1, x.dim()))


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    difference = x_hat - x
    return difference * difference  # its backward is one multiply; pow(2)'s takes another pass


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-image reconstruction loss, shape (B,). `kind` is mse_sum, mse_mean, gaussian, bce or none (module doc)."""
    x_hat, x = x_hat.float(), x.float()  # in fp32 even under bf16 autocast: sums over 12k pixels
    pixels = pixel_dims(x)
    if kind == "mse_sum":
        return squared_error(x_hat, x).sum(dim=pixels)
    if kind == "mse_mean":
        return squared_error(x_hat, x).mean(dim=pixels)
    if kind == "gaussian":
        squared = squared_error(x_hat, x)
        variance = squared.mean().clamp_min(MIN_VARIANCE)  # the batch's ML estimate, a scalar
        count = squared[0].numel()
        return squared.sum(dim=pixels) / (2.0 * variance) + 0.5 * count * (variance.log() + LOG_2PI)
    if kind == "bce":
        # binary_cross_entropy clamps log() at -100, so a saturated sigmoid gives a large finite loss. It
        # refuses NaN input (a CUDA device assert), so a diverged model's NaN pixels are passed as 0.5 and
        # their loss set back to NaN: the training loop's divergence check then stops the run cleanly.
        nan = x_hat.isnan()
        with torch.autocast(device_type=x.device.type, enabled=False):
            bce = F.binary_cross_entropy(x_hat.masked_fill(nan, 0.5), x, reduction="none")
        return bce.masked_fill(nan, float("nan")).sum(dim=pixels)
    if kind == "none":
        # Zero, yet still a function of x_hat: the decoder's gradient is exactly zero rather than missing,
        # so Adam leaves it unchanged and DDP, which expects a gradient for every parameter, still works.
        return (x_hat * 0.0).sum(dim=pixels)
    raise ValueError(f"unknown reconstruction loss {kind!r}")


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per image in nats, summed over latent dims: shape (B,).

    = 1/2 * sum_j (mean_j^2 + exp(logvar_j) - 1 - logvar_j); zero exactly when mean = 0 and logvar = 0.
    """
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def kl_weight(step: int, beta: float, warmup_steps: int) -> float:
    """Linear KL warm-up: beta * min(1, step / warmup_steps); plain beta when warmup_steps is 0."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def msssim_term(x_hat: torch.Tensor, x: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """1 - MS-SSIM(x_hat, x) per image times its pixel count, shape (B,): on the scale of a summed
    reconstruction term, so a weight of 1 makes a 10% loss of structure cost what a squared error of 0.1 per
    pixel costs.

    SSIM's luminance term is taken on the values as given. Textbook SSIM measures window means from the range's
    low end (ms_ssim with value_range); on [-1, 1] data this compares them from 0, mid-grey, which weighs
    brightness errors in the mid-tones far more. On emoji this form beat the textbook one, which bought nothing
    (the levers table, docs/results/levers/README.md), so the term keeps it: the range's width, but 0 as its start.
    """
    low, high = value_range
    return (1.0 - ms_ssim(x_hat, x, (0.0, high - low))) * x[0].numel()


def vae_loss(
    x_hat: torch.Tensor,
    x: torch.Tensor,
    kl: torch.Tensor,
    kind: str,
    beta: float,
    msssim_weight: float = 0.0,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> dict[str, torch.Tensor]:
    """Batch-mean negative ELBO (for beta = 1): reconstruction + beta * KL, each averaged over images; with
    msssim_weight > 0 the total also has msssim_weight * msssim_term (reported apart as "msssim")."""
    rec = reconstruction_loss(x_hat, x, kind).mean()
    kl_mean = kl.mean()
    losses = {"total": rec + beta * kl_mean, "reconstruction": rec, "kl": kl_mean}
    if msssim_weight > 0:
        losses["msssim"] = msssim_term(x_hat, x, value_range).mean()
        losses["total"] = losses["total"] + msssim_weight * losses["msssim"]
    return losses


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Discriminator loss, averaged over the batch.

    minimax / nonsaturating (Goodfellow et al. 2014): D maximises log D(x) + log(1 - D(G(z))), so we
    minimise -log D(x) - log(1 - D(G(z))) = softplus(-l_real) + softplus(l_fake).
    hinge (Lim & Ye 2017): relu(1 - l_real) + relu(1 + l_fake).
    """
    real_logits, fake_logits = real_logits.float(), fake_logits.float()
    if kind in ("minimax", "nonsaturating"):
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def generator_loss(fake_logits: torch.Tensor, kind: str) -> torch.Tensor:
    """Generator loss, averaged over the batch.

    minimax: minimise log(1 - D(G(z))) = -softplus(l). Its gradient vanishes when D confidently rejects
    the fakes; the non-saturating form and hinge do not saturate there.
    nonsaturating: minimise -log D(G(z)) = softplus(-l): same fixed point, strong gradients early on.
    hinge: minimise -l.
    """
    fake_logits = fake_logits.float()
    if kind == "minimax":
        return -F.softplus(fake_logits).mean()
    if kind == "nonsaturating":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def r1_penalty(real_logits: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, arXiv:1801.04406): ||grad_x D(x)||^2 per input image, summed over its
    pixels: shape (B_inputs,). The D loss adds gamma / 2 times its mean over the real images.

    `inputs` must require grad and `real_logits` come from (some of) its rows; rows they do not depend on
    get 0. The graph is kept (create_graph), so the penalty's own backward reaches D's weights. A D that
    ignores its input has a zero penalty. A projected D's (B, P) logits, one per position, count as their
    per-image mean: R1 stays a penalty on one score per image, the mean logit its loss is built from.
    """
    per_image = real_logits.float().reshape(len(real_logits), -1).mean(1)  # one per image
    (grad,) = torch.autograd.grad(per_image.sum(), inputs, create_graph=True, allow_unused=True)
    if grad is None:
        return inputs.new_zeros(len(inputs), dtype=torch.float32)
    return grad.float().pow(2).flatten(1).sum(1)
