"""RESULTS.md's table of the GAN's discriminator kinds (--disc-kind), raced at equal wall-clock by quality.py.

Each row is a record's two-stage run at its end; a record raced with --marks 2 also scored the VAE at the
hand-off, the model its GAN started from, listed before the GAN rows.
"""

from __future__ import annotations

import statistics
from typing import Any

# The races behind the table, per dataset: one record per discriminator kind, on one machine kind.
DISC_KIND_RECORDS = {"emoji": ("race-disc-conv-f25", "race-disc-projected-f25", "race-disc-selfsup-f25")}
VARIANT = "two-stage-auto"


def mean(points: list[dict[str, Any]], key: str, digits: str) -> str:
    values = [p[key] for p in points if key in p]
    return f"{statistics.fmean(values):{digits}}" if len(values) == len(points) else "–"


def row(data: str, model: str, points: list[dict[str, Any]], steps: str, name: str) -> str:
    cells = [mean(points, "fid", ".1f"), mean(points, "kid", ".4f"), mean(points, "defect", ".2f")]
    cells += [mean(points, "artifact", ".2f"), mean(points, "psnr", ".1f")]
    return f"| {data} | {model} | " + " | ".join(cells) + f" | {steps} | {len(points)} | `{name}` |"


def disc_kind_section(by_name: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The table, or nothing when none of its records is here."""
    handoffs, rows = [], []  # the VAEs first: what each GAN started from
    for data, names in DISC_KIND_RECORDS.items():
        for name in names:
            record = by_name.get((data, name))
            if record is None or VARIANT not in record["curves"]:
                continue
            runs, kind = record["curves"][VARIANT], record["gan"]["disc_kind"]
            handoff = [p for run in runs for p in run if p["stage"] == "vae"]
            if len(handoff) == len(runs):  # one VAE point per seed: the hand-off mark
                at = f"the VAE at the hand-off ({record['minutes'] * record['vae_share']:g} min)"
                handoffs.append(row(data, at, handoff, "–", name))
            stages = [stage for run in record["stages"][VARIANT] for stage in run if stage["stage"] == "gan"]
            steps = f"{statistics.fmean(stage['steps'] for stage in stages):.0f}"
            rows.append(row(data, f"VAE then GAN, D `{kind}`", [run[-1] for run in runs], steps, name))
    if not rows:
        return []
    rows = handoffs + rows
    return [
        "## The GAN's discriminator kinds",
        "",
        "`--disc-kind` at equal wall-clock, end of the budget (`selfsup` lost and has left vaegan: the lever "
        "ablation's table). Defect and artifact: generated over real, about 1 is clean. PSNR: held-out images "
        "through the VAE's decoder or G.",
        "",
        "| data | model | FID | KID | defect | artifact | PSNR (dB) | GAN steps | seeds | record |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
    ]
