"""The flags of the training commands: vaegan.settings' named settings as argparse options, each help text
with the real default appended, read from the config dataclasses and the dataset presets so the two cannot
drift apart.
"""

from __future__ import annotations

import argparse
from dataclasses import MISSING, fields
from typing import Any

from vaegan.presets import GREY_28, PRESETS, RGB_64, Sections, merge
from vaegan.settings import (
    GAN_FLAGS,
    GAN_RUNTIME_FLAGS,
    SECTION_CLASSES,
    VAE_FLAGS,
    Flag,
    config_only,
    defaults,
    setting_name,
    settings_sections,
)


def field_default(section: str, key: str) -> Any:
    for f in fields(SECTION_CLASSES[section]):
        if f.name == key:
            return f.default if f.default is not MISSING else None
    raise KeyError(f"{section}.{key} is no config field")


def shown(value: Any, unset: str | None = None) -> str:
    """A default as help text: 1e-03 as 0.001, True as on, None as what it means, an empty policy as off."""
    if value is None:
        return unset or "none"
    if value == "":
        return "off"
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
    return merge(defaults(given.get("data", {}).get("source") or source, getattr(args, "preset", None)), given)


def given_sections(args: argparse.Namespace, flags: tuple[Flag, ...]) -> Sections:
    """What the user gave, without the defaults or the preset: --config file < flags (what --resume applies)."""
    values = {setting_name(flag): getattr(args, setting_name(flag)) for flag in flags}
    return settings_sections(values, flags, getattr(args, "config", None))


def config_hint(message: str) -> str:
    """For argparse's "unrecognized arguments" naming a setting without a flag (--grid-every, --kl-warmup):
    where it is set instead."""
    if not message.startswith("unrecognized arguments"):
        return ""
    keys = config_only(VAE_FLAGS + GAN_FLAGS) | config_only(GAN_FLAGS + GAN_RUNTIME_FLAGS)
    names = [token[2:].split("=")[0].replace("-", "_") for token in message.split() if token.startswith("--")]
    found = [key for name in names for key in (name, f"{name}_steps") if key in keys]
    return (
        f"; no flag sets {', '.join(found)}: use a --config file (configs/emoji.toml lists such keys)" if found else ""
    )
