"""Flags that map onto config fields, so every option has a flag and a TOML equivalent.

Help texts never state a default by hand: `add_flags` appends the real one, read from the config
dataclasses and the dataset presets, so the two cannot drift apart.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from vaegan.config import (
    ANCHORS,
    COMPILES,
    DISC_KINDS,
    GAN_INITS,
    GAN_LOSSES,
    LATENTS,
    MEMORY_FORMATS,
    MODEL_KINDS,
    PRECISIONS,
    RECONSTRUCTIONS,
    UPSAMPLES,
    DataConfig,
    GANConfig,
    LossConfig,
    ModelConfig,
    TrainConfig,
    VAERunConfig,
    from_dict,
    read_toml,
    vae_run_config,
)
from vaegan.data import absolute_source
from vaegan.errors import VaeganError
from vaegan.presets import GREY_28, PRESETS, RGB_64, Sections, dataset_defaults, merge

SECTION_CLASSES: dict[str, type] = {
    "data": DataConfig,
    "model": ModelConfig,
    "loss": LossConfig,
    "train": TrainConfig,
    "gan": GANConfig,
}


@dataclass(frozen=True)
class Flag:
    name: str  # --kebab-case
    section: str  # TOML section / config attribute
    key: str  # field name
    type: Any
    help: str  # what it does; the default is added from the config (see default_text)
    choices: tuple[str, ...] | None = None
    unset: str | None = None  # what a default of None means, in words


def run_flags(section: str) -> tuple[Flag, ...]:
    """The run-wide settings both stages have (config.RunSettings), under [train] or [gan]."""
    return (
        Flag("--seed", section, "seed", int, "seed of initialisation, data order and noise"),
        Flag("--device", section, "device", str, "auto (CUDA when present), cpu, cuda or cuda:N"),
        Flag(
            "--precision",
            section,
            "precision",
            str,
            "bf16 autocast or fp32; auto: bf16 where a short probe here finds it clearly pays (an unclear probe "
            "keeps fp32 for the run; clear verdicts are cached for weeks (a close call for a day) in speed.json "
            "under --cache-dir: delete it to measure again)",
            PRECISIONS,
        ),
        Flag(
            "--memory-format",
            section,
            "memory_format",
            str,
            "auto: the faster layout by the same probe (rank 0's under torchrun); unclear keeps contiguous",
            MEMORY_FORMATS,
        ),
        Flag("--grid-size", section, "grid_size", int, "images in the per-epoch grids"),
        Flag("--grid-every", section, "grid_every", int, "epochs between those grids (and the last epoch)"),
        Flag("--quality-every", section, "quality_every", int, "epochs between FID & co. (0 = off)"),
        Flag("--quality-samples", section, "quality_samples", int, "images per quality measurement"),
        Flag("--checkpoint-every", section, "checkpoint_every", int, "epochs between checkpoints"),
        Flag("--min-steps", section, "min_steps", int, "optimiser steps at least: small data trains more epochs"),
        Flag("--tensorboard", section, "tensorboard", bool, "also write TensorBoard events (the tensorboard extra)"),
    )


VAE_FLAGS = (
    Flag("--data", "data", "source", str, "emoji, emoji:people, emoji:faces, fashion-mnist, mnist or a folder"),
    Flag("--data-root", "data", "root", str, "where a named dataset lives", unset="its standard place"),
    Flag("--image-size", "data", "image_size", int, "square size in pixels"),
    Flag("--channels", "data", "channels", int, "1 grey or 3 RGB"),
    Flag("--val-fraction", "data", "val_fraction", float, "held-out fraction for validation"),
    Flag("--split-seed", "data", "split_seed", int, "seed of the fixed train/validation split"),
    Flag("--cache-dir", "data", "cache_dir", str, "cache for rendered emoji and feature nets", unset="~/.cache/vaegan"),
    Flag("--model", "model", "kind", str, "vae, or ae for the plain autoencoder baseline", MODEL_KINDS),
    Flag("--latent-dim", "model", "latent_dim", int, "latent dimensions"),
    Flag("--base-channels", "model", "base_channels", int, "width of the first conv layer"),
    Flag("--decoder-convs", "model", "decoder_convs", int, "convs per decoder level: the x2 step, then 3x3 ones"),
    Flag(
        "--upsample", "model", "upsample", str, "decoder x2 steps: ConvTranspose 4x4/2 or resize + conv 3x3", UPSAMPLES
    ),
    Flag(
        "--prior-components", "model", "prior_components", int, "Gaussians in the fitted prior that draws z (prior.py)"
    ),
    Flag("--recon", "loss", "reconstruction", str, "reconstruction loss (see the README)", RECONSTRUCTIONS),
    Flag("--beta", "loss", "beta", float, "weight of the KL term"),
    Flag("--kl-warmup", "loss", "kl_warmup_steps", int, "steps over which beta rises linearly from 0"),
    Flag("--msssim-weight", "loss", "msssim_weight", float, "weight of a (1 - MS-SSIM) term per pixel in training"),
    Flag("--epochs", "train", "epochs", int, "training epochs"),
    Flag(
        "--max-minutes", "train", "max_minutes", float, "stop after the epoch that would pass these minutes (0 = none)"
    ),
    Flag("--batch-size", "train", "batch_size", int, "images per step"),
    Flag("--lr", "train", "lr", float, "Adam learning rate"),
    Flag("--lr-warmup", "train", "lr_warmup_steps", int, "steps over which the learning rate rises linearly"),
    Flag(
        "--compile",
        "train",
        "compile",
        str,
        "torch.compile the VAE's step; auto: where a timed trial here shows it wins back its compile time over "
        "the stage (verdicts cached in speed.json beside --precision's)",
        COMPILES,
    ),
    *run_flags("train"),
)


GAN_FLAGS = (
    Flag("--gan-loss", "gan", "loss", str, "nonsaturating -log D(G(z)), minimax log(1 - D(G(z))) or hinge", GAN_LOSSES),
    Flag("--init", "gan", "init", str, "vae: start G as the trained decoder; scratch: random G", GAN_INITS),
    Flag(
        "--disc-kind",
        "gan",
        "disc_kind",
        str,
        "conv: D's convs on the image; projected: heads on the frozen VAE encoder's maps",
        DISC_KINDS,
    ),
    Flag("--disc-channels", "gan", "disc_channels", int, "width of the discriminator's first conv (projected: heads)"),
    Flag("--gan-epochs", "gan", "epochs", int, "GAN epochs"),
    Flag("--gan-max-minutes", "gan", "max_minutes", float, "stop the GAN after the epoch that would run past this"),
    Flag("--gan-batch-size", "gan", "batch_size", int, "GAN images per step"),
    Flag("--lr-g", "gan", "lr_g", float, "generator Adam learning rate"),
    Flag("--lr-d", "gan", "lr_d", float, "discriminator Adam learning rate"),
    Flag("--beta1", "gan", "beta1", float, "Adam beta1 of both networks"),
    Flag("--beta2", "gan", "beta2", float, "Adam beta2 of both networks"),
    Flag("--d-steps", "gan", "d_steps", int, "D updates per G update"),
    Flag("--d-warmup", "gan", "d_warmup_steps", int, "steps in which only D learns"),
    Flag("--anchor", "gan", "anchor", str, "keep G near the VAE: decoder G(z) ~ Dec(z), pixel G(E(x)) ~ x", ANCHORS),
    Flag("--latents", "gan", "latents", str, "G's z: N(0, I) or the prior fitted to the VAE's latents", LATENTS),
    Flag("--anchor-weight", "gan", "anchor_weight", float, "weight of the anchor"),
    Flag("--anchor-decay", "gan", "anchor_decay_steps", int, "steps over which the anchor weight falls to 0"),
    Flag("--ema-decay", "gan", "ema_decay", float, "EMA of G's weights for sampling (0 = off)"),
    Flag(
        "--diffaugment", "gan", "diffaugment", str, "DiffAugment policy for D's inputs, e.g. color,translation,cutout"
    ),
    Flag("--r1-gamma", "gan", "r1_gamma", float, "R1 penalty weight on D's gradient at real images (0 = off)"),
    Flag("--r1-every", "gan", "r1_every", int, "lazy R1: take the penalty (times this) every this many D steps"),
    Flag(
        "--collapse-fraction",
        "gan",
        "collapse_fraction",
        float,
        "warn of mode collapse below this fraction of the real data's diversity",
    ),
)
# train-gan's own copies of the run-wide flags; the pipeline takes them from the VAE's [train] section.
GAN_RUNTIME_FLAGS = run_flags("gan")


def field_default(section: str, key: str) -> Any:
    for f in fields(SECTION_CLASSES[section]):
        if f.name == key:
            return f.default if f.default is not MISSING else None
    raise KeyError(f"{section}.{key} is no config field")


def shown(value: Any, unset: str | None = None) -> str:
    """A default as help text: 1e-03 as 0.001, True as on, None as what it means."""
    if value is None:
        return unset or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_text(flag: Flag) -> str:
    """The real default: the dataclass's, unless a dataset preset overrides it (IDX digits vs the rest)."""
    base = field_default(flag.section, flag.key)
    grey = GREY_28.get(flag.section, {}).get(flag.key, base)
    colour = RGB_64.get(flag.section, {}).get(flag.key, base)
    if grey == colour:  # both presets agree, on the dataclass's value or their own
        return f"default {shown(grey, flag.unset)}"
    return f"default {shown(grey, flag.unset)} for fashion-mnist and mnist, {shown(colour, flag.unset)} otherwise"


