"""The settings a user gives, by name: flags of the CLI, keywords of vaegan.train, keys of a --config TOML file;
and how what a user gave becomes the stage configs, layered over the defaults.

Layers, lowest first: the config dataclasses' defaults (64x64 colour's), the data kind's (presets.GREY_28), a
named preset (--preset: how long a new run trains), then what the user gave: the TOML file, then flags or
keywords. Only that last layer is the user's own: it is what a resume applies, and epochs in it are trained as
given (presets.budget does not raise them to --min-steps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
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
    DataConfig,
    GANConfig,
    LossConfig,
    ModelConfig,
    RunSettings,
    TrainConfig,
    VAERunConfig,
    from_dict,
    read_toml,
    type_problem,
    vae_run_config,
)
from vaegan.data import EMOJI_SOURCES, IDX_SOURCES, absolute_source
from vaegan.errors import VaeganError
from vaegan.presets import PRESETS, Sections, dataset_defaults, merge

NAMED_SOURCES = IDX_SOURCES + EMOJI_SOURCES  # datasets by name; any other --data is a folder
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
            "bf16 autocast or fp32; auto: bf16 on a CPU with bf16 instructions (avx512_bf16, amx_bf16), else fp32",
            PRECISIONS,
        ),
        Flag(
            "--memory-format",
            section,
            "memory_format",
            str,
            "auto: channels_last on a CPU, contiguous on a GPU",
            MEMORY_FORMATS,
        ),
        Flag("--quality-every", section, "quality_every", int, "epochs between FID & co. (0 = off)"),
        Flag("--min-steps", section, "min_steps", int, "optimiser steps at least: small data trains more epochs"),
        Flag("--tensorboard", section, "tensorboard", bool, "also write TensorBoard events (the tensorboard extra)"),
    )


VAE_FLAGS = (
    Flag("--data", "data", "source", str, "emoji, emoji:people, emoji:faces, fashion-mnist, mnist or a folder"),
    Flag("--data-root", "data", "root", str, "where a named dataset lives", unset="its standard place"),
    Flag("--image-size", "data", "image_size", int, "square size in pixels"),
    Flag("--channels", "data", "channels", int, "1 grey or 3 RGB"),
    Flag("--val-fraction", "data", "val_fraction", float, "held-out fraction for validation"),
    Flag("--cache-dir", "data", "cache_dir", str, "cache for rendered emoji and feature nets", unset="~/.cache/vaegan"),
    Flag("--model", "model", "kind", str, "vae, or ae for the plain autoencoder baseline", MODEL_KINDS),
    Flag("--latent-dim", "model", "latent_dim", int, "latent dimensions"),
    Flag("--base-channels", "model", "base_channels", int, "width of the first conv layer"),
    Flag(
        "--prior-components", "model", "prior_components", int, "Gaussians in the fitted prior that draws z (prior.py)"
    ),
    Flag("--recon", "loss", "reconstruction", str, "reconstruction loss (see the README)", RECONSTRUCTIONS),
    Flag("--beta", "loss", "beta", float, "weight of the KL term"),
    Flag("--msssim-weight", "loss", "msssim_weight", float, "weight of a (1 - MS-SSIM) term per pixel in training"),
    Flag("--epochs", "train", "epochs", int, "training epochs"),
    Flag(
        "--max-minutes", "train", "max_minutes", float, "stop after the epoch that would pass these minutes (0 = none)"
    ),
    Flag("--batch-size", "train", "batch_size", int, "images per step"),
    Flag("--lr", "train", "lr", float, "Adam learning rate"),
    Flag(
        "--compile",
        "train",
        "compile",
        str,
        "torch.compile the VAE's step: faster on 64 px colour once compiled (tens of seconds; needs a C++ compiler)",
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
    Flag("--d-warmup", "gan", "d_warmup_steps", int, "steps in which only D learns"),
    Flag(
        "--anchor",
        "gan",
        "anchor",
        str,
        "keep G near the VAE: decoder G(z) ~ Dec(z), pixel G(E(x)) ~ x",
        ANCHORS,
    ),
    Flag("--latents", "gan", "latents", str, "G's z: N(0, I) or the prior fitted to the VAE's latents", LATENTS),
    Flag("--anchor-weight", "gan", "anchor_weight", float, "weight of the anchor"),
    Flag("--anchor-decay", "gan", "anchor_decay_steps", int, "steps over which the anchor weight falls to 0"),
    Flag("--ema-decay", "gan", "ema_decay", float, "EMA of G's weights for sampling (0 = off)"),
    Flag(
        "--diffaugment", "gan", "diffaugment", str, "DiffAugment policy for D's inputs, e.g. color,translation,cutout"
    ),
    Flag("--r1-gamma", "gan", "r1_gamma", float, "R1 penalty weight on D's gradient at real images (0 = off)"),
)
# train-gan's own copies of the run-wide flags; the pipeline takes them from the VAE's [train] section.
GAN_RUNTIME_FLAGS = run_flags("gan")
# The run-wide settings (config.RunSettings) a `vaegan run` GAN takes from [train]; each stage has its own
# length, batch and time limit.
SHARED = tuple(f.name for f in fields(RunSettings) if f.name not in ("epochs", "batch_size", "max_minutes"))


def setting_name(flag: Flag) -> str:
    """The flag as a Python name: --gan-epochs is gan_epochs (argparse's dest, vaegan.train's keyword)."""
    return flag.name[2:].replace("-", "_")


def config_only(flags: tuple[Flag, ...]) -> dict[str, tuple[str, str]]:
    """The fields of the flags' sections that no flag sets, by name: (section, key). A --config file sets
    them, and vaegan.train takes them as keywords beside the flags. Not [model] output, which follows
    --recon (vae_run_config), nor, beside [train], the GAN's run-wide settings: a pipeline's GAN takes
    [train]'s (pipeline_configs)."""
    flagged = {(flag.section, flag.key) for flag in flags} | {("model", "output")}
    names = {setting_name(flag) for flag in flags}
    sections = [section for section in SECTION_CLASSES if section in {flag.section for flag in flags}]
    found: dict[str, tuple[str, str]] = {}
    for section in sections:
        for f in fields(SECTION_CLASSES[section]):
            shared = section == "gan" and "train" in sections and f.name in SHARED
            if (section, f.name) not in flagged and f.name not in names and not shared:
                found.setdefault(f.name, (section, f.name))
    return found


