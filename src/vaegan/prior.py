"""A second-stage prior: a Gaussian mixture fitted to the posterior means of the training images.

A VAE's aggregate posterior rarely fills N(0, I): regions the prior covers and no image encodes to decode
into blends. Sampling instead from a density fitted to where the training images do encode ("ex-post
density estimation", Ghosh et al. 2020, arXiv:1903.12436; the cheap form of Dai & Wipf 2019's second
VAE, arXiv:1903.05789) gives sharper, more typical samples with no retraining. One full-covariance
Gaussian is K = 1; the fit is EM, seeded, in float64, and saved beside the run (`prior.pt`) so it is
fitted once per checkpoint. A run whose `prior` is "flow" draws from a flow fitted to the same latents
instead (flow_prior.py, saved as flow_prior.pt); every user reaches either through `fitted_prior`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from vaegan.checkpoint import GANCheckpoint, VAECheckpoint, checksum, read_tensors, seal, write_atomically
from vaegan.config import MAX_PRIOR_COMPONENTS
from vaegan.data import load_splits, to_float
from vaegan.errors import VaeganError, not_a_file
from vaegan.flow_prior import FLOW_NAME, FlowPrior, fit_flow, read_flow, write_flow
from vaegan.latent import prior_latents
from vaegan.models.vae import VAE
from vaegan.runs import Run

log = logging.getLogger(__name__)

PRIOR_NAME = "prior.pt"
PRIOR_FORMAT = 2  # 2: sealed with a checksum (checkpoint.checksum); a format-1 file is fitted again
# Added to every covariance's diagonal, relative to the data's mean variance: keeps Cholesky defined. Relative
# to each component's own variance it was not enough: near-duplicate images (an emoji in five skin tones,
# a file copied twice) give a component a spread of 1e-8 whose rounding error outweighed its jitter, and
# the fit crashed (a 100-component fit to the emoji latents did).
JITTER = 1e-6


@dataclass(frozen=True)
class MixturePrior:
    """sum_k weights_k N(means_k, L_k L_k^T): weights (K,), means (K, D), scale_tril (K, D, D)."""

    weights: torch.Tensor
    means: torch.Tensor
    scale_tril: torch.Tensor

    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """(n, D) float32: a component per row by its weight, then means_k + temperature * L_k eps."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(
            n, self.means.shape[1], 1, generator=generator, dtype=self.means.dtype, device=self.means.device
        )
        return (self.means[k] + temperature * (self.scale_tril[k] @ eps).squeeze(2)).float()

    def to(self, device: torch.device) -> MixturePrior:
        return MixturePrior(self.weights.to(device), self.means.to(device), self.scale_tril.to(device))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) per row, (N,)."""
        return torch.logsumexp(component_log_probs(self, z.double()), dim=1)


CHUNK = 4096  # latents per E/M-step slice: bounds the (rows, D*D) outer products to 32 MB at D = 32


def component_log_probs(prior: MixturePrior, z: torch.Tensor) -> torch.Tensor:
    """log weights_k + log N(z | means_k, cov_k) for every row and component, (N, K)."""
    return log_probs_from_outer(prior, z, outer_products(z))


def outer_products(z: torch.Tensor) -> torch.Tensor:
    """Each row's z z^T, flattened: (N, D*D)."""
    return (z.unsqueeze(2) * z.unsqueeze(1)).reshape(len(z), -1)


def log_probs_from_outer(prior: MixturePrior, z: torch.Tensor, outer: torch.Tensor) -> torch.Tensor:
    """component_log_probs given z's outer products, which the EM fit shares with its M-step."""
    # (z - mu)^T P (z - mu) = <z z^T, P> - 2 z^T P mu + mu^T P mu: two matmuls for all components at once.
    # The (N, K, D) tensor of whitened differences this replaces spent half its time in elementwise
    # sub and pow: a 100-component fit to 51,200 Fashion-MNIST latents took 404 s.
    k, dim = prior.means.shape
    precision = torch.cholesky_inverse(prior.scale_tril)  # (K, D, D)
    precision_means = (precision @ prior.means.unsqueeze(2)).squeeze(2)  # (K, D)
    mahalanobis = (
        outer @ precision.reshape(k, dim * dim).T - 2 * z @ precision_means.T + (prior.means * precision_means).sum(1)
    )
    log_det = prior.scale_tril.diagonal(dim1=1, dim2=2).log().sum(1)  # (K,) log sqrt det cov
    return prior.weights.log() - 0.5 * mahalanobis - log_det - 0.5 * dim * math.log(2 * math.pi)


