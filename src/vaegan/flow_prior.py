"""A learned prior: a small MLP velocity field trained by flow matching on the training images' latents.

The mixture (prior.py) puts a Gaussian on each region the training latents fill; a flow learns their shape.
Flow matching with straight paths (rectified flow, Liu et al. 2022, arXiv:2209.03003; Lipman et al. 2022,
arXiv:2210.02747): x_t = (1 - t) z0 + t z1 for z0 ~ N(0, I), z1 a training latent normalised per
dimension and t logit-normal, and v(x_t, t) regresses z1 - z0. Sampling integrates dx/dt = v from t = 0 to 1
with Heun's method in a fixed number of steps from a torch.Generator, so a seed gives the same z on the same
device. The idea is Dai & Wipf 2019's second stage (arXiv:1903.05789) with a flow in place of their second VAE.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vaegan.checkpoint import checksum, read_tensors, seal, write_atomically
from vaegan.errors import VaeganError

FLOW_NAME = "flow_prior.pt"
FLOW_FORMAT = 1
# The recipe, chosen by a screen on the emoji VAE's 3,409 64-d latents (levers 29, docs/results/emoji/prior-flow.json);
# width 256 and depth 6 by levers 33, where capacity, not more steps, took the holes out of G's samples.
# Steps follow the data: `epochs` passes over the latents, at most `max_steps` (emoji: the cap, 10,000; 40 images:
# 125). t is logit-normal of spread `t_logit` (SD3, arXiv:2403.03206), where uniform t lost by 0.9-2.9 FID
# (levers 44), as did spreads 0.5 and 1.5 (levers 45). A saved flow fitted by another recipe is fitted again.
RECIPE = {"width": 256, "depth": 6, "epochs": 800, "max_steps": 10_000, "batch": 256, "lr": 3e-3, "t_logit": 1.0}
# Heun steps per draw, not part of the fit (a flow saved with another count loads as it is): 16 drew G's samples
# 0.32 / 0.11 Inception FID from 32's on the same noise (emoji / Fashion-MNIST), in half the draw's time (levers 40).
SAMPLE_STEPS = 16
FREQUENCIES = 8  # sin/cos of t at 2^k pi, k < 8: the time embedding


class VelocityField(nn.Module):
    """v(x, t) for x (B, D), t (B,): x and t's sinusoidal embedding (B, 2F) into `width`, then `depth`
    pre-norm residual blocks (LayerNorm, Linear, SiLU, Linear), then back to D. The residual form fitted
    lower losses than a plain MLP of the same cost in the screen (docs/results/emoji/prior-flow.json)."""

    def __init__(self, dim: int, width: int, depth: int) -> None:
        super().__init__()
        self.project = nn.Linear(dim + 2 * FREQUENCIES, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
            for _ in range(depth)
        )
        self.out = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, dim))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        angles = t.unsqueeze(1) * (math.pi * 2.0 ** torch.arange(FREQUENCIES, device=t.device))  # (B, F)
        h = self.project(torch.cat([x, angles.sin(), angles.cos()], dim=1))  # (B, width)
        for block in self.blocks:
            h = h + block(h)
        return self.out(h)


@dataclass(frozen=True)
class FlowPrior:
    """z = x_1 * std + mean, x_1 integrated from x_0 ~ N(0, temperature^2 I) along `field`."""

    field: VelocityField
    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)
    steps: int

    @torch.no_grad()  # not inference_mode: a GAN's z must be usable by autograd downstream
    def sample(self, n: int, generator: torch.Generator, temperature: float = 1.0) -> torch.Tensor:
        """(n, D) float32 by `steps` Heun steps; the base noise scaled by `temperature`."""
        x = temperature * torch.randn(n, len(self.mean), generator=generator, device=self.mean.device)
        dt = 1.0 / self.steps
        for i in range(self.steps):
            t = torch.full((n,), i * dt, device=x.device)
            v = self.field(x, t)
            guess = x + dt * v
            x = x + 0.5 * dt * (v + self.field(guess, t + dt))
        return (x * self.std + self.mean).float()

    def to(self, device: torch.device) -> FlowPrior:
        field = copy.deepcopy(self.field).to(device)  # a copy: Module.to moves in place, and the caller keeps its own
        return FlowPrior(field, self.mean.to(device), self.std.to(device), self.steps)


def fit_flow(z: torch.Tensor, recipe: dict[str, float] | None = None, seed: int = 0) -> FlowPrior:
    """Flow matching on rows z (N, D), on z's device, seeded: the same z, seed and device give the same flow.

    On a CPU it fits on one thread, whatever torch's count: at levers 29's width of 128, two threads on cores
    shared with other work took several times one thread's time (its record); levers 33's width of 256 was
    not timed on two. One thread also makes the flow the same on machines with different core counts.
    """
    if len(z) < 2:
        raise VaeganError(f"fitting a flow prior needs at least 2 latents, got {len(z)}")
    threads = torch.get_num_threads()
    if z.device.type == "cpu":
        torch.set_num_threads(1)
    try:
        with torch.enable_grad():  # callers may sit under no_grad (a race scoring samples), the fit still trains
            return fit_on_device(z, RECIPE if recipe is None else recipe, seed)
    finally:
        torch.set_num_threads(threads)


def fit_on_device(z: torch.Tensor, r: dict[str, float], seed: int) -> FlowPrior:
    z = z.float()
    mean, std = z.mean(0), z.std(0)
    std = std.clamp_min(1e-3 * float(std.max()) + 1e-12)  # a dead latent dimension is not blown up to N(0, 1)
    x1 = (z - mean) / std
    g = torch.Generator(z.device).manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # the caller's RNG stream stays as it was (a resumed run)
        torch.manual_seed(seed)
        field = VelocityField(z.shape[1], int(r["width"]), int(r["depth"])).to(z.device)
    batch = int(r["batch"])
    steps = min(int(r["max_steps"]), math.ceil(r["epochs"] * len(z) / batch))
    opt = torch.optim.Adam(field.parameters(), lr=float(r["lr"]))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / steps)  # linear to 0
    for _ in range(steps):
        target = x1[torch.randint(len(x1), (batch,), generator=g, device=z.device)]
        noise = torch.randn(target.shape, generator=g, device=z.device)
        t = torch.sigmoid(float(r["t_logit"]) * torch.randn(batch, generator=g, device=z.device))
        xt = (1 - t.unsqueeze(1)) * noise + t.unsqueeze(1) * target
        loss = (field(xt, t) - (target - noise)).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    field.eval().requires_grad_(False)
    return FlowPrior(field, mean, std, SAMPLE_STEPS)


def write_flow(prior: FlowPrior, path: Path, vae_step: int) -> None:
    """flow_prior.pt: a flow fitted by RECIPE, sealed with a checksum, tensors and plain values only."""
    payload = {
        "format": FLOW_FORMAT,
        "vae_step": vae_step,
        "recipe": dict(RECIPE),
        "mean": prior.mean.cpu(),
        "std": prior.std.cpu(),
        "field": {k: v.cpu() for k, v in prior.field.state_dict().items()},
    }
    write_atomically(seal(payload), path)


FIX = "delete it and vaegan fits the flow prior again"


def read_sealed(path: Path) -> dict:
    """flow_prior.pt's payload, safely loaded and its checksum checked; damaged or forged: one line."""
    saved = read_tensors(path, "flow prior", FIX)
    if not isinstance(saved, dict) or saved.get("format") != FLOW_FORMAT:
        raise VaeganError(f"{path} is not a vaegan flow prior; {FIX}")
    if saved.get("checksum") != checksum(saved):
        raise VaeganError(f"{path} fails its checksum: its bytes changed since vaegan wrote them; {FIX}")
    return saved