def settings_sections(values: dict[str, Any], flags: tuple[Flag, ...], config: str | Path | None = None) -> Sections:
    """What the user gave, as config sections: the TOML file < `values` (flags by setting_name, or config_only
    fields by name; None is not given)."""
    by_name = {setting_name(flag): (flag.section, flag.key) for flag in flags}
    file_only = config_only(flags)
    unknown = sorted(set(values) - set(by_name) - set(file_only))
    if unknown:
        raise VaeganError(
            f"unknown settings {unknown}; use the flags of `vaegan run` in snake case ({', '.join(sorted(by_name))}) "
            f"or a setting without a flag by its config key ({', '.join(sorted(file_only))})"
        )
    from_flags: Sections = {}
    for name, value in values.items():
        if value is not None:
            section, key = by_name.get(name) or file_only[name]
            from_flags.setdefault(section, {})[key] = value
    from_file: Sections = checked_sections(read_toml(config), config) if config else {}
    given = merge(from_file, from_flags)
    check_data_paths(given.get("data", {}))
    return absolute_paths(given)


def checked_sections(raw: dict[str, Any], path: str | Path) -> Sections:
    """A TOML file's sections, each a known one holding only its dataclass's fields, each value of the field's
    type (checked here, as a flag may override it before any config is built); anything else is refused by
    name, never silently ignored."""
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
        for key, value in values.items():
            if problem := type_problem(SECTION_CLASSES[name], key, value):
                raise VaeganError(f"config file {path}: {problem}")
    return raw


def check_data_paths(data: dict[str, Any]) -> None:
    """What --data-root and --cache-dir can mean, before any data is read: a root only for a named dataset
    (a folder is read where it is, so a root beside it would be ignored), a cache that is or can be a folder."""
    source, root, cache = data.get("source"), data.get("root"), data.get("cache_dir")
    if isinstance(source, str) and source not in NAMED_SOURCES and root is not None:
        raise VaeganError(
            f"--data-root {root} is where a named dataset ({', '.join(NAMED_SOURCES)}) lives, and --data {source} "
            "is a folder read where it is; drop --data-root"
        )
    if isinstance(cache, str):
        path = Path(cache).expanduser()
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            raise VaeganError(
                f"--cache-dir {cache}: {blocking} is a file, not a folder; pass a folder (it is made when missing)"
            )


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


def defaults(source: str | None, preset: str | None = None) -> Sections:
    """The layers under what the user gives: the data kind's defaults, then the named preset's."""
    if preset is not None and preset not in PRESETS:
        raise VaeganError(f"unknown preset {preset!r}; use one of {', '.join(sorted(PRESETS))}")
    return merge(dataset_defaults(source or "emoji"), PRESETS[preset] if preset else {})


def pipeline_configs(given: Sections, preset: str | None = None) -> tuple[VAERunConfig, GANConfig, Sections]:
    """`vaegan run`'s two stage configs from what the user gave (over the defaults and the preset), and the
    settings a rerun over an existing run changes: the user's own. The GAN takes the run-wide settings from
    [train]."""
    sections = merge(defaults(given.get("data", {}).get("source"), preset), given)
    vae_cfg = vae_run_config(**sections)
    shared = {key: getattr(vae_cfg.train, key) for key in SHARED}
    gan_cfg = from_dict(GANConfig, {**shared, **sections.get("gan", {})})
    given_shared = {k: v for k, v in given.get("train", {}).items() if k in SHARED}
    wanted = {**given, "gan": {**given_shared, **given.get("gan", {})}}
    return vae_cfg, gan_cfg, wanted
