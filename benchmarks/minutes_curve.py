"""RESULTS.md's curve: quality by training budget, per model, beside issue 67's targets.

Budgets are counted in optimiser steps (benchmarks/curve.py) whose idle time adds up to N minutes on a
reference machine kind; each dataset with curve records gets a table per model and budget over seeds
(curve_section) and, where a model has several budgets, a chart of them (draw_curves).
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from vaegan.config import GANConfig
from vaegan.flow_prior import RECIPE
from vaegan.plots import Panel, line_charts
from vaegan.presets import dataset_defaults

MODELS = ("VAE alone", "VAE then GAN")
# Issue 67's targets for two stages: Inception FID at most, over that many seeds.
TARGETS: dict[tuple[str, float], tuple[int, int]] = {
    ("emoji", 6): (95, 3),
    ("emoji", 30): (75, 2),
    ("emoji", 60): (65, 1),
    ("fashion-mnist", 30): (11, 1),
}
CHART = "fid-by-budget.png"


def draw_curves(grids: Path) -> list[str]:
    """Each dataset's chart, grids/<data>/fid-by-budget.png, where a model has more than one budget; the
    datasets drawn."""
    drawn = []
    for data, records in curve_records(grids).items():
        found = curve_points_by_steps([r for r in records if r["reference"]])
        if charted(found):
            series = {m: (sorted(found[m]), [mean_fid(found[m][b]) for b in sorted(found[m])]) for m in MODELS}
            panel = Panel(f"{data}: Inception FID by step budget", "Inception FID", series, xlabel="idle minutes")
            line_charts([panel], ncol=1, cell=(520, 300)).save(grids / data / CHART)
            drawn.append(data)
    return drawn


def charted(found: dict[str, dict[float, list[dict[str, Any]]]]) -> bool:
    """Whether a chart says more than the table: some model has more than one budget."""
    return max(len(budgets) for budgets in found.values()) > 1


def mean_fid(entries: list[dict[str, Any]]) -> float:
    return statistics.fmean(e["scores"]["fid"] for e in entries)


def curve_records(grids: Path) -> dict[str, list[dict[str, Any]]]:
    """Each dataset's curve records (grids/<data>/curve-*.json), by name."""
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(grids.glob("*/curve-*.json")):
        record = json.loads(path.read_text())
        found.setdefault(record["point"]["data"], []).append(record)
    return found


def spread(values: list[float], digits: int = 1) -> str:
    """mean ± sd over seeds, or the one value."""
    if not values:
        return "–"
    sd = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.{digits}f}{sd}"


def curve_points_by_steps(records: list[dict[str, Any]]) -> dict[str, dict[float, list[dict[str, Any]]]]:
    """model -> budget (idle minutes on the reference kind) -> one entry per seed: its stage's scores, steps and
    training. A two-stage record counts for the VAE alone too, at its VAE's budget, unless a VAE-alone record
    of the same seed trained the same steps (the same run)."""
    found: dict[str, dict[float, list[dict[str, Any]]]] = {m: defaultdict(list) for m in MODELS}
    alone = {(r["point"]["seed"], r["steps"]["vae"]["steps"]) for r in records if r["point"]["variant"] == "vae"}
    for r in records:
        variant, seed, vae = r["point"]["variant"], r["point"]["seed"], r["steps"].get("vae", {})
        entry = {"record": r, "seed": seed}
        if variant == "two-stage":
            found[MODELS[1]][r["point"]["minutes"]].append(
                {**entry, "scores": r["scores"]["gan"], "minutes": r["idle_minutes"]}
            )
            if (seed, vae["steps"]) not in alone:
                found[MODELS[0]][round(vae["idle_minutes"], 1)].append(
                    {**entry, "scores": r["scores"]["vae"], "minutes": vae["idle_minutes"], "stage_only": True}
                )
        elif variant == "vae":
            found[MODELS[0]][round(r["idle_minutes"], 1)].append(
                {**entry, "scores": r["scores"]["vae"], "minutes": r["idle_minutes"]}
            )
    return found


def wall_seconds(entry: dict[str, Any]) -> float:
    """The entry's wall-clock: a two-stage run's VAE counted alone is its stage's own seconds, not the run's."""
    if entry.get("stage_only"):
        return float(entry["record"]["steps"]["vae"]["seconds"])
    return float(entry["record"]["trained"]["wall_seconds"])