def recipe_of(saved: dict) -> dict | None:
    """The recipe a sealed flow names, or None where it is not plain numbers (a tensor there would not compare)."""
    recipe = saved.get("recipe")
    if not isinstance(recipe, dict) or any(type(v) not in (int, float) for v in recipe.values()):
        return None
    return recipe


def saved_recipe(path: Path) -> dict | None:
    """The recipe that fitted the flow saved at `path`: what a GAN stage trained from it drew z by."""
    return recipe_of(read_sealed(path))


def read_flow(path: Path, latent_dim: int) -> tuple[FlowPrior, int] | None:
    """flow_prior.pt as (prior, the VAE step it was fitted at); None when another recipe fitted it (fitted
    again). The tensors' shapes are checked against `latent_dim` and the recipe before any is loaded; anything
    damaged or forged is one line that says to delete it."""
    saved = read_sealed(path)
    if recipe_of(saved) != RECIPE:
        return None
    mean, std, state = saved.get("mean"), saved.get("std"), saved.get("field")
    if not (isinstance(mean, torch.Tensor) and isinstance(std, torch.Tensor) and isinstance(state, dict)):
        raise VaeganError(f"{path} does not hold the tensors of a flow; {FIX}")
    width, depth = int(RECIPE["width"]), int(RECIPE["depth"])
    with torch.device("meta"):  # the shapes this config builds, without initialising (or drawing random numbers)
        field = VelocityField(latent_dim, width, depth)
    want = {k: tuple(v.shape) for k, v in field.state_dict().items()}
    shapes = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()}
    ok = (
        shapes == want
        and tuple(mean.shape) == tuple(std.shape) == (latent_dim,)
        and isinstance(saved.get("vae_step"), int)
        and all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for t in (mean, std, *state.values()))
    )
    if not (ok and bool((std > 0).all())):
        raise VaeganError(f"{path} does not hold a {latent_dim}-dimensional flow of finite tensors; {FIX}")
    field.load_state_dict(state, strict=True, assign=True)
    field.eval().requires_grad_(False)
    return FlowPrior(field, mean, std, SAMPLE_STEPS), saved["vae_step"]
