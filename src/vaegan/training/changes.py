"""What `--resume` may change in a run: the settings that leave the model and its data as they were.

A resumed run may be extended (more epochs), given other learning rates, KL weight, quality or checkpoint
cadence, or another device or precision. Its model shape, its data, its batch size and seeds (which fix
the order of the data and the noise) cannot change: a run is resumed exactly, or not at all.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

from vaegan.errors import VaeganError

Sections = dict[str, dict[str, Any]]  # config section -> field -> value, as flags and TOML give them
Changes = dict[str, list[Any]]  # "section.field" -> [old, new]

RUN_WIDE = {
    "epochs",
    "max_minutes",
    "checkpoint_every",
    "grid_every",
    "quality_every",
    "quality_samples",
    "device",
    "precision",
    "memory_format",
}
MUTABLE: dict[str, set[str]] = {
    "train": RUN_WIDE | {"lr", "lr_warmup_steps", "compile"},
    "loss": {"beta"},
    "gan": RUN_WIDE | {"lr_g", "lr_d", "collapse_fraction"},
}

ConfigT = TypeVar("ConfigT")


def apply_changes(config: ConfigT, wanted: Sections) -> tuple[ConfigT, Changes]:
    """`config` with the `wanted` values that differ from it; values equal to the run's are no change.

    Any other difference is refused in one error that names every such setting.
    """
    changes: Changes = {}
    refused: list[str] = []
    updates: dict[str, Any] = {}
    for section, values in wanted.items():
        current = getattr(config, section, None)
        if not is_dataclass(current):
            refused += [f"{section}.{key}" for key in values]
            continue
        known = {f.name for f in fields(current)}
        new = {}
        for key, value in values.items():
            old = getattr(current, key) if key in known else None
            if key in known and value == old:
                continue
            if key in MUTABLE.get(section, set()):
                new[key] = value
                changes[f"{section}.{key}"] = [old, value]
            else:
                refused.append(f"{section}.{key} ({old!r} -> {value!r})" if key in known else f"{section}.{key}")
        if new:
            updates[section] = replace(current, **new)  # type: ignore[type-var]  # validated on the way
    if refused:
        raise VaeganError(
            f"--resume cannot change {', '.join(refused)}: a run keeps its model, data, batch size and seeds; "
            "drop those settings, or start a new run with another --out"
        )
    return (replace(config, **updates) if updates else config), changes  # type: ignore[type-var]