def where(entries: list[dict[str, Any]], device: bool = True) -> str:
    """The entries' wall-clock, setup included (not the budget: that is the steps), after where they trained
    unless `device` is False (a table whose paragraph names the one device)."""
    devices = sorted({e["record"]["trained"]["device"] for e in entries})
    wall = statistics.fmean(wall_seconds(e) for e in entries) / 60
    at_once = max(e["record"]["trained"]["jobs_at_once"] for e in entries)
    loads = [e["record"]["trained"].get("load") for e in entries]
    if None in loads:  # "1 job at a time" would hide other work on the machine; more jobs are a floor on it
        jobs = ("" if at_once == 1 else f"{at_once} jobs at once, ") + "load unrecorded"
    else:
        jobs = f"load {statistics.fmean(loads):.1f} on {entries[0]['record']['trained']['cores']} cores"
    return (f"{', '.join(devices)}: {wall:.1f} min wall" if device else f"{wall:.1f} min") + f" ({jobs})"


def steps_cell(entries: list[dict[str, Any]], model: str) -> str:
    steps = entries[0]["record"]["steps"]
    vae = f"{steps['vae']['steps']:,}"
    return vae if model == MODELS[0] else f"{vae} + {steps['gan']['steps']:,}"


def d_steps_label(d: dict[str, Any]) -> str:
    """D's updates per G update as trained: `4`, or `4 then 1 from step 1,200` (records before it: 1)."""
    until = d.get("d_steps_until")
    return f"{d.get('d_steps', 1)}" + (f" then 1 from step {until:,}" if until else "")


STALE = "† z from an older flow recipe (levers 44); `curve.py regan` re-runs the GAN stage"


def stale(entries: list[dict[str, Any]]) -> bool:
    """Whether any entry's record drew z from a flow fitted by another recipe than today's (None: no flow; a
    record without the key predates levers 44)."""
    return any(e["record"].get("flow_recipe", "uniform t") not in (None, RECIPE) for e in entries)


def stale_peer(record: dict[str, Any]) -> bool:
    """Whether a peer's record is the GPU default's (a two-stage run on a flow) from another recipe."""
    return record["point"]["variant"] == "gpu-default" and stale([{"record": record}])


def curve_row(data: str, model: str, budget: float, entries: list[dict[str, Any]], device: bool) -> str:
    fids = [e["scores"]["fid"] for e in entries]
    target = TARGETS.get((data, budget)) if model == MODELS[1] else None
    goal = f"≤ {target[0]} ({target[1]} seed{'s' if target[1] > 1 else ''})" if target else "–"
    d = [e["record"]["discriminator"] for e in entries if model == MODELS[1] and e["record"]["discriminator"]]
    d_steps = ", ".join(sorted({d_steps_label(x) for x in d}))
    dx = (
        f"{spread([x['d_real'] for x in d], 2)} / {spread([x['d_fake'] for x in d], 2)} (d_steps {d_steps})"
        if d
        else "–"
    )
    idle = statistics.fmean(e["minutes"] for e in entries)
    cells = [
        model,
        f"{budget:g} ({idle:.2f})",
        steps_cell(entries, model),
        str(len(entries)),
        spread(fids) + (" †" if stale(entries) else ""),
        goal,
        spread([e["scores"]["kid"] for e in entries], 4),
        spread([e["scores"]["defect"] for e in entries], 2),
        spread([e["scores"]["sharpness"] for e in entries], 2),
        dx,
        where(entries, device),
    ]
    return "| " + " | ".join(cells) + " |"


def falls(means: list[tuple[float, float]]) -> list[str]:
    """The budgets whose FID is no better than the one before (empty: each point beats the one before)."""
    return [f"{b:g}" for (_, before), (b, fid) in zip(means, means[1:], strict=False) if fid >= before]


PEER_NAMES = {"gpu-default": "vaegan, the GPU default (`vaegan run --data emoji`)", "dcgan": "DCGAN peer"}