def add_flags(parser: argparse.ArgumentParser, flags: tuple[Flag, ...]) -> None:
    for flag in flags:
        text = f"{flag.help} ({default_text(flag)})"
        if flag.type is bool:
            parser.add_argument(flag.name, action="store_const", const=True, default=None, help=text)
        else:
            parser.add_argument(flag.name, type=flag.type, default=None, help=text, choices=flag.choices)


def add_config_flags(parser: argparse.ArgumentParser, sections: str) -> None:
    parser.add_argument(
        "--config", help=f"a TOML file with {sections} whose keys are config field names (see configs/)"
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="quick: a short run; full: the dataset's defaults")


def sections_from_args(args: argparse.Namespace, flags: tuple[Flag, ...], source: str | None = None) -> Sections:
    """Dataset defaults < preset < --config file < flags, as config sections.

    `source` names the dataset when no flag does (train-gan takes it from the VAE's config).
    """
    given = given_sections(args, flags)
    source = given.get("data", {}).get("source") or source or "emoji"
    return merge(dataset_defaults(source), given)


def given_sections(args: argparse.Namespace, flags: tuple[Flag, ...]) -> Sections:
    """What the user asked for, without the defaults: preset < --config file < flags (what --resume applies)."""
    values = {setting_name(flag): getattr(args, setting_name(flag)) for flag in flags}
    return settings_sections(values, flags, getattr(args, "preset", None), getattr(args, "config", None))


