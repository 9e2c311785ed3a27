"""Good defaults per dataset, layered under a config file and the command-line flags.

Order of precedence, lowest first: the dataclass defaults, the dataset's defaults here, a named preset,
the TOML file given with --config, then the flags.
"""

from __future__ import annotations

from typing import Any

Sections = dict[str, dict[str, Any]]

GREY_28: Sections = {
    "data": {"image_size": 28, "channels": 1},
    "loss": {"reconstruction": "bce"},
    "model": {"latent_dim": 32, "base_channels": 32},
    "train": {"batch_size": 128, "epochs": 10, "lr": 1e-3},
    "gan": {"batch_size": 128, "epochs": 5},
}
RGB_64: Sections = {
    "data": {"image_size": 64, "channels": 3},
    "loss": {"reconstruction": "mse_sum", "kl_warmup_steps": 500},
    "model": {"latent_dim": 64, "base_channels": 32},
    "train": {"batch_size": 64, "epochs": 30, "lr": 1e-3},
    "gan": {"batch_size": 64, "epochs": 20},
}

# Named presets that change how long a run takes, not what it trains.
PRESETS: dict[str, Sections] = {
    "quick": {
        "train": {"epochs": 12},
        "gan": {"epochs": 6},
    },  # the README's first command: the whole pipeline in minutes
    "full": {},
}


def dataset_defaults(source: str) -> Sections:
    """The defaults for a --data value: 28x28 grey with BCE for IDX digits, 64x64 RGB otherwise."""
    return GREY_28 if source in ("fashion-mnist", "mnist") else RGB_64


def merge(*layers: Sections) -> Sections:
    """Section-wise merge, later layers winning key by key."""
    merged: Sections = {}
    for layer in layers:
        for section, values in layer.items():
            merged.setdefault(section, {}).update(values)
    return merged
