"""RESULTS.md's quality-per-minute curve: what a longer budget buys, from race records at several budgets.

A two-stage record raced with --marks 2 scores its VAE at the hand-off too: that VAE trained its share of
the budget exactly as the VAE alone would (same loop, sampler and prior), so it is the VAE-alone point at
that many minutes. Likewise a VAE-alone record's earlier marks where the step trains eager: then nothing in
its training depends on the budget (no schedule runs to its end; only --compile auto weighs the planned
minutes), so its mark at 15 minutes is what a 15-minute run would score.
Two-stage points come from records of today's discriminator kind only; a section whose records raced another
R1 gamma than today's default says so.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from vaegan.config import GANConfig
from vaegan.plots import Panel, line_charts
from vaegan.presets import dataset_defaults

# The races behind the curve, per dataset, all on one machine kind (their sections name it).
CURVE_RECORDS = {
    "emoji": (
        "race-minutes3-f25",
        "race-disc-selfsup-f25",
        "race-core-emoji",
        "race-disc-conv-f25",
        "race-compile-f25",
        "race-seed1-f25",
        "race-minutes15-f25",
        "race-minutes15-seed1-f25",
        "race-minutes30-f25",
        "race-minutes30-seed1-f25",
        "race-vae-minutes6-f25",
        "race-vae-minutes6-seed1-f25",
        "race-vae-minutes30-f25",
    ),
    "fashion-mnist": (
        "race-fmnist-minutes5-f25",
        "race-fmnist-vae-minutes5-f25",
        "race-core-fmnist",
        "race-fmnist-minutes30-f25",
        "race-fmnist-vae-minutes30-f25",
    ),
}
MODELS = ("VAE alone", "VAE then GAN")


def curve_points(record: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(model, minutes, FID) of every end-of-stage score in `record` that today's pipeline would make."""
    default_d = record["gan"].get("disc_kind", "conv") == GANConfig.disc_kind
    points = []
    for variant, runs in record["curves"].items():
        if variant not in ("two-stage-auto", "vae-auto") or record.get("vae_overrides"):
            continue
        for run in runs:
            for point in run:
                if point["stage"] == "vae":
                    points.append((MODELS[0], round(point["seconds"] / 60, 1), point["fid"]))
                elif default_d and point["seconds"] >= record["minutes"] * 60 - 1:
                    points.append((MODELS[1], round(point["seconds"] / 60, 1), point["fid"]))
    return points


def curve(by_name: dict[tuple[str, str], dict[str, Any]], data: str) -> dict[str, dict[float, list[float]]]:
    """model -> minutes -> the FIDs scored there, over CURVE_RECORDS[data]."""
    found: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name in CURVE_RECORDS.get(data, ()):
        if (data, name) in by_name:
            for model, minutes, fid in curve_points(by_name[(data, name)]):
                found[model][minutes].append(fid)
    return found


def draw_curves(by_name: dict[tuple[str, str], dict[str, Any]], grids: Path) -> None:
    """Each dataset's chart, grids/<data>/quality-per-minute.png (report.py's command line redraws them)."""
    for data in CURVE_RECORDS:
        found = curve(by_name, data)
        if found:
            # every model named, so a chart of one line still says whose it is
            series = {m: (sorted(found[m]), [statistics.fmean(found[m][t]) for t in sorted(found[m])]) for m in MODELS}
            title = f"{data}: Inception FID by training budget"
            panel = Panel(title, "Inception FID", series, xlabel="training minutes")
            line_charts([panel], ncol=1, cell=(520, 300)).save(grids / data / "quality-per-minute.png")


def r1_note(by_name: dict[tuple[str, str], dict[str, Any]], data: str) -> list[str]:
    """A line naming the R1 gamma the two-stage points raced with, where it is not today's default."""
    today = dataset_defaults(data).get("gan", {}).get("r1_gamma", GANConfig.r1_gamma)
    records = [by_name[(data, n)] for n in CURVE_RECORDS[data] if (data, n) in by_name]
    raced = {r["gan"].get("r1_gamma", 1.0) for r in records if any(m == MODELS[1] for m, _, _ in curve_points(r))}
    if raced <= {today}:
        return []
    gammas = " and ".join(f"{g:g}" for g in sorted(raced))
    return [f"Two stages raced with R1 gamma {gammas}; the default is {today:g} since levers 28.", ""]


def minutes_section(by_name: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The curve's table per dataset and its chart (draw_curves), or nothing without records."""
    lines = []
    for data, names in CURVE_RECORDS.items():
        found = curve(by_name, data)
        if not found:
            continue
        minutes = sorted({t for m in found.values() for t in m})
        cells = {m: {t: f"{statistics.fmean(v):.1f} ({len(v)})" for t, v in found[m].items()} for m in MODELS}
        records = ", ".join(f"`{n}`" for n in names if (data, n) in by_name)
        lines += [
            f"### {data}",
            "",
            "| training minutes | " + " | ".join(MODELS) + " |",
            "|---|---|---|",
            *[f"| {t:g} | " + " | ".join(cells[m].get(t, "–") for m in MODELS) + " |" for t in minutes],
            "",
            f"Inception FID at the end of each budget (runs), from {records}.",
            "",
            *r1_note(by_name, data),
            f"![FID by training budget](results/{data}/quality-per-minute.png)",
            "",
        ]
    if not lines:
        return []
    return ["## What a longer budget buys", "", *lines]