def fit_mixture(z: torch.Tensor, components: int = 10, iterations: int = 100, seed: int = 0) -> MixturePrior:
    """EM for a full-covariance Gaussian mixture on rows z (N, D), starting from K distinct random rows."""
    n, dim = z.shape
    if n < 2 * components:
        raise VaeganError(f"fitting {components} components needs at least {2 * components} latents, got {n}")
    z = z.double()
    centre = z.mean(0)
    z = z - centre  # moments about the data's mean: less cancellation in E[z z^T] - mu mu^T
    g = torch.Generator().manual_seed(seed)
    data_cov = torch.cov(z.T)
    floor = JITTER * data_cov.diagonal().mean() * torch.eye(dim, dtype=z.dtype, device=z.device)
    start_cov = data_cov + floor
    prior = MixturePrior(
        torch.full((components,), 1.0 / components, dtype=z.dtype, device=z.device),
        z[torch.randperm(n, generator=g)[:components].to(z.device)],
        torch.linalg.cholesky(start_cov).expand(components, dim, dim).clone(),
    )
    for _ in range(iterations):
        # E and M steps a slice of rows at a time (responsibilities are per row): the sums the M-step
        # needs are mass, sum r z and sum r z z^T, the last as one (K, N) x (N, D*D) matmul per slice.
        mass = torch.zeros(components, dtype=z.dtype, device=z.device)
        first = torch.zeros(components, dim, dtype=z.dtype, device=z.device)
        second = torch.zeros(components, dim * dim, dtype=z.dtype, device=z.device)
        for rows in z.split(CHUNK):
            outer = outer_products(rows)
            resp = log_probs_from_outer(prior, rows, outer).softmax(dim=1)  # (rows, K)
            mass += resp.sum(0)
            first += resp.T @ rows
            second += resp.T @ outer
        mass = mass + 1e-12
        means = first / mass.unsqueeze(1)
        # E[z z^T] - mu mu^T in float64, about the data's mean; the floor covers the rounding that is left
        cov = second.view(components, dim, dim) / mass.view(-1, 1, 1) - means.unsqueeze(2) * means.unsqueeze(1)
        prior = MixturePrior(mass / n, means, torch.linalg.cholesky(cov + floor))
    return MixturePrior(prior.weights, prior.means + centre, prior.scale_tril)


