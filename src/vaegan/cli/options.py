"""Flags that map onto config fields, so every option has a flag and a TOML equivalent."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from vaegan.config import MEMORY_FORMATS, PRECISIONS, read_toml
from vaegan.presets import PRESETS, Sections, dataset_defaults, merge


@dataclass(frozen=True)
class Flag:
    name: str  # --kebab-case
    section: str  # TOML section / config attribute
    key: str  # field name
    type: Any
    help: str
    choices: tuple[str, ...] | None = None


def run_flags(section: str) -> tuple[Flag, ...]:
    """The run-wide settings both stages have, under `section` ([train] for the VAE, [gan] for the GAN)."""
    return (
        Flag("--seed", section, "seed", int, "seed of initialisation, data order and noise (default 0)"),
        Flag("--device", section, "device", str, "auto, cpu, cuda or cuda:N (default auto)"),
        Flag("--precision", section, "precision", str, "auto, fp32 or bf16 (default auto)", PRECISIONS),
        Flag(
            "--memory-format",
            section,
            "memory_format",
            str,
            "auto, channels_last or contiguous (default auto: channels_last on CUDA and for 64 px and up)",
            MEMORY_FORMATS,
        ),
        Flag("--grid-size", section, "grid_size", int, "images in the per-epoch grids (default 64)"),
        Flag("--quality-every", section, "quality_every", int, "epochs between FID & co. (default 5; 0 = off)"),
        Flag("--quality-samples", section, "quality_samples", int, "images per quality measurement (default 1000)"),
    )


VAE_FLAGS = (
    Flag(
        "--data",
        "data",
        "source",
        str,
        "emoji, emoji:people, emoji:faces, fashion-mnist, mnist or a folder (default emoji)",
    ),
    Flag("--data-root", "data", "root", str, "where a named dataset lives (default: its standard place)"),
    Flag("--image-size", "data", "image_size", int, "square size in pixels (default 28 for IDX data, else 64)"),
    Flag("--channels", "data", "channels", int, "1 grey or 3 RGB (default 1 for IDX data, else 3)"),
    Flag("--val-fraction", "data", "val_fraction", float, "held-out fraction for validation (default 0.1)"),
    Flag("--split-seed", "data", "split_seed", int, "seed of the fixed train/validation split (default 0)"),
    Flag(
        "--cache-dir", "data", "cache_dir", str, "cache for rendered emoji and feature nets (default ~/.cache/vaegan)"
    ),
    Flag("--model", "model", "kind", str, "vae, or ae for the plain autoencoder baseline (default vae)", ("vae", "ae")),
    Flag("--latent-dim", "model", "latent_dim", int, "latent dimensions (default 32 for IDX data, else 64)"),
    Flag("--base-channels", "model", "base_channels", int, "width of the first conv layer (default 32)"),
    Flag(
        "--recon",
        "loss",
        "reconstruction",
        str,
        "mse_sum, mse_mean or bce (default bce for IDX data, else mse_sum)",
        ("mse_sum", "mse_mean", "bce"),
    ),
    Flag("--beta", "loss", "beta", float, "weight of the KL term (default 1)"),
    Flag("--kl-warmup", "loss", "kl_warmup_steps", int, "steps over which beta rises linearly from 0"),
    Flag("--epochs", "train", "epochs", int, "training epochs"),
    Flag("--batch-size", "train", "batch_size", int, "images per step"),
    Flag("--lr", "train", "lr", float, "Adam learning rate (default 1e-3)"),
    *run_flags("train"),
    Flag("--checkpoint-every", "train", "checkpoint_every", int, "epochs between checkpoints (default 1)"),
)


GAN_FLAGS = (
    Flag(
        "--gan-loss",
        "gan",
        "loss",
        str,
        "nonsaturating (default), minimax or hinge",
        ("nonsaturating", "minimax", "hinge"),
    ),
    Flag(
        "--init",
        "gan",
        "init",
        str,
        "vae: start G as the trained decoder (default); scratch: random G",
        ("vae", "scratch"),
    ),
    Flag("--disc-channels", "gan", "disc_channels", int, "width of the discriminator's first conv (default 32)"),
    Flag("--spectral-norm", "gan", "spectral_norm", bool, "spectral normalisation on every D layer"),
    Flag("--gan-epochs", "gan", "epochs", int, "GAN epochs"),
    Flag("--gan-batch-size", "gan", "batch_size", int, "GAN images per step (default 64)"),
    Flag("--lr-g", "gan", "lr_g", float, "generator Adam learning rate (default 2e-4)"),
    Flag("--lr-d", "gan", "lr_d", float, "discriminator Adam learning rate (default 2e-4)"),
    Flag("--beta1", "gan", "beta1", float, "Adam beta1 of both networks (default 0.5)"),
    Flag("--beta2", "gan", "beta2", float, "Adam beta2 of both networks (default 0.999)"),
    Flag("--d-steps", "gan", "d_steps", int, "D updates per G update (default 1)"),
    Flag("--d-warmup", "gan", "d_warmup_steps", int, "steps in which only D learns (default 0)"),
    Flag(
        "--anchor",
        "gan",
        "anchor",
        str,
        "keep G near the VAE: none (default), decoder or feature",
        ("none", "decoder", "feature"),
    ),
    Flag("--anchor-weight", "gan", "anchor_weight", float, "weight of the anchor (default 1)"),
    Flag("--anchor-decay", "gan", "anchor_decay_steps", int, "steps over which the anchor weight falls to 0"),
    Flag("--ema-decay", "gan", "ema_decay", float, "EMA of G's weights for sampling (default 0.999; 0 = off)"),
    Flag(
        "--collapse-fraction",
        "gan",
        "collapse_fraction",
        float,
        "warn of mode collapse below this fraction of the real data's diversity (default 0.5)",
    ),
)
# train-gan's own copies of the run-wide flags; the pipeline takes them from the VAE's [train] section.
GAN_RUNTIME_FLAGS = run_flags("gan")


def add_flags(parser: argparse.ArgumentParser, flags: tuple[Flag, ...]) -> None:
    for flag in flags:
        if flag.type is bool:
            parser.add_argument(flag.name, action="store_const", const=True, default=None, help=flag.help)
        else:
            parser.add_argument(flag.name, type=flag.type, default=None, help=flag.help, choices=flag.choices)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="a TOML file with [data], [model], [loss], [train] sections")
    parser.add_argument("--preset", choices=sorted(PRESETS), help="quick: a short run; full: the dataset's defaults")


def sections_from_args(args: argparse.Namespace, flags: tuple[Flag, ...], source: str | None = None) -> Sections:
    """Dataset defaults < preset < --config file < flags, as config sections.

    `source` names the dataset when no flag does (train-gan takes it from the VAE's config).
    """
    from_file: Sections = read_toml(args.config) if getattr(args, "config", None) else {}
    from_flags: Sections = {}
    for flag in flags:
        value = getattr(args, flag.name[2:].replace("-", "_"))
        if value is not None:
            from_flags.setdefault(flag.section, {})[flag.key] = value
    source = from_flags.get("data", {}).get("source") or from_file.get("data", {}).get("source") or source or "emoji"
    preset = PRESETS[args.preset] if getattr(args, "preset", None) else {}
    return merge(dataset_defaults(source), preset, from_file, from_flags)