def peers_rows(records: list[dict[str, Any]]) -> list[str]:
    """Item 4's race: each model's GAN at equal training wall-clock on one device, side by side."""
    peers = [r for r in records if r["point"]["variant"] in PEER_NAMES]
    if not peers:
        return []
    lines = [
        "| model | training minutes | steps | Inception FID | KID | defect | sharpness | trained on |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in peers:
        scores = next(iter(r["scores"].values()))  # the GAN's: G's EMA, or DCGAN's G
        minutes = sum(stage["seconds"] for stage in r["steps"].values()) / 60
        steps = " + ".join(f"{stage['steps']:,}" for stage in r["steps"].values())
        cells = [PEER_NAMES[r["point"]["variant"]], f"{minutes:.1f}", steps, f"{scores['fid']:.1f}"]
        cells += [f"{scores['kid']:.4f}", f"{scores['defect']:.2f}", f"{scores['sharpness']:.2f}"]
        cells[0] += " †" if stale_peer(r) else ""
        lines.append("| " + " | ".join([*cells, where([{"record": r}])]) + " |")
    budget = peers[0]["point"]["minutes"]
    say = f"Each given {budget:g} minutes of training wall-clock on one device, beside the curve's points "
    say += "(vaegan's two stages half each: --max-minutes, --gan-max-minutes)."
    return [say, "", *lines, ""]


def other_data(records: list[dict[str, Any]], data: str) -> list[str]:
    """A line naming the records trained on other data than their point's (a dry run's emoji:faces)."""
    other = sorted({r["data_source"] for r in records if r.get("data_source", data) != data})
    return [f"Not the curve: trained on {', '.join(other)} (`curve.py train --dry-run`)."] if other else []


def curve_section(grids: Path) -> list[str]:
    """Per dataset with curve records: the table of every model and budget, and whether FID falls with budget."""
    lines, explained, noted = [], "", ""
    for data, records in curve_records(grids).items():
        by_steps = [r for r in records if r["reference"]]
        found = curve_points_by_steps(by_steps)
        if not by_steps:
            lines += [f"### {data}: the GPU default against DCGAN", "", *peers_rows(records)]
            continue
        reference = by_steps[0]["reference"]
        devices = sorted({r["trained"]["device"] for r in by_steps})
        lines += [
            f"### {data}: by step budget",
            "",
            "| model | budget (idle minutes) | steps (VAE + GAN) | seeds | Inception FID | target | KID | defect "
            "| sharpness | D(x) / D(G(z)) | " + ("wall-clock |" if len(devices) == 1 else "trained on |"),
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        notes = []
        for model in MODELS:
            budgets = sorted(found[model])
            for budget in budgets:
                lines.append(curve_row(data, model, budget, found[model][budget], len(devices) > 1))
            means = [(b, mean_fid(found[model][b])) for b in budgets]
            worse = falls(means)
            if len(means) > 1:
                notes.append(
                    f"{model}: "
                    + ("each budget beats the one before" if not worse else f"no better at {', '.join(worse)} min")
                )
        if any(stale(entries) for budgets in found.values() for entries in budgets.values()) or any(
            stale_peer(r) for r in records
        ):
            notes.append(f"† as for {noted}" if noted else STALE)
            noted = noted or data
        counts = sorted({(r["samples"], r["real"]["count"]) for r in by_steps})
        scored = "Inception FID of " + " and ".join(f"{s:,} samples vs {n:,} real" for s, n in counts)
        records_at = f"docs/results/{data}/curve-*.json"
        if explained:  # the first table's paragraph says what every table's columns mean
            about = f"Budgets and rows as for {explained}{cheaper_gan_steps(data)}; {scored}; records {records_at}."
        else:
            explained = data
            about = (
                f"Budgets are optimiser steps whose idle time adds up to the minutes on `{reference['record']}` "
                f"({reference['kind']}), by its throughput record{cheaper_gan_steps(data)}; mean ± sd over seeds, "
                f"{scored}. VAE-alone rows include the VAE stage of two-stage runs at its own budget. "
                f"Each record ({records_at}) holds its train and score commands."
            )
        if len(devices) == 1:
            about += f" Trained on {devices[0]}."
        lines += [
            "",
            about,
            "",
            *(f"- {note}" for note in notes),
            *(f"- {dry}" for dry in other_data(records, data)),
            "",
            *([f"![FID by step budget](results/{data}/{CHART})", ""] if charted(found) else []),
        ]
        peers = peers_rows(records)
        if peers:
            lines += [f"### {data}: the GPU default against DCGAN", "", *peers]
    if not lines:
        return []
    return ["## Quality by step budget (issue 67)", "", *lines]


def cheaper_gan_steps(data: str) -> str:
    """Where `data` trains D more often than G: its GAN steps cost less than the record's, which times D and G."""
    d_steps = GANConfig(**dataset_defaults(data).get("gan", {})).d_steps
    if d_steps == 1:
        return ""
    return f", whose GAN step moves D and G (one that moves {data}'s D alone costs less)"
