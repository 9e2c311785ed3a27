"""Latent-space tools: pure functions over tensors and a `decode` callable (VAE decoder or GAN generator).

Nothing here loads files or draws: vaegan.pictures turns a run folder into the tensors these take, and the
CLI, the report, the explorer and the tests all share the maths below. Every random function takes a
torch.Generator so the same seed gives the same pictures everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Decode = Callable[[torch.Tensor], torch.Tensor]  # z (B, D) -> images (B, C, H, W) in the model's value range
Encode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # images -> (mean, logvar), each (B, D)

ACTIVE_KL = 0.01  # nats: a dimension whose mean KL is below this carries (almost) no information


def prior_latents(n: int, latent_dim: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
    """z ~ N(0, temperature^2 I), (n, latent_dim). Temperature < 1 trades variety for typical samples."""
    return torch.randn(n, latent_dim, generator=generator) * temperature


@torch.no_grad()
def decode_batched(decode: Decode, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """decode(z) in chunks, so a latent map of thousands of points fits in memory."""
    return torch.cat([decode(z[i : i + batch_size]).float() for i in range(0, len(z), batch_size)])


@torch.no_grad()
def encode_batched(encode: Encode, x: torch.Tensor, batch_size: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, logvar) of q(z|x) for every image, (N, D) each, in chunks."""
    parts = [encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat([m for m, _ in parts]), torch.cat([v for _, v in parts])


def similar_latents(
    mean: torch.Tensor,
    std: torch.Tensor,
    n: int,
    scale: float,
    generator: torch.Generator,
    posterior: bool = True,
) -> torch.Tensor:
    """n variants per image, (B, n, D): mu + s * sigma * eps (posterior=True) or the textbook mu + s * eps.

    The posterior form moves each image only along the directions its encoder is unsure about, so the
    variants stay the same kind of image; the isotropic form also moves along dimensions the decoder reads
    precisely, which changes images faster for the same s. s = 0 gives the mean reconstruction n times.
    """
    eps = torch.randn(mean.shape[0], n, mean.shape[1], generator=generator)
    spread = std.unsqueeze(1) if posterior else torch.ones_like(std).unsqueeze(1)
    return mean.unsqueeze(1) + scale * spread * eps


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) a + t b for each t: a, b (D,), t (T,) -> (T, D)."""
    t = t.reshape(-1, 1).to(a.dtype)
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016, arXiv:1609.04468), (T, D).

    Under a Gaussian prior most mass lies near the sphere of radius sqrt(D); lerp's midpoints fall inside
    it (shorter z, blander images), slerp follows the arc between the two directions and blends the norms
    linearly, so every point looks like a prior sample. Nearly parallel a and b fall back to lerp.
    """
    t = t.reshape(-1, 1).to(a.dtype)
    na, nb = a.norm(), b.norm()
    ua, ub = a / na.clamp_min(1e-12), b / nb.clamp_min(1e-12)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        return lerp(a, b, t)
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) / so) * ua + (torch.sin(t * omega) / so) * ub  # unit vectors
    return direction * ((1 - t) * na + t * nb)


INTERPOLATIONS = {"lerp": lerp, "slerp": slerp}


def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int, method: str = "slerp") -> torch.Tensor:
    """`steps` latents from a to b inclusive, (steps, D)."""
    if steps < 2:
        raise ValueError(f"an interpolation needs at least 2 steps, got {steps}")
    return INTERPOLATIONS[method](a, b, torch.linspace(0.0, 1.0, steps))


def attribute_direction(
    latents: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor | None = None
) -> torch.Tensor:
    """mean(z | attribute) - mean(z | not attribute), (D,), from posterior means `latents` (N, D).

    `positive` and `negative` are (N,) bool masks; without `negative` it is everything not positive.
    Adding the vector to an image's latent (White 2016, arXiv:1609.04468, "attribute vectors") moves it from
    the average negative towards the average positive image; s = 1 is the whole distance between them.
    """
    negative = ~positive if negative is None else negative
    if not positive.any() or not negative.any():
        raise ValueError(
            f"an attribute direction needs both groups: {int(positive.sum())} positive, {int(negative.sum())} negative"
        )
    return latents[positive].mean(0) - latents[negative].mean(0)


def apply_direction(z: torch.Tensor, direction: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """z + s * direction for every image and strength: z (B, D), strengths (S,) -> (B, S, D)."""
    return z.unsqueeze(1) + strengths.reshape(1, -1, 1).to(z.dtype) * direction


def pca_2d(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(points (N, 2), mean (D,), components (D, 2)): the plane of largest variance through the mean.

    An exact SVD of the centred (N, D) matrix: D is small (tens), so it is cheap and, unlike
    torch.pca_lowrank, not random.
    """
    mean = latents.mean(0)
    centred = latents - mean
    _, _, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:2].T  # (D, 2)
    if components.shape[1] < 2:  # a 1-D latent space: the second axis carries nothing
        components = torch.cat([components, torch.zeros_like(components)], 1)
    return centred @ components, mean, components


def map_latents(
    mean: torch.Tensor, components: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, k: int
) -> torch.Tensor:
    """A k x k grid of latents over the map's rectangle [lo, hi] (each (2,)), row-major, top row = high y.

    Points off the plane are set to the mean, so the grid shows what the two main directions alone encode.
    """
    xs = torch.linspace(float(lo[0]), float(hi[0]), k)
    ys = torch.linspace(float(hi[1]), float(lo[1]), k)
    y, x = torch.meshgrid(ys, xs, indexing="ij")  # (k, k) each: row r has y = ys[r], column c has x = xs[c]
    grid = torch.stack([x, y], -1).reshape(-1, 2)  # (k*k, 2)
    return mean + grid @ components.T


def kl_per_dim(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over images of KL(q(z_d|x) || N(0, 1)) for each dimension d, in nats, (D,).

    The per-dimension terms sum to the per-image KL the loss uses. Dimensions near zero are ignored by
    the decoder (posterior collapse); Burda et al. 2015 (arXiv:1509.00519) count "active units" with the
    variance of the mean instead, and the two agree on which dimensions are dead.
    """
    return (0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)).mean(0)


def active_units(kl: torch.Tensor, threshold: float = ACTIVE_KL) -> torch.Tensor:
    """(D,) bool: the dimensions whose mean KL exceeds `threshold` nats."""
    return kl > threshold


def sweep(z: torch.Tensor, dim: int, span: float, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(values, latents): z (D,) with dimension `dim` set to each of `steps` values from -span to +span, the
    rest as they are: what that one axis draws. Latents (steps, D)."""
    axis = torch.zeros_like(z)
    axis[dim] = 1.0
    start = z.clone()
    start[dim] = 0.0  # the sweep replaces this dimension's value rather than adding to it
    values = torch.linspace(-span, span, steps)
    return values, apply_direction(start.unsqueeze(0), axis, values)[0]
