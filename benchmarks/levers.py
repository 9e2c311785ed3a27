"""Benchmark: issue 12's quality levers, each switched on against today's defaults, at fixed step budgets.

    python benchmarks/levers.py                          # Fashion-MNIST 28x28, 600 VAE + 400 GAN steps
    python benchmarks/levers.py --data emoji --vae-steps 1500 --gan-steps 600 --inception 1000

Rows (batch 64, one seed; every GAN row starts from the VAE row named in brackets):
  vae               today's VAE (resize-conv decoder: nearest x2 + conv 3x3) and the dataset's defaults, z ~ N(0, I)
  vae+fitted        the same VAE, z from the Gaussian mixture fitted to its training latents (prior.py),
                    with the dataset's --prior-components (100 for both since rounds 7 and 8)
  vae+fitted10, vae+fitted30, vae+fitted100  the same with 10, 30 or 100 mixture components
  vae+fitted10+t0.9 the 10-component mixture sampled at temperature 0.9 (each component's spread x0.9)
  vae+transpose     the VAE with the former ConvTranspose 4x4/2 decoder, z ~ N(0, I)
  vae+gaussian      the VAE with sigma-VAE's optimal-variance Gaussian decoder (--recon gaussian), z ~ N(0, I)
  vae+gaussian+fitted  that VAE through its fitted prior
  vae+bce, vae+bce+fitted  the VAE with the Bernoulli (BCE) decoder, grey data's default before round 6
  vae+z16, vae+z64  the VAE with a 16- or 64-dimensional latent (the datasets' defaults: 32 grey, 64 RGB)
  vae+z16+fitted, vae+z64+fitted  those VAEs through their fitted priors
  vae+convs2, vae+convs3  the VAE whose decoder adds 1 or 2 residual 3x3 convs after each x2 step
                    ([model] decoder_convs 2 or 3); vae+convs2+fitted, vae+convs3+fitted through their fitted priors
  vae+convs2+msssim0.1, vae+convs2+msssim0.3  the two-conv VAE trained with a (1 - MS-SSIM) term per pixel
                    beside its ELBO (--msssim-weight 0.1 or 0.3); +fitted through their fitted priors
  gan               [vae] today's GAN defaults (GANConfig's: hinge, DiffAugment, slow G, pixel anchor 10, EMA,
                    D updated 4 times per G update)
  gan+d1, gan+d2, gan+d8  [vae] the same with D updated 1, 2 or 8 times per G update (d_steps)
  gan+ttur          [vae] the same with D's learning rate doubled (4e-4)
  gan+lrg1e-4, gan+lrg2e-4  [vae] the same with G's learning rate 1e-4 or 2e-4 instead of 5e-5
  gan+grey          [vae] the GAN settings grey data keeps (presets.GREY_28: non-saturating, no DiffAugment,
                    G at lr 2e-4 from step one, D once per G update)
  gan+grey@convs2, gan+grey@convs2+msssim0.3  [vae+convs2, vae+convs2+msssim0.3] those settings on colour's
                    decoder (two convs per level) and its MS-SSIM term, never tried on grey before round 46
  gan+transpose     [vae+transpose] the former defaults: what `make run` trained before resize-conv
  gan+r1            [vae] R1 penalty on real images, gamma --r1-gamma
  gan+pixel         [vae] the pixel anchor ||G(mean of q(z|x)) - x||^2, weight 1
  gan+pixel10       [vae] the same at weight 10
  gan+r1+pixel      [vae] R1 and the pixel anchor (weight 1)
  gan+diffaug+r1+pixel  [vae] also DiffAugment color,translation,cutout on everything D sees
  gan+diffaug+r1    [vae] DiffAugment and R1
  gan+pixel30       [vae] the pixel anchor at weight 30
  gan+fitted+pixel10     [vae] pixel anchor (weight 10), G trained and scored on z from the VAE's fitted prior
  gan+fitted+r1+pixel10  [vae] the same with R1
  gan+fitted+pixel40     [vae] the same at weight 40 (for [0, 1] data, whose squared errors are 4x smaller)
  gan+fitted+r1+pixel40  [vae] the same with R1
  gan+fitted+pixel10@gaussian  [vae+gaussian] fitted z and the pixel anchor on the sigma-VAE's decoder
  gan+fitted+r1+pixel10@gaussian  [vae+gaussian] the same with R1: the grey defaults on the sigma-VAE's [-1, 1] data
  gan+fitted+r1+pixel40@bce  [vae+bce] the grey GAN defaults before round 6, on the BCE VAE's [0, 1] data
  gan+fitted+r1     [vae] fitted z and R1, no anchor
  gan+fitted+r1+pixel40+decay  [vae] fitted z, R1, the pixel anchor at 40 falling linearly to 0 by the last step
  gan+fitted+r1+pixel40+ttur   [vae] the Fashion-MNIST defaults with D's learning rate doubled (4e-4)
  gan+fitted+r1+pixel40+d64    [vae] the same with a discriminator twice as wide
  gan+fitted+r1low+pixel40     [vae] the same with R1 gamma 0.1
  gan+fitted+r1lazy4+pixel10, gan+fitted+r1lazy16+pixel10  [vae] the RGB defaults with lazy R1: the
                    penalty times 4 (16) on every 4th (16th) D step only
  gan+fitted+r1lazy16+pixel10@convs2, @convs3  [vae+convs2, vae+convs3] the RGB defaults on those decoders
  gan+fitted+r1lazy16+pixel10@convs2+msssim0.1, +msssim0.3  [vae+convs2+msssim0.1, 0.3] the RGB defaults
                    on those VAEs
  gan+fitted+r1lazy16@convs2, gan+fitted+r1lazy16+pixel3@convs2  [vae+convs2] the RGB defaults without the
                    pixel anchor, or with it at weight 3
  gan+fitted+r1lazy16+pixel10+decay@convs2  [vae+convs2] the RGB defaults, the anchor falling linearly to 0
                    by the last step
  gan+fitted+r1lazy16+pixel10@convs2+rank2, +rank4  that @convs2 row's GAN, not trained again, sampled 2 (4)
                    times more and the best half (quarter) kept by its own D (most_real)
--rows picks a subset (a GAN row trains its VAE row too, a ranked row its GAN row). The rows of levers that lost
and left vaegan are gone from this list; their round JSONs (docs/results/levers/) keep the numbers and commands.
Columns: FID, KID, precision, recall in vaegan's own feature space (vaegan.metrics.features: trained once per
dataset, cached; NOT the Inception FID), the artifact score (2-pixel-period energy share, generated over
real: about 1 is clean), the defect score (holes, specks and blocks, generated over real: about 1 is
clean; vaegan.metrics.defects), PSNR of decode(mean of q(z|x)) on held-out images (through G for GAN rows,
with the VAE decoder's beside it), sample diversity over the real data's, and the stage's training seconds.
With --inception N also inception_fid and inception_kid: N generated images against the protocol's real
set (docs/FID.md: the official test set, or all emoji), fp32. The EMA decay follows a short-budget rule
(gan_config). One seed, fixed steps, a shared CPU: read differences smaller than a few FID points
as noise. Writes docs/results/levers/<data>.json and .md, sample grids per row and a reconstruction grid
(originals, VAE, then each GAN row's G(mean of q(z|x))).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from own_features import budget, data_settings, subsample
from report import machine

from vaegan.config import GANConfig, GANRunConfig, to_dict, vae_run_config
from vaegan.data import DataSplits, load_splits, to_float, to_uint8
from vaegan.latent import decode_batched
from vaegan.metrics.collapse import pairwise_diversity
from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features
from vaegan.metrics.psnr import posterior_psnr
from vaegan.metrics.quality import embed, quality_metrics, uint8_to_unit
from vaegan.models.vae import VAE
from vaegan.presets import GREY_28, dataset_defaults
from vaegan.prior import fit_mixture, fitted_prior, posterior_means, through_prior
from vaegan.runs import load_generator, load_vae, open_run, read_metrics
from vaegan.training.feature_net import feature_net_for
from vaegan.training.train_gan import train_gan
from vaegan.training.train_vae import train_vae
from vaegan.viz import save_grid

BATCH = 64
VAE_ROWS: dict[str, dict[str, dict[str, Any]]] = {  # name -> overrides of the dataset's model and loss defaults
    "vae": {},
    "vae+transpose": {"model": {"upsample": "transpose"}},
    "vae+gaussian": {"loss": {"reconstruction": "gaussian"}},
    "vae+bce": {"loss": {"reconstruction": "bce"}},
    "vae+z16": {"model": {"latent_dim": 16}},
    "vae+z64": {"model": {"latent_dim": 64}},
    "vae+convs2": {"model": {"decoder_convs": 2}},
    "vae+convs3": {"model": {"decoder_convs": 3}},
    "vae+convs2+msssim0.1": {"model": {"decoder_convs": 2}, "loss": {"msssim_weight": 0.1}},
    "vae+convs2+msssim0.3": {"model": {"decoder_convs": 2}, "loss": {"msssim_weight": 0.3}},
}
FITTED = {  # prior-sampled row -> its VAE row
    "vae+fitted": "vae",
    "vae+fitted10": "vae",
    "vae+fitted30": "vae",
    "vae+fitted100": "vae",
    "vae+fitted10+t0.9": "vae",
    "vae+gaussian+fitted": "vae+gaussian",
    "vae+bce+fitted": "vae+bce",
    "vae+z16+fitted": "vae+z16",
    "vae+z64+fitted": "vae+z64",
    "vae+convs2+fitted": "vae+convs2",
    "vae+convs3+fitted": "vae+convs3",
    "vae+convs2+msssim0.1+fitted": "vae+convs2+msssim0.1",
    "vae+convs2+msssim0.3+fitted": "vae+convs2+msssim0.3",
}
# the others fit the VAE's --prior-components (the dataset's default: 100, grey since round 7, RGB since round 8)
FITTED_COMPONENTS = {"vae+fitted10": 10, "vae+fitted30": 30, "vae+fitted100": 100, "vae+fitted10+t0.9": 10}
FITTED_TEMPERATURE = {"vae+fitted10+t0.9": 0.9}  # the others sample at 1
DIFFAUGMENT = "color,translation,cutout"
FITTED_PIXEL40 = {"latents": "fitted", "anchor": "pixel", "anchor_weight": 40.0}
FITTED_R1_PIXEL10 = {**FITTED_PIXEL40, "r1_gamma": None, "anchor_weight": 10.0}  # the RGB defaults (and sigma-VAE's)
LAZY_R1_PIXEL10 = {**FITTED_R1_PIXEL10, "r1_every": 16}  # the RGB defaults since round 9
GREY_GAN = {k: v for k, v in GREY_28["gan"].items() if k not in ("batch_size", "epochs")}
GAN_ROWS: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (VAE row it starts from, GANConfig overrides)
    "gan": ("vae", {}),
    "gan+d1": ("vae", {"d_steps": 1}),  # the colour default before round 34
    "gan+d2": ("vae", {"d_steps": 2}),
    "gan+d8": ("vae", {"d_steps": 8}),
    "gan+ttur": ("vae", {"lr_d": 4e-4}),
    "gan+lrg1e-4": ("vae", {"lr_g": 1e-4}),
    "gan+lrg2e-4": ("vae", {"lr_g": 2e-4}),
    "gan+grey": ("vae", GREY_GAN),
    "gan+grey@convs2": ("vae+convs2", GREY_GAN),
    "gan+grey@convs2+msssim0.3": ("vae+convs2+msssim0.3", GREY_GAN),
    "gan+r1g0.01": ("vae", {"r1_gamma": 0.01}),  # StyleGAN2-ADA's rule, 0.0002 * 64^2 / batch 64
    "gan+r1off": ("vae", {"r1_gamma": 0.0}),
    "gan+d2+r1g0.01": ("vae", {"d_steps": 2, "r1_gamma": 0.01}),
    "gan+transpose": ("vae+transpose", {}),
    "gan+r1": ("vae", {"r1_gamma": None}),  # None: --r1-gamma
    "gan+pixel": ("vae", {"anchor": "pixel", "anchor_weight": 1.0}),
    "gan+pixel10": ("vae", {"anchor": "pixel", "anchor_weight": 10.0}),
    "gan+r1+pixel": ("vae", {"r1_gamma": None, "anchor": "pixel", "anchor_weight": 1.0}),
    "gan+diffaug+r1+pixel": ("vae", {"diffaugment": DIFFAUGMENT, "r1_gamma": None, "anchor": "pixel"}),
    "gan+diffaug+r1": ("vae", {"diffaugment": DIFFAUGMENT, "r1_gamma": None}),
    "gan+pixel30": ("vae", {"anchor": "pixel", "anchor_weight": 30.0}),
    "gan+fitted+pixel10": ("vae", {"latents": "fitted", "anchor": "pixel", "anchor_weight": 10.0}),
    "gan+fitted+r1+pixel10": ("vae", FITTED_R1_PIXEL10),
    "gan+fitted+pixel40": ("vae", {"latents": "fitted", "anchor": "pixel", "anchor_weight": 40.0}),
    "gan+fitted+r1+pixel40": ("vae", {"latents": "fitted", "r1_gamma": None, "anchor": "pixel", "anchor_weight": 40.0}),
    "gan+fitted+pixel10@gaussian": ("vae+gaussian", {"latents": "fitted", "anchor": "pixel", "anchor_weight": 10.0}),
    "gan+fitted+r1+pixel10@gaussian": ("vae+gaussian", FITTED_R1_PIXEL10),
    "gan+fitted+r1+pixel40@bce": ("vae+bce", {**FITTED_PIXEL40, "r1_gamma": None}),
    "gan+fitted+r1": ("vae", {"latents": "fitted", "r1_gamma": None}),
    "gan+fitted+r1+pixel40+decay": (  # None: the anchor falls linearly to 0 over all --gan-steps
        "vae",
        {"latents": "fitted", "r1_gamma": None, "anchor": "pixel", "anchor_weight": 40.0, "anchor_decay_steps": None},
    ),
    "gan+fitted+r1+pixel40+ttur": ("vae", {**FITTED_PIXEL40, "r1_gamma": None, "lr_d": 4e-4}),
    "gan+fitted+r1+pixel40+d64": ("vae", {**FITTED_PIXEL40, "r1_gamma": None, "disc_channels": 64}),
    "gan+fitted+r1low+pixel40": ("vae", {**FITTED_PIXEL40, "r1_gamma": 0.1}),
    "gan+fitted+r1lazy4+pixel10": ("vae", {**FITTED_R1_PIXEL10, "r1_every": 4}),
    "gan+fitted+r1lazy16+pixel10": ("vae", LAZY_R1_PIXEL10),
    "gan+fitted+r1lazy16+pixel10+d64": ("vae", {**LAZY_R1_PIXEL10, "disc_channels": 64}),
    "gan+fitted+r1lazy16+pixel10+ttur": ("vae", {**LAZY_R1_PIXEL10, "lr_d": 4e-4}),
    "gan+fitted+r1lazy16+pixel10@convs2": ("vae+convs2", LAZY_R1_PIXEL10),
    "gan+fitted+r1lazy16+pixel10@convs3": ("vae+convs3", LAZY_R1_PIXEL10),
    "gan+fitted+r1lazy16+pixel10@convs2+msssim0.1": ("vae+convs2+msssim0.1", LAZY_R1_PIXEL10),
    "gan+fitted+r1lazy16+pixel10@convs2+msssim0.3": ("vae+convs2+msssim0.3", LAZY_R1_PIXEL10),
    "gan+fitted+r1lazy16@convs2": ("vae+convs2", {**LAZY_R1_PIXEL10, "anchor": "none"}),
    "gan+fitted+r1lazy16+pixel3@convs2": ("vae+convs2", {**LAZY_R1_PIXEL10, "anchor_weight": 3.0}),
    "gan+fitted+r1lazy16+pixel10+decay@convs2": ("vae+convs2", {**LAZY_R1_PIXEL10, "anchor_decay_steps": None}),
}
RANKED = {  # name -> (the GAN row whose G and D it samples, candidates drawn per image kept)
    "gan+fitted+r1lazy16+pixel10@convs2+rank2": ("gan+fitted+r1lazy16+pixel10@convs2", 2),
    "gan+fitted+r1lazy16+pixel10@convs2+rank4": ("gan+fitted+r1lazy16+pixel10@convs2", 4),
}
COLUMNS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "artifact",
    "defect",
    "sharpness",
    "d_gap",
    "psnr",
    "psnr_vae",
    "diversity",
    "seconds",
)
Decode = Callable[[torch.Tensor], torch.Tensor]


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


class Scorer:
    """Every row's numbers against the same held-out images, features and fixed noise."""

    def __init__(self, args: argparse.Namespace, data: dict[str, Any]) -> None:
        self.cfg = vae_run_config(data=data).data
        self.splits = load_splits(self.cfg)
        self.net = feature_net_for(self.cfg, self.splits, args.cache_dir)
        held_out = self.splits.test if len(self.splits.test) else self.splits.val
        self.real = held_out.images[: args.samples]
        self.real_features = embed(self.net, uint8_to_unit(self.real))
        self.psnr_images = held_out.images[:1000]
        self.samples, self.grids, self.seed = args.samples, args.out / args.data, args.seed
        self.inception_samples = args.inception
        self.inception_real_name = ""
        if args.inception:
            self.inception = load_fid_net()
            self.inception_real, self.inception_real_name = real_features(self.inception, self.cfg, args.cache_dir)

    def score(
        self, name: str, decode: Decode, vae: VAE, latent_dim: int, reconstruct: Decode | None = None
    ) -> dict[str, float]:
        """`decode` draws the samples; `reconstruct` (default `decode`) maps z to images for the PSNR, which a
        decode through the fitted prior cannot: it ignores its z."""
        vr = vae.cfg.value_range
        with torch.no_grad():
            m = quality_metrics(
                decode,
                latent_dim,
                self.real,
                vr,
                self.net,
                n=len(self.real),
                generator=torch.Generator().manual_seed(self.seed),
                real_features=self.real_features,
            )
            encode: Decode = lambda x: vae.encode(x).mean  # noqa: E731
            m["psnr"] = posterior_psnr(encode, reconstruct or decode, self.psnr_images, vr)
            m["psnr_vae"] = posterior_psnr(encode, vae.decode, self.psnr_images, vr)
            z = torch.randn(256, latent_dim, generator=torch.Generator().manual_seed(1))
            real = to_float(self.splits.train.images[:256], vr)
            m["diversity"] = pairwise_diversity(decode(z).float()) / pairwise_diversity(real)
            grid_z = torch.randn(32, latent_dim, generator=torch.Generator().manual_seed(0))
            save_grid(decode(grid_z).float(), self.grids / f"{name}.png", vr, nrow=8)
            if self.inception_samples:
                m.update(self.inception_scores(decode, latent_dim, vr))
        return m

    def inception_scores(self, decode: Decode, latent_dim: int, vr: tuple[float, float]) -> dict[str, float]:
        """Inception FID and KID of inception_samples generated images against the protocol's real set."""
        g = torch.Generator().manual_seed(self.seed + 7)
        parts = [
            decode(torch.randn(250, latent_dim, generator=g)).float() for _ in range(-(-self.inception_samples // 250))
        ]
        images = to_uint8(torch.cat(parts)[: self.inception_samples], vr)
        scores = fid_kid(self.inception_real, embed_images(self.inception, images, "cpu", desc="generated"))
        return {"inception_fid": scores["fid"], "inception_kid": scores["kid"]}


@torch.no_grad()
def most_real(images: torch.Tensor, disc: Callable[[torch.Tensor], torch.Tensor], n: int) -> torch.Tensor:
    """The n of `images` the GAN's discriminator rates most real, best first. Drawing k times the images
    wanted and keeping these is discriminator-ranked sampling, after Discriminator Rejection Sampling
    (Azadi et al. 2019) with a fixed share kept instead of their calibrated acceptance, so the count is
    exact and the draw deterministic. Here for the ablation only (levers round 20, race-rank2-f26): it
    did not lower the GAN's Inception FID beyond seed noise, so no command of vaegan samples this way."""
    if not 0 < n <= len(images):
        raise ValueError(f"cannot keep {n} of {len(images)} images")
    logits = torch.cat([disc(images[i : i + 256]).float() for i in range(0, len(images), 256)])
    score = logits.flatten(1).mean(1) if logits.ndim > 1 else logits  # a projected D rates each position
    return images[score.topk(n).indices]


def fitted_decode(vae: VAE, images: torch.Tensor, seed: int, row: str) -> Decode:
    """vae.decode of z from a mixture fitted to `images`' latents, with the row's component count and
    temperature; the incoming z only sets the count."""
    components = FITTED_COMPONENTS.get(row, vae.cfg.prior_components)
    prior = fit_mixture(posterior_means(vae, images), components=components, seed=seed)
    return through_prior(vae.decode, prior, seed, FITTED_TEMPERATURE.get(row, 1.0))


def wanted_rows(args: argparse.Namespace) -> tuple[list[str], list[str], list[str], list[str]]:
    """(VAE rows, fitted-prior rows, GAN rows, ranked rows): --rows, plus the rows each chosen one starts from."""
    every = [*VAE_ROWS, *FITTED, *GAN_ROWS, *RANKED]
    chosen = args.rows.split(",") if args.rows else every
    unknown = [r for r in chosen if r not in every]
    if unknown:
        raise SystemExit(f"unknown --rows {unknown}; choose from {every}")
    chosen += [RANKED[r][0] for r in chosen if r in RANKED]
    gan_rows = [r for r in GAN_ROWS if r in chosen]
    needed = set(chosen) | {GAN_ROWS[r][0] for r in gan_rows} | {FITTED[r] for r in FITTED if r in chosen}
    ranked = [r for r in RANKED if r in chosen]
    return [r for r in VAE_ROWS if r in needed], [r for r in FITTED if r in chosen], gan_rows, ranked


def gan_config(args: argparse.Namespace, overrides: dict[str, Any], epochs: int) -> GANConfig:
    from_args = {"r1_gamma": args.r1_gamma, "anchor_decay_steps": args.gan_steps}  # what a None override means
    settings = {k: (from_args[k] if v is None else v) for k, v in overrides.items()}
    return GANConfig(
        epochs=epochs,
        batch_size=BATCH,
        seed=args.seed,
        device="cpu",
        quality_every=0,
        ema_decay=min(0.999, max(0.0, 1.0 - 10.0 / args.gan_steps)),
        **settings,
    )


def train_row_vae(row: str, data: dict[str, Any], epochs: int, seed: int, splits: DataSplits, folder: Path) -> None:
    """Train VAE row `row` (the dataset's defaults with the row's overrides) at batch BATCH into `folder`."""
    defaults = dataset_defaults(data["source"])
    cfg = vae_run_config(
        data=data,
        model={**defaults.get("model", {}), **VAE_ROWS[row].get("model", {})},
        loss={**defaults.get("loss", {}), **VAE_ROWS[row].get("loss", {})},
        train={"epochs": epochs, "batch_size": BATCH, "seed": seed, "device": "cpu", "quality_every": 0},
    )
    train_vae(cfg, folder, splits=splits, progress=False)


def run_rows(args: argparse.Namespace, work: Path) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    data, _ = data_settings(args.data, args.cache_dir)  # emoji: a fifth held out (data_settings)
    scorer = Scorer(args, data)
    splits = scorer.splits
    rows: dict[str, dict[str, float]] = {}
    vae_rows, fitted_rows, gan_rows, ranked_rows = wanted_rows(args)
    epochs, n = budget(args.vae_steps, len(splits.train))
    vae_splits = subsample(splits, n, args.seed)
    for name in vae_rows:
        t0 = time.perf_counter()
        train_row_vae(name, data, epochs, args.seed, vae_splits, work / name)
        seconds = time.perf_counter() - t0
        vae, cfg = load_vae(work / name)
        rows[name] = {**scorer.score(name, vae.decode, vae, cfg.model.latent_dim), "seconds": seconds}
        print(f"{name}: {summary(rows[name])} ({seconds:.0f}s, load {load()})", flush=True)
        for fitted in (f for f in fitted_rows if FITTED[f] == name):
            t0 = time.perf_counter()
            decode = fitted_decode(vae, vae_splits.train.images, args.seed, fitted)
            fit = time.perf_counter() - t0
            rows[fitted] = {**scorer.score(fitted, decode, vae, cfg.model.latent_dim), "seconds": fit}
            rows[fitted]["psnr"] = rows[name]["psnr"]  # the same decoder; `decode` above ignores its z
            print(f"{fitted}: {summary(rows[fitted])} (fit {fit:.0f}s)", flush=True)

    gan_epochs, gan_n = budget(args.gan_steps, len(splits.train))
    gan_splits = subsample(splits, gan_n, args.seed + 1000)
    for name in gan_rows:
        start, overrides = GAN_ROWS[name]
        t0 = time.perf_counter()
        gan = gan_config(args, overrides, gan_epochs)
        train_gan(GANRunConfig(str(work / start), gan), work / name, splits=gan_splits, progress=False)
        seconds = time.perf_counter() - t0
        generator, cfg = load_generator(work / name)
        vae, _ = load_vae(work / start)
        decode: Decode = generator
        if gan.latents == "fitted":  # scored on the z it was trained on: the mixture saved beside its VAE
            decode = through_prior(generator, fitted_prior(open_run(work / start)), args.seed)
        rows[name] = {**scorer.score(name, decode, vae, cfg.model.latent_dim, generator), "seconds": seconds}
        rows[name]["d_gap"] = d_gap(work / name)
        print(f"{name}: {summary(rows[name])} ({seconds:.0f}s, load {load()})", flush=True)
    for name in ranked_rows:
        trained, candidates = RANKED[name]
        generator, cfg = load_generator(work / trained)
        vae, _ = load_vae(work / GAN_ROWS[trained][0])
        decode = through_prior(generator, fitted_prior(open_run(work / GAN_ROWS[trained][0])), args.seed)
        disc = open_run(work / trained).discriminator()

        def ranked(z: torch.Tensor, decode: Decode = decode, disc: Decode = disc, k: int = candidates) -> torch.Tensor:
            # `decode` draws its own z from the fitted prior, fresh each call: k copies of z mean k new draws
            return most_real(decode_batched(decode, z.repeat(k, 1)), disc, len(z))

        rows[name] = {**scorer.score(name, ranked, vae, cfg.model.latent_dim, generator), "seconds": 0.0}
        print(f"{name}: {summary(rows[name])} (load {load()})", flush=True)
    reconstruction_grid(scorer, work, vae_rows[0], gan_rows, args.out / args.data / "reconstructions.png")
    info = {
        "feature_accuracy": scorer.net.accuracy,
        "samples": len(scorer.real),
        "inception_samples": args.inception,
        "inception_real": scorer.inception_real_name,
        "vae_epochs": epochs,
        "vae_images": n,
        "gan_epochs": gan_epochs,
        "gan_images": gan_n,
    }
    return rows, info


def d_gap(run: Path) -> float:
    """D(x) - D(G(z)) over the GAN's last epoch: near 0 when D cannot tell real from fake (issue 67)."""
    last = [m for m in read_metrics(run) if "d_real" in m][-1]
    return float(last["d_real"] - last["d_fake"])


def run_from_vae(args: argparse.Namespace, work: Path) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """--vae RUN: every GAN row of --rows starts from that trained run's VAE and draws z from its saved prior,
    on the run's own data split, for --gan-epochs: the levers of a fine-tune, at `make run`'s budget."""
    run = open_run(args.vae)
    scorer = Scorer(args, to_dict(run.config.data))
    _, _, gan_rows, _ = wanted_rows(args)
    args.gan_steps = args.gan_epochs * math.ceil(len(scorer.splits.train) / BATCH)  # what a None override means
    prior, vae = fitted_prior(run), run.vae()
    rows: dict[str, dict[str, float]] = {}
    for name in gan_rows:
        t0 = time.perf_counter()
        gan = gan_config(args, GAN_ROWS[name][1], args.gan_epochs)
        train_gan(GANRunConfig(str(run.path), gan), work / name, splits=scorer.splits, progress=False)
        seconds = time.perf_counter() - t0
        generator, cfg = load_generator(work / name)
        decode = through_prior(generator, prior, args.seed)
        rows[name] = {**scorer.score(name, decode, vae, cfg.model.latent_dim, generator), "seconds": seconds}
        rows[name]["d_gap"] = d_gap(work / name)
        print(f"{name}: {summary(rows[name])} ({seconds:.0f}s, load {load()})", flush=True)
    info = {
        "vae": str(run.path),
        "feature_accuracy": scorer.net.accuracy,
        "samples": len(scorer.real),
        "inception_samples": args.inception,
        "inception_real": scorer.inception_real_name,
        "gan_epochs": args.gan_epochs,
        "gan_steps": args.gan_steps,
    }
    return rows, info


def summary(row: dict[str, float]) -> str:
    text = f"fid {row['fid']:.3g}, artifact {row['artifact']:.3g}, defect {row['defect']:.3g}, "
    text += f"sharpness {row['sharpness']:.3g}, " + (f"D gap {row['d_gap']:.3f}, " if "d_gap" in row else "")
    text += f"psnr {row['psnr']:.3g}/{row['psnr_vae']:.3g}"
    return text + (f", inception fid {row['inception_fid']:.4g}" if "inception_fid" in row else "")


@torch.no_grad()
def reconstruction_grid(scorer: Scorer, work: Path, vae_row: str, gan_rows: list[str], path: Path) -> None:
    """Rows: 8 held-out images, VAE row `vae_row`'s decode(mean), then G(mean) of each GAN row, in GAN_ROWS order.

    Each row goes through its own VAE in that VAE's value range (BCE's [0, 1], the others' [-1, 1]) and
    is shown on one [0, 1] scale: one range for all turned a sigma-VAE row on Fashion-MNIST into noise."""
    images = scorer.psnr_images[:8]

    def through(vae: VAE, generator: Decode) -> torch.Tensor:
        value_range = vae.cfg.value_range
        z = vae.encode(to_float(images, value_range)).mean
        return uint8_to_unit(to_uint8(generator(z).float(), value_range))

    vae = load_vae(work / vae_row)[0]
    rows = [uint8_to_unit(images), through(vae, vae.decode)]
    rows += [through(load_vae(work / GAN_ROWS[name][0])[0], load_generator(work / name)[0]) for name in gan_rows]
    save_grid(torch.cat(rows), path, (0.0, 1.0), nrow=8)


def table(rows: dict[str, dict[str, float]]) -> str:
    extra = ("inception_fid", "inception_kid") if any("inception_fid" in m for m in rows.values()) else ()
    columns = (*COLUMNS, *extra)
    head = "| row | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 1)]
    for name, m in rows.items():
        lines.append(f"| {name} | " + " | ".join(f"{m[c]:.3g}" if c in m else "–" for c in columns) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist", choices=("fashion-mnist", "mnist", "emoji"))
    parser.add_argument("--vae-steps", type=int, default=600)
    parser.add_argument("--gan-steps", type=int, default=400)
    parser.add_argument("--r1-gamma", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=2000, help="generated and held-out images per row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", help="comma-separated rows to run (default all)")
    parser.add_argument("--inception", type=int, default=0, help="also Inception FID/KID on this many samples")
    parser.add_argument("--cache-dir", help="feature-net cache (default ~/.cache/vaegan)")
    parser.add_argument("--vae", help="GAN rows start from this trained run's VAE and prior (no VAE rows)")
    parser.add_argument("--gan-epochs", type=int, default=9, help="with --vae: GAN epochs per row (quick's 9)")
    parser.add_argument("--out", type=Path, default=Path("docs/results/levers"))
    args = parser.parse_args()
    started, load_start = time.perf_counter(), load()
    with tempfile.TemporaryDirectory() as tmp:
        rows, info = run_from_vae(args, Path(tmp)) if args.vae else run_rows(args, Path(tmp))
    record = {
        "data": args.data,
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "load_average": {"start": load_start, "end": load()},
        "minutes": (time.perf_counter() - started) / 60,
        "vae_steps": args.vae_steps,
        "gan_steps": args.gan_steps,
        "r1_gamma": args.r1_gamma,
        "seed": args.seed,
        "info": info,
        "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.data}.json").write_text(json.dumps(record, indent=1) + "\n")
    caveat = (
        f"{args.data}, "
        + (f"from {args.vae}'s VAE, " if args.vae else f"{args.vae_steps} VAE + ")
        + f"{args.gan_steps} GAN steps of batch 64, seed {args.seed}, "
        f"own-feature FID on {info['samples']} images"
        + (f"; Inception FID/KID: {args.inception} generated vs {info['inception_real']}" if args.inception else "")
        + f", load average {load_start} -> {load()} "
        f"on a shared {machine()}.\nMade by `{record['command']}`."
    )
    text = f"{caveat}\n\n{table(rows)}\n"
    (args.out / f"{args.data}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