@torch.no_grad()
def posterior_means(vae: VAE, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Means of q(z|x) for uint8 images (N, C, H, W): (N, D)."""
    value_range = vae.cfg.value_range
    parts = [
        vae.encode(to_float(images[i : i + batch_size], value_range)).mean for i in range(0, len(images), batch_size)
    ]
    return torch.cat(parts)


Prior = MixturePrior | FlowPrior  # both offer sample(n, generator, temperature) and to(device)


def fitted_prior(
    run: Run, components: int | None = None, images: torch.Tensor | None = None, device: torch.device | None = None
) -> Prior:
    """The run's fitted prior, the kind its config's `prior` names: read from prior.pt (a mixture) or
    flow_prior.pt beside its VAE checkpoint, or fitted and saved there, to the latents of `images` (uint8;
    default: the run's training images, loaded again).

    A prior fitted to another checkpoint of the stage (an earlier epoch), with another K or by another flow
    recipe is refitted. K defaults to the run's --prior-components; folders of fewer than 20 * K images get
    fewer, down to one. The fit runs on `device` (a GPU fits in a fraction of the CPU's time); the prior
    comes back on the CPU.
    """
    components = run.config.model.prior_components if components is None else components
    stage = run.stage("vae")
    checkpoint = stage.checkpoint
    assert isinstance(checkpoint, VAECheckpoint)
    step = checkpoint.loop.step
    flow = run.config.model.prior == "flow"
    saved = saved_prior(run)
    if saved is not None and saved[1] == ((step,) if flow else (step, components)):
        return saved[0]
    images = load_splits(run.config.data, run.path).train.images if images is None else images
    device = device or torch.device("cpu")
    prior = fit_to_images(run.vae().to(device), images.to(device), components).to(torch.device("cpu"))
    if isinstance(prior, FlowPrior):
        write_flow(prior, stage.folder / FLOW_NAME, step)
    else:
        write_prior(prior, stage.folder / PRIOR_NAME, step, components)
    return prior


def fit_to_images(vae: VAE, images: torch.Tensor, components: int | None = None) -> Prior:
    """The VAE's kind of prior fitted to the posterior means of uint8 `images`: a flow, or a mixture with at
    most one component per 20 images; `components` defaults to the VAE's --prior-components."""
    z = posterior_means(vae, images)
    if vae.cfg.prior == "flow":
        log.info("fitting a flow prior to %d training images' latents", len(z))
        return fit_flow(z)
    components = vae.cfg.prior_components if components is None else components
    k = min(components, max(1, len(z) // 20))  # at least 20 images per component: a small folder gets fewer
    why = f" (--prior-components {components}, at most one per 20 images)" if k < components else ""
    log.info("fitting a %d-component Gaussian mixture to %d training images' latents%s", k, len(z), why)
    return fit_mixture(z, k)


def write_prior(prior: MixturePrior, path: Path, vae_step: int, components: int) -> None:
    payload = {
        "format": PRIOR_FORMAT,
        "vae_step": vae_step,
        "components": components,  # as asked for; the fit may hold fewer
        "weights": prior.weights,
        "means": prior.means,
        "scale_tril": prior.scale_tril,
    }
    write_atomically(seal(payload), path)


def saved_prior(run: Run) -> tuple[Prior, tuple[int, ...]] | None:
    """The saved prior of the run's kind beside its VAE checkpoint and what it was fitted for: (the VAE step,
    the components asked for) for prior.pt, (the VAE step,) for flow_prior.pt; None when there is none, or
    when it is of an older format or recipe (fitted again). A damaged file is refused in one line."""
    folder, latent_dim = run.stage("vae").folder, run.config.model.latent_dim
    if run.config.model.prior == "flow":
        flow = read_flow(folder / FLOW_NAME, latent_dim) if saved_file(folder / FLOW_NAME) else None
        return None if flow is None else (flow[0], (flow[1],))
    mixture = read_prior(folder / PRIOR_NAME, latent_dim) if saved_file(folder / PRIOR_NAME) else None
    return None if mixture is None else (mixture[0], mixture[1:])


def saved_file(path: Path) -> bool:
    """Whether a fitted prior is saved at `path`; a folder or device there is refused, as no fit could replace it."""
    if path.exists() and not path.is_file():
        raise VaeganError(f"{path} {not_a_file(path, 'a fitted prior')}; move it away and vaegan fits the prior again")
    return path.exists()


def read_prior(path: Path, latent_dim: int) -> tuple[MixturePrior, int, int] | None:
    """prior.pt as (prior, the VAE step it was fitted at, the components asked for); None for an older
    format (fitted again). Anything damaged or forged is one line that says to delete it."""
    fix = "delete it and vaegan fits the prior again"
    saved = read_tensors(path, "fitted prior", fix)
    if not isinstance(saved, dict) or saved.get("format") != PRIOR_FORMAT:
        if isinstance(saved, dict) and isinstance(saved.get("format"), int) and saved["format"] < PRIOR_FORMAT:
            return None
        raise VaeganError(f"{path} is not a vaegan fitted prior; {fix}")
    if saved.get("checksum") != checksum(saved):
        raise VaeganError(f"{path} fails its checksum: its bytes changed since vaegan wrote them; {fix}")
    weights, means, tril = (saved.get(k) for k in ("weights", "means", "scale_tril"))
    if not all(isinstance(t, torch.Tensor) for t in (weights, means, tril)):
        raise VaeganError(f"{path} does not hold the tensors of a mixture; {fix}")
    assert isinstance(weights, torch.Tensor) and isinstance(means, torch.Tensor) and isinstance(tril, torch.Tensor)
    k = weights.shape[0] if weights.ndim == 1 else 0
    ok = (
        0 < k <= MAX_PRIOR_COMPONENTS
        and tuple(means.shape) == (k, latent_dim)
        and tuple(tril.shape) == (k, latent_dim, latent_dim)
        and all(isinstance(saved.get(n), int) for n in ("vae_step", "components"))
    )
    ok = ok and all(bool(torch.isfinite(t).all()) for t in (weights, means, tril))
    if not (ok and bool((weights >= 0).all()) and float(weights.sum()) > 0):
        raise VaeganError(f"{path} does not hold a {latent_dim}-dimensional mixture of finite tensors; {fix}")
    return MixturePrior(weights, means, tril), saved["vae_step"], saved["components"]


def stage_latents(run: Run, stage: str) -> str:
    """How a stage's samples draw z: "fitted" for a VAE (its best sampler) and for a GAN trained on
    the fitted prior (--latents fitted), "normal" (N(0, I)) for a GAN trained on N(0, I)."""
    if stage == "vae":
        return "fitted"
    checkpoint = run.stage("gan").checkpoint
    assert isinstance(checkpoint, GANCheckpoint)
    return checkpoint.config.gan.latents


def logged_sampler(run: Run, stage: str) -> str:
    """Where the z behind a stage's training-log FIDs (metrics.jsonl's quality/ keys) come from, in words:
    N(0, I) for the VAE (the textbook sampler its loop scores), the GAN's own z for the GAN (--latents)."""
    if stage == "vae" or stage_latents(run, stage) == "normal":
        return "N(0, I)"
    return "the fitted prior"


SAMPLERS = ("auto", "prior", "fitted")  # `vaegan sample --sampler`


def sample_latents(
    run: Run, stage: str, n: int, generator: torch.Generator, temperature: float = 1.0, sampler: str = "auto"
) -> torch.Tensor:
    """(n, latent_dim) z for `stage`'s samples: sampler fitted, prior (N(0, I)) or auto (stage_latents)."""
    fitted = stage_latents(run, stage) == "fitted" if sampler == "auto" else sampler == "fitted"
    if fitted:
        return fitted_prior(run).sample(n, generator, temperature)
    return prior_latents(n, run.config.model.latent_dim, generator, temperature)


def through_prior(
    decode: Callable[[torch.Tensor], torch.Tensor], prior: Prior, seed: int, temperature: float = 1.0
) -> Callable[..., torch.Tensor]:
    """decode of z from `prior` at `temperature`, seeded once so successive calls differ; the incoming z
    (drawn from N(0, I) by a caller such as sample_images) only sets how many."""
    generator = torch.Generator().manual_seed(seed)
    return lambda z: decode(prior.sample(len(z), generator, temperature).to(z.device))