def setting_name(flag: Flag) -> str:
    """The flag as a Python name: --gan-epochs is gan_epochs (argparse's dest, vaegan.train's keyword)."""
    return flag.name[2:].replace("-", "_")


def settings_sections(
    values: dict[str, Any], flags: tuple[Flag, ...], preset: str | None = None, config: str | Path | None = None
) -> Sections:
    """preset < TOML file < `values` (flags by setting_name; None is not given), as config sections."""
    by_name = {setting_name(flag): flag for flag in flags}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        raise VaeganError(f"unknown settings {unknown}; use the flags of `vaegan run` in snake case: {sorted(by_name)}")
    if preset is not None and preset not in PRESETS:
        raise VaeganError(f"unknown preset {preset!r}; use one of {', '.join(sorted(PRESETS))}")
    from_flags: Sections = {}
    for name, value in values.items():
        if value is not None:
            from_flags.setdefault(by_name[name].section, {})[by_name[name].key] = value
    from_file: Sections = checked_sections(read_toml(config), config) if config else {}
    return absolute_paths(merge(PRESETS[preset] if preset else {}, from_file, from_flags))


def checked_sections(raw: dict[str, Any], path: str | Path) -> Sections:
    """A TOML file's sections, each a known one holding only its dataclass's fields (the values' types are
    checked where the configs are built); anything else is refused by name, never silently ignored."""
    names = ", ".join(f"[{name}]" for name in SECTION_CLASSES)
    for name, values in raw.items():
        if not isinstance(values, dict):
            homes = [f"[{s}]" for s, cls in SECTION_CLASSES.items() if name in {f.name for f in fields(cls)}]
            where = f"under {' or '.join(homes)}" if homes else f"in one of {names}"
            raise VaeganError(f"config file {path}: '{name}' is outside any section; put it {where}")
        if name not in SECTION_CLASSES:
            raise VaeganError(f"config file {path} has an unknown section [{name}]; use {names}")
        known = {f.name for f in fields(SECTION_CLASSES[name])}
        unknown = sorted(set(values) - known)
        if unknown:
            raise VaeganError(f"config file {path}: unknown keys {unknown} in [{name}]; valid keys are {sorted(known)}")
    return raw


def absolute_paths(sections: Sections) -> Sections:
    """A folder given as --data (and --data-root, --cache-dir) made absolute, so the run that stores it works
    from any folder; a dataset's name stays a name."""
    data = dict(sections.get("data", {}))
    if isinstance(data.get("source"), str):
        data["source"] = absolute_source(data["source"])
    for key in ("root", "cache_dir"):
        if isinstance(data.get(key), str):
            data[key] = os.path.abspath(os.path.expanduser(data[key]))
    return {**sections, "data": data} if data else sections


def pipeline_configs(given: Sections) -> tuple[VAERunConfig, GANConfig, Sections]:
    """`vaegan run`'s two stage configs from what the user gave (over the dataset's defaults), and the
    settings a rerun over an existing run changes. The GAN takes the run-wide settings from [train]."""
    source = given.get("data", {}).get("source") or "emoji"
    sections = merge(dataset_defaults(source), given)
    vae_cfg = vae_run_config(**sections)
    shared_keys = {flag.key for flag in GAN_RUNTIME_FLAGS}
    shared = {key: getattr(vae_cfg.train, key) for key in shared_keys}
    gan_cfg = from_dict(GANConfig, {**shared, **sections.get("gan", {})})
    given_shared = {k: v for k, v in given.get("train", {}).items() if k in shared_keys}
    wanted = {**given, "gan": {**given_shared, **given.get("gan", {})}}
    return vae_cfg, gan_cfg, wanted
