"""docs/RESULTS.md and docs/PERFORMANCE.md, generated from the records under docs/results/.

    python benchmarks/report.py                  # both docs from the committed records
    python benchmarks/report.py --results        # RESULTS.md, its charts, README's table (curve.py score too)
    python benchmarks/report.py --performance    # docs/PERFORMANCE.md only

RESULTS.md: the step-budget curve (minutes_curve.py; each row says its settings), the wall-clock races of the peers
and of vaegan's earlier defaults (the race records named in CURRENT; benchmarks/quality.py, in git history,
made them), the published Fashion-MNIST figures, and per record the command that made it. PERFORMANCE.md:
one throughput table per machine kind (the records that `benchmarks/throughput.py --record NAME` writes to
docs/results/performance/) and what --precision auto and --memory-format auto decide on each. Neither doc
is edited by hand: a test regenerates both and compares them with the committed files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shlex
import statistics
from pathlib import Path
from typing import Any

import torch
from minutes_curve import MODELS, curve_points_by_steps, curve_records, curve_section, draw_curves, spread, stale

from vaegan.config import DataConfig
from vaegan.cpu import cpu_model
from vaegan.metrics.inception_fid import protocol_samples

LABELS = ("--title", "--note")  # flags that only name a record
LAST_LOSSES = 50  # steps a race's stage averaged its closing loss over (race.py's StageLog, in git history)
DATASETS = ("fashion-mnist", "mnist", "emoji")  # report order
VARIANTS = {
    "two-stage": "vaegan: VAE, then GAN warm-started from its decoder (z from the fitted prior, pixel anchor, R1)",
    "scratch-gan": "vaegan's GAN from scratch, z ~ N(0, I), no anchor (the VAE's time plus the GAN's)",
    "vae": "vaegan's VAE alone, sampled through the fitted prior",
    "dcgan": "DCGAN peer (pytorch/examples architecture, width 32)",
    "two-stage-auto": "vaegan: VAE then GAN as above, at --precision/--memory-format auto",
    "vae-auto": "vaegan's VAE alone as above, at --precision/--memory-format auto",
    "scratch-gan-auto": "vaegan's GAN from scratch as above, at --precision/--memory-format auto",
    "two-stage-auto+rank2": "the same GAN's samples drawn twice over, the half its D rates most real kept (--rank 2)",
}
SHORT_NAMES = {
    "two-stage": "vaegan VAE then GAN",
    "scratch-gan": "GAN from scratch",
    "vae": "VAE alone",
    "dcgan": "DCGAN",
    "two-stage-auto": "vaegan VAE then GAN, auto precision",
    "vae-auto": "VAE alone, auto precision",
    "scratch-gan-auto": "GAN from scratch, auto precision",
    "two-stage-auto+rank2": "the same GAN ranked by its D",
}
# Fashion-MNIST, Inception FID, 10k generated vs the 10k test images (the protocol of docs/FID.md).
LUCIC = "Lucic et al. 2018, *Are GANs Created Equal?*, NeurIPS (arXiv:1711.10337): best FID after a large search"
DAI_WIPF = "Dai & Wipf 2019, *Diagnosing and Enhancing VAE Models*, ICLR (arXiv:1903.05789), Table 1"
PUBLISHED = (
    ("WGAN", "21.5 ± 1.6", LUCIC),
    ("NS GAN", "26.5 ± 1.6", LUCIC),
    ("MM GAN", "29.6 ± 1.6", LUCIC),
    ("LSGAN", "30.7 ± 2.2", LUCIC),
    ("2-Stage VAE", "29.3 ± 1.0", DAI_WIPF),
    ("VAE, cross-entropy decoder", "43.6 ± 0.7", DAI_WIPF),
    ("VAE, fixed decoder variance", "84.6 ± 0.9", DAI_WIPF),
)
# Each dataset's wall-clock races shown (the peers' only records), newest first. A variant is taken
# from the first record that has it, so a newer record with more seeds hides an older one's row. A record
# that no longer shows a row leaves this list and the tree (git keeps it; CHANGELOG.md names it).
CURRENT = {
    "fashion-mnist": ("race-z64-fmnist3", "race-z64-fmnist-vae3", "race-dcgan-fmnist3", "race-scratch-fmnist-f26"),
    "emoji": ("race-r1-gamma50-f25", "race-msssim-f26", "race-protocol-f26", "race-protocol-scratch-f26"),
}
GRIDS = Path("docs/results")
PERFORMANCE_RECORDS = GRIDS / "performance"
RULE_LINE = "rule's pick, "  # throughput.py's line per step: the rule's pick against the best eager row


def machine() -> str:
    nproc = len(os.sched_getaffinity(0))  # the machine's cores: `nproc` would answer OMP_NUM_THREADS
    threads, python = torch.get_num_threads(), platform.python_version()
    load = os.getloadavg()[0]  # wall-clock races are only fair on an otherwise idle machine
    return (
        f"{nproc} cores ({cpu_model()}), torch {torch.__version__}, {threads} torch thread(s), Python {python}, "
        f"load average {load:.1f} at the start"
    )


def cell(values: list[float]) -> str:
    if not values or any(math.isnan(v) for v in values):
        return "–"
    spread = f" ± {statistics.stdev(values):.2g}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.4g}{spread}"


def counts(record: dict[str, Any]) -> str:
    """The samples cell of a row: generated vs real images."""
    return f"{record['samples']} vs {record['real']['count']}"


def unreliable(points: list[dict[str, Any]]) -> str:
    """The note an FID cell gets when it was scored against fewer than 1,000 real images."""
    return "" if all(p["reliable"] for p in points) else " (unreliable: fewer than 1,000 real images)"


def standings(records: list[dict[str, Any]]) -> dict[str, dict[str, tuple[dict[str, Any], str, list[dict]]]]:
    """Per dataset, per model: (its current record, the variant's name there, each seed's last point). A
    model is taken from the first record in CURRENT that has it; an auto row and an fp32 row are one model."""
    by_name = {(r["data"], r.get("record", "race")): r for r in records}
    found: dict[str, dict[str, tuple[dict[str, Any], str, list[dict]]]] = {}
    for data, names in CURRENT.items():
        for record in (by_name[(data, n)] for n in names if (data, n) in by_name):
            for variant, runs in record["curves"].items():
                models = found.setdefault(data, {})
                models.setdefault(variant.removesuffix("-auto"), (record, variant, [run[-1] for run in runs]))
    return found


# The README's one results table: our rows beside the published ones a user compares with.
README_MODELS = {"two-stage": "vaegan: VAE, then GAN", "vae": "vaegan: VAE alone", "dcgan": "DCGAN peer"}
README_PUBLISHED = {"fashion-mnist": ("WGAN", "2-Stage VAE")}
README_LEAD = (
    "Inception FID by the papers' protocol ([docs/FID.md](docs/FID.md)), mean ± sd over seeds; ours after the\n"
    "steps 2 idle EPYC cores train in the budget, DCGAN after its wall-clock ([docs/RESULTS.md](docs/RESULTS.md))."
)
README_STALE = "\n†: z from an older flow prior."
README_MARKERS = (
    "<!-- results: generated by benchmarks/report.py from docs/results; do not edit by hand -->",
    "<!-- /results -->",
)


def curve_cells(grids: Path) -> dict[str, dict[str, tuple[str, str]]]:
    """Per dataset and model ("two-stage", "vae"): the step-budget curve's FIDs and budgets, one cell each
    ("92.0 ± 1.8 / 72.9 ± 1.9", "6 / 30 min"), where curve records exist (RESULTS.md's curve table says which
    settings each point trained with)."""
    found: dict[str, dict[str, tuple[str, str]]] = {}
    for data, records in curve_records(grids).items():
        points = curve_points_by_steps([r for r in records if r["reference"]])
        for model, entries in zip(("vae", "two-stage"), (points[m] for m in MODELS), strict=True):
            if entries:
                budgets = sorted(entries)
                fids = " / ".join(
                    spread([e["scores"]["fid"] for e in entries[b]]) + (" †" if stale(entries[b]) else "")
                    for b in budgets
                )
                found.setdefault(data, {})[model] = (fids, " / ".join(f"{b:g}" for b in budgets) + " min")
    return found


def readme_table(records: list[dict[str, Any]], grids: Path) -> list[str]:
    """The README's results table: vaegan's rows from the step-budget curve where it has records (else from
    the races, as RESULTS.md's "Wall-clock races"), the peers from the races."""
    curves = curve_cells(grids)
    marked = any("†" in fids for models in curves.values() for fids, _ in models.values())
    rows = [README_LEAD + (README_STALE if marked else ""), "", "| data | model | FID | budget |", "|---|---|---|---|"]
    for data, models in standings(records).items():
        for model, label in README_MODELS.items():
            if model in curves.get(data, {}):  # vaegan's own rows; DCGAN has no curve record
                fids, budgets = curves[data][model]
                rows.append(f"| {data} | {label} | {fids} | {budgets} |")
            elif model in models:
                record, _, last = models[model]
                rows.append(f"| {data} | {label} | {cell([p['fid'] for p in last])} | {record['minutes']:g} min |")
        for name, fid, source in PUBLISHED:
            if name in README_PUBLISHED.get(data, ()):
                rows.append(f"| {data} | {name}, {source.split(',')[0]} (published) | {fid} | converged |")
    return rows


def write_readme_table(grids: Path, readme: Path) -> None:
    """Replace the table between README_MARKERS in `readme` with readme_table's."""
    text = readme.read_text()
    start, end = (text.index(marker) for marker in README_MARKERS)
    table = "\n".join(readme_table(race_records(grids), grids))
    readme.write_text(text[: start + len(README_MARKERS[0])] + "\n" + table + "\n" + text[end:])


def current_rows(records: list[dict[str, Any]]) -> list[str]:
    """RESULTS.md's "Wall-clock races": per dataset, each race's end FIDs (the peers', and vaegan's at the
    defaults of their day), each naming its record, and the two stages' ratio to every other row (records may
    differ: the ratio names both)."""
    rows, summary = [], []
    for data, models in standings(records).items():
        shown: dict[str, tuple[float, str, str]] = {}  # model -> (mean end FID, record, its sample counts)
        for model, (record, variant, last) in models.items():
            name = record.get("record", "race")
            protocol = "papers' protocol" if follows_protocol(record) else "reduced run"
            shown[model] = (statistics.fmean(p["fid"] for p in last), name, counts(record))
            fid = cell([p["fid"] for p in last]) + unreliable(last)
            rows.append(
                f"| {data} | {SHORT_NAMES.get(variant, variant)} | {fid} | "
                f"{cell([p['kid'] for p in last])} | {counts(record)} ({protocol}) | "
                f"{record['minutes']:g} min, {len(last)} seed(s) | `{name}` |"
            )
        if "two-stage" in shown:
            ours, ours_record, ours_counts = shown["two-stage"]
            others = {model: row for model, row in shown.items() if model != "two-stage"}
            # FID is biased by the sample count, so a ratio across counts would measure the counts too
            each = [
                f"{ours / fid:.2f}x {SHORT_NAMES.get(model, model)}"
                + ("" if record == ours_record else f" (`{record}`)")
                for model, (fid, record, n) in others.items()
                if n == ours_counts
            ]
            apart = [SHORT_NAMES.get(model, model) for model, (_, _, n) in others.items() if n != ours_counts]
            named = any(record != ours_record for _, record, n in others.values() if n == ours_counts)
            ours_named = f" (`{ours_record}`)" if named else ""  # a record named once, where others are named
            parts = [f"two stages' FID{ours_named} over: " + ", ".join(each) + "."] if each else []
            parts += ["Not compared, scored at other sample counts: " + ", ".join(apart) + "."] if apart else []
            if parts:
                summary.append(f"- {data}: " + " ".join(parts))
    if not rows:
        return []
    return [
        "## Wall-clock races",
        "",
        "The peers' records, beside vaegan's at the defaults of their day (before the flow prior and the GAN "
        "recipe of issue 67; today's are the curve above), at equal wall-clock, mean ± sd over seeds; "
        "[How each row was made](#how-each-row-was-made) gives each record's command. Only papers'-protocol rows "
        "compare with the published figures.",
        "",
        "| data | model | FID at the end | KID at the end | samples (generated vs real) | budget | record |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *summary,
        *([""] if summary else []),
    ]


def published_rows() -> list[str]:
    """The published Fashion-MNIST Inception FIDs (10,000 generated against the 10,000 test images)."""
    sources = list(dict.fromkeys(source for _, _, source in PUBLISHED))
    return [
        "## Published Fashion-MNIST figures",
        "",
        "Converged models after long training, 10,000 generated against the 10,000 test images (the protocol "
        "of [FID.md](FID.md)); ours are short CPU budgets, stated per row above.",
        "",
        "| model | FID | source |",
        "|---|---|---|",
        *[f"| {name} (published) | {fid} | [{sources.index(src) + 1}] |" for name, fid, src in PUBLISHED],
        "",
        *[f"[{i}] {source}.  " for i, source in enumerate(sources, 1)],
        "",
    ]


def ratios(record: dict[str, Any]) -> list[str]:
    """Each two-stage variant's end FID over each other variant's (issue 12's targets are such ratios)."""
    end = {name: statistics.fmean(run[-1]["fid"] for run in runs) for name, runs in record["curves"].items()}
    lines = []
    for ours, lead in (("two-stage", "The"), ("two-stage-auto", "At auto precision, the")):
        if ours not in end:
            continue
        others = [f"{end[ours] / fid:.2f}x {SHORT_NAMES.get(n, n)}" for n, fid in end.items() if n != ours]
        if others:
            lines += ["", f"{lead} two-stage pipeline's FID at the end, over the others': " + ", ".join(others) + "."]
    return lines


def defects(record: dict[str, Any]) -> list[str]:
    """Each variant's defect score at the end, where every run of it has one (older records have none)."""
    end = {
        SHORT_NAMES.get(name, name): [run[-1]["defect"] for run in runs]
        for name, runs in record["curves"].items()
        if all("defect" in run[-1] for run in runs)
    }
    if not end:
        return []
    each = ", ".join(f"{name} {cell(values)}" for name, values in end.items())
    return ["", f"Defect score at the end (holes, specks and blocks over real, about 1 without them): {each}."]


def minutes_to(fid: float, points: list[dict[str, Any]]) -> float:
    """Training minutes at which a run's FID curve first reaches `fid`, linear between marks (nan if never)."""
    before = (0.0, math.inf)
    for p in points:
        if p["fid"] <= fid:
            (t0, f0), t1 = before, p["seconds"]
            share = 1.0 if math.isinf(f0) else (f0 - fid) / (f0 - p["fid"])
            return (t0 + share * (t1 - t0)) / 60
        before = (p["seconds"], p["fid"])
    return math.nan


def has_curve(record: dict[str, Any]) -> bool:
    """More than one FID mark per run: a single end point (--marks 1) has no curve worth a chart."""
    return len(next(iter(record["curves"].values()))[0]) > 1


def protocol_count(data: str) -> int:
    return protocol_samples(DataConfig(source=data))


def follows_protocol(record: dict[str, Any]) -> bool:
    """Scored with the protocol's sample count against the whole real set (docs/FID.md): the papers' FID."""
    return record["samples"] >= protocol_count(record["data"]) and not record["real"]["name"].startswith("first")


def reduced_note(record: dict[str, Any]) -> list[str]:
    """A warning line when the run scored fewer images than the protocol: its FIDs are not the papers'."""
    if follows_protocol(record):
        return []
    protocol = protocol_count(record["data"])
    return [
        f"**Reduced run**: {record['samples']} generated against {record['real']['count']} real images instead of "
        f"the protocol's {protocol:,} against the whole real set. FID is biased upwards at small counts, so these "
        "figures rank the variants of this run only and are **not** comparable with the published rows.",
        "",
    ]


def real_set(name: str) -> str:
    return name if name.startswith("all ") else f"the {name}"


def span(values: list[float], fmt: str) -> str:
    """'1,144' for one value or equal ones, '1,144-1,182' for a range over seeds."""
    low, high = format(min(values), fmt), format(max(values), fmt)
    return low if low == high else f"{low}-{high}"


def steps(logs: list[list[dict[str, Any]]]) -> str:
    """A variant's stages over its seeds as 'vae 2,345 steps, closing loss 1,301; gan ...' (the race's stage
    log), ranges where the seeds differ; n/a where a stage took no step (the clock ran out)."""
    parts = []
    for stage in dict.fromkeys(e["stage"] for log in logs for e in log):
        entries = [e for log in logs for e in log if e["stage"] == stage]
        losses = [e["closing_loss"] for e in entries if e["closing_loss"] is not None]
        closing = span(losses, ",.4g") if len(losses) == len(entries) else "n/a"
        parts.append(f"{stage} {span([e['steps'] for e in entries], ',')} steps, closing loss {closing}")
    return "; ".join(parts)


def stage_lines(record: dict[str, Any]) -> list[str]:
    """Each variant's steps and closing loss per stage over its seeds, so a stage that never trained shows
    (records since round 17 carry them)."""
    first, lines = record.get("first_seed", 0), []
    for name, runs in record.get("stages", {}).items():
        logged = [(first + i, log) for i, log in enumerate(runs) if log is not None]  # merged: older runs lack logs
        if logged:
            seeds = ("seed " if len(logged) == 1 else "seeds ") + ", ".join(str(seed) for seed, _ in logged)
            lines.append(f"- {SHORT_NAMES.get(name, name)}, {seeds}: {steps([log for _, log in logged])}")
    return lines


def source_commands(record: dict[str, Any], by_name: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """For a record merged from others (merge_races.py): the command of each source record kept in the tree."""
    sources = [by_name.get((record["data"], name)) for name in record.get("merged_from", [])]
    return [f"- `{s['record']}`: `{rerun(s['command'])}`" for s in sources if s is not None]


def rerun(command: str) -> str:
    """A record's command without its --title and --note, which name the record but change no number."""
    words = shlex.split(command)
    kept = [w for i, w in enumerate(words) if w not in LABELS and (i == 0 or words[i - 1] not in LABELS)]
    return shlex.join(kept)


def section(
    record: dict[str, Any], by_name: dict[tuple[str, str], dict[str, Any]] | None = None, grids: Path = GRIDS
) -> list[str]:
    """How one record was made: its command, machine and budget, the steps each run trained, its samples
    where its picture is kept under `grids`."""
    size = f"{record['image_size']}x{record['image_size']}, {record['channels']} channel(s)"
    prefix, data = record.get("record", "race"), record["data"]
    sources = source_commands(record, by_name or {})
    lines = [
        f"### `{prefix}` ({data}, {size})",
        "",
        f"`{rerun(record['command'])}` on {record['machine']}: {record['total_minutes']:.0f} min in all, "
        f"{record['minutes']:g} min per variant ({record['vae_share']:.0%} VAE), batches {record['batch']}, "
        f"{record['seeds']} seed(s), {record['samples']} generated against {real_set(record['real']['name'])} "
        f"({record['real']['count']}).",
        "",
        *(["Seeds raced by:", "", *sources, ""] if sources else []),
        *([f"Note: {record['notes']}", ""] if record.get("notes") and not sources else []),
        *reduced_note(record),
    ]
    lines += [*ratios(record), *defects(record)][1:]  # each opens with a blank line; the section has one
    if stage_lines(record):
        closing = f"closing loss: the mean over a stage's last {LAST_LOSSES} steps"
        lines += ["", f"Steps trained per stage ({closing}):", "", *stage_lines(record)]
    if has_curve(record):
        lines += ["", f"![FID against training time](results/{data}/{prefix}-time-to-fid.png)"]
    if (grids / data / f"{prefix}-side-by-side.png").is_file():
        seed = record["first_seed"]
        lines += ["", f"![Samples at the end of the budget, seed {seed}](results/{data}/{prefix}-side-by-side.png)"]
    return [*lines, ""]


def read_records(grids: Path, name: str) -> list[dict[str, Any]]:
    """Every dataset's <grids>/<data>/<name> that exists, in report order: each dataset reruns on its own."""
    return [json.loads((grids / d / name).read_text()) for d in DATASETS if (grids / d / name).is_file()]


def race_records(grids: Path) -> list[dict[str, Any]]:
    """Every race in report order: per dataset the main race (race.json), then its other records
    (race-*.json, say a subset of the variants at another setting)."""
    paths = [p for d in DATASETS for p in [grids / d / "race.json", *sorted((grids / d).glob("race-*.json"))]]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


# benchmarks/own_features.py: its GAN variants, each warm-started from the VAE (-vae) or from scratch.
OWN_FEATURE_GANS = ("gan-nonsaturating-vae", "gan-minimax-vae", "gan-nonsaturating-scratch", "gan-minimax-scratch")


def seeds_won(wins: list[bool]) -> str:
    return f"{sum(wins)}/{len(wins)}"


def own_feature_verdict(data: str, results: dict[str, list[dict[str, Any]]]) -> str:
    """Did each warm start beat its VAE and the same GAN from scratch, seed for seed; did any GAN collapse."""
    vae = results["vae-mse_sum"]
    parts = []
    for loss in ("nonsaturating", "minimax"):
        warm, scratch = results[f"gan-{loss}-vae"], results[f"gan-{loss}-scratch"]
        beat_vae = [w["fid"] < v["fid"] for w, v in zip(warm, vae, strict=True)]
        beat_scratch = [w["fid"] < s["fid"] for w, s in zip(warm, scratch, strict=True)]
        parts.append(f"{loss} {seeds_won(beat_vae)} and {seeds_won(beat_scratch)}")
    flagged = {name: sum(r["collapsed"] for r in results[name]) for name in OWN_FEATURE_GANS}
    detail = ", ".join(f"{name} {count}" for name, count in flagged.items() if count) or "none"
    runs = sum(len(results[name]) for name in OWN_FEATURE_GANS)
    return (
        f"- {data}: seeds in which the warm start beat its VAE and the same GAN from scratch: "
        + ", ".join(parts)
        + f"; {sum(flagged.values())} of {runs} GAN runs fell below the collapse warning's threshold ({detail})."
    )


def own_feature_section(grids: Path) -> list[str]:
    """Every model and loss of benchmarks/own_features.py in vaegan's own feature space, one column per
    dataset (its results.json)."""
    records = read_records(grids, "results.json")
    if not records:
        return []
    variants = list(dict.fromkeys(name for r in records for name in r["results"]))

    def value(record: dict[str, Any], name: str, key: str) -> str:
        runs = record["results"].get(name, [])
        return cell([run[key] for run in runs]) if runs and all(run.get(key) is not None for run in runs) else "–"

    rows = [
        f"| {name} | " + " | ".join(value(r, name, key) for r in records for key in ("fid", "psnr")) + " |"
        for name in variants
    ]
    return [
        "## In vaegan's own feature space",
        "",
        "Every model and loss vaegan trains, at fixed optimiser steps, in the feature space of a classifier "
        "vaegan trains on each dataset (the FID of training logs; not comparable with Inception's, "
        "[FID.md](FID.md)). These records predate today's defaults (a transposed-conv decoder, z ~ N(0, I)): "
        "they rank losses and warm start against scratch. PSNR of reconstructions in dB. Made by "
        "`python benchmarks/own_features.py --data DATA`; docs/results/<data>/results.json holds every metric, "
        "the machine and the counts.",
        "",
        "| variant | " + " | ".join(f"{r['data']} FID | {r['data']} PSNR" for r in records) + " |",
        "|---|" + "---|---|" * len(records),
        *rows,
        "",
        *[own_feature_verdict(r["data"], r["results"]) for r in records],
        "",
    ]


def write_report(grids: Path, out: Path) -> None:
    """docs/RESULTS.md from the curve records, the races named in CURRENT and the published figures."""
    records = race_records(grids)
    by_name = {(r["data"], r.get("record", "race")): r for r in records}
    current = [by_name[(d, name)] for d, names in CURRENT.items() for name in names if (d, name) in by_name]
    lines = [
        "# Results: sample quality by training budget",
        "",
        "Generated by `python benchmarks/report.py` from docs/results/<data>/: the step-budget curve's records "
        "(`benchmarks/curve.py`) and the retired wall-clock races' (git history's `benchmarks/quality.py`), "
        "scored by [FID.md](FID.md)'s protocol. Defaults: [the lever ablation](results/levers/README.md).",
        "",
        *curve_section(grids),
        *current_rows(current),
        *published_rows(),
        "## How each row was made",
        "",
        "Rerun a record's command from the repository root, then `make report`.",
        "",
    ]
    for record in current:
        lines += section(record, by_name, grids)
    write_doc(out, lines + own_feature_section(grids))


def write_results(grids: Path, out: Path) -> list[str]:
    """RESULTS.md at `out`, the curve's charts (the datasets drawn) and, where the README sits beside `out`'s
    folder (docs/), its results table: all that the records make, so a new record changes every place."""
    write_report(grids, out)
    readme = out.parent.parent / "README.md"
    if readme.is_file():
        write_readme_table(grids, readme)
    return draw_curves(grids)


def write_doc(out: Path, lines: list[str]) -> None:
    """The lines as a Markdown file, one blank line between blocks, ending in a newline."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n")


def percent(fraction: float | None) -> str:
    """A share of a matmul peak as the benchmark prints it: whole percents, a decimal under 10%."""
    if fraction is None:
        return "n/a"
    return f"{fraction:.0%}" if fraction >= 0.1 else f"{fraction:.1%}"


def performance_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]


def verdicts(record: dict[str, Any]) -> dict[str, str]:
    """'emoji shipped VAE' -> what auto picked for that step in the run: the rule's pick and how far it ran
    from the best eager row (its "rule's pick, " lines), or in older records the run-time probe's verdict."""
    found = {}
    for line in record["before"] + record["after"]:
        if line.startswith("auto probe, "):
            step, verdict = line.removeprefix("auto probe, ").split(": ", 1)
            found[step.split(" on ")[0]] = short_verdict(verdict.rsplit(" (probe took", 1)[0])
        elif line.startswith(RULE_LINE):
            step, verdict = line.removeprefix(RULE_LINE).split(": ", 1)
            found[step] = short_verdict(re.sub(r" \(.*?\)| eager row", "", verdict))
    return found


def short_verdict(note: str) -> str:
    """'bf16 autocast: 1.47x faster here than fp32, contiguous layout' -> 'bf16 (1.47x), contiguous';
    'bf16 autocast, channels_last, the best' -> 'bf16, channels_last, the best', the precision in bold."""
    note = re.sub(r"^bf16 autocast: ([\d.]+x) faster here than fp32", r"**bf16** (\1)", note)
    note = re.sub(r"^fp32: bf16 autocast is ([\d.]+x) here", r"**fp32** (bf16 \1)", note)
    note = re.sub(r"^(bf16|fp32)( autocast)?,", r"**\1**,", note)
    return note.replace(" layout", "")


def auto_section(records: list[dict[str, Any]]) -> list[str]:
    """What --precision auto and --memory-format auto pick on each machine kind, and why."""
    steps = list(dict.fromkeys(step for r in records for step in verdicts(r)))
    return [
        "## What `auto` decides, and why",
        "",
        "A rule on the device, nothing timed (`vaegan/training/placement.py`): `--precision auto` is bf16 where "
        "the CPU lists avx512_bf16 or amx_bf16, fp32 elsewhere (GPUs run these small steps launch-bound); "
        "`--memory-format auto` is channels_last on a CPU, contiguous on a GPU; `--compile` is opt-in (tens of "
        "seconds and a C++ compiler).",
        "",
        "| machine kind | " + " | ".join(steps) + " |",
        "|---|" + "---|" * len(steps),
        *[f"| {r['kind']} | " + " | ".join(verdicts(r).get(step, "–") for step in steps) + " |" for r in records],
        "",
    ]


def throughput_table(rows: list[dict[str, Any]], ratio: str) -> list[str]:
    """Rows of one printed table as markdown, the data named once per group; `ratio`: what x is over."""
    if not rows:
        return []
    return [
        f"| data | step | loop (`*`: auto's pick) | img/s | {ratio} | % fp32 peak | % bf16 peak |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {r['data'] if i == 0 or rows[i - 1]['data'] != r['data'] else ''} | {r['step']} | "
            f"{r['loop']}{' *' if r['auto'] else ''} | {r['img_s']} | {r['x_ref']:.2f} | "
            f"{percent(r['of_fp32'])} | {percent(r['of_bf16'])} |"
            for i, r in enumerate(rows)
        ],
        "",
    ]


def headline_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of each step's rows, the reference, auto's pick and the fastest, in their order: the tutorial-model
    tables predate the shipped steps' rows, and their other variants (Adam kinds) live on in the records."""
    kept = []
    for group in {(r["data"], r["step"]) for r in rows}:
        same = [r for r in rows if (r["data"], r["step"]) == group]
        kept += [same[0], *[r for r in same if r["auto"]], max(same, key=lambda r: r["img_s"])]
    return [r for r in rows if any(r is k for k in kept)]


def performance_section(record: dict[str, Any]) -> list[str]:
    """One machine kind's throughput tables, as its run printed them: the tutorial model's, then (in newer
    records) the shipped steps' against their plain loop, with any flag where a row beat auto's pick."""
    tables: dict[str, list[dict[str, Any]]] = {"tutorial": [], "shipped": []}
    for row in record["rows"]:
        tables[row.get("table", "tutorial")].append(row)  # records before the shipped rows: all tutorial
    context = [line for line in record["before"] if not line.startswith(("auto probe, ", "load average"))]
    after = [line for line in record["after"] if not line.startswith(("load average", "FLAG ", RULE_LINE))]
    flags = [line.removeprefix("FLAG ") for line in record["after"] if line.startswith("FLAG ")]
    shipped = throughput_table(tables["shipped"], "x baseline")
    return [
        f"## {record['kind']}",
        "",
        f"`{record['command']}` on {record['date']}, "
        + "; ".join(line.split(": ", 1)[1] for line in record["machine"])
        + f" (record `{record['name']}`).",
        "",
        *[f"    {line}" for line in context],
        "",
        *throughput_table(headline_rows(tables["tutorial"]), "x reference"),
        *(shipped if tables["shipped"] else []),
        *[f"**Flag: {flag}.**" for flag in flags],
        "",
        *([f"    {line}" for line in after] + [""] if after else []),
        *([f"Note: {record['note']}", ""] if record.get("note") else []),
        *(pipeline_block(record["pipeline"]) if "pipeline" in record else []),
    ]


def pipeline_block(pipeline: dict[str, Any]) -> list[str]:
    """`vaegan run`'s wall-clock beside its training time on this machine, as its command printed them."""
    return [f"`{pipeline['command']}`:", "", *[f"    {line}" for line in pipeline["lines"]], ""]


def precision_race_section(grids: Path) -> list[str]:
    """Minutes of training to a fixed FID at auto against plain fp32: races of those two variants
    (quality.py --variants two-stage-auto two-stage --record race-precision-*), FID at every mark."""
    lines: list[str] = []
    for record in (r for r in race_records(grids) if r.get("record", "").startswith("race-precision")):
        curves = record["curves"]
        target = statistics.fmean(run[-1]["fid"] for run in curves["two-stage"])
        marks = " / ".join(f"{p['seconds'] / 60:.1f}" for p in curves["two-stage"][0])
        lines += [
            f"## Minutes to a fixed FID, auto against fp32: {record['data']}",
            "",
            f"`{record['command']}` on {record['machine']}: FID of {record['samples']} generated images (fewer than "
            f"the protocol's, so compare within the table) at each mark; the last column: minutes to fp32's final FID.",
            "",
            f"| variant | FID at {marks} min | steps (VAE, GAN) | minutes to {target:.1f} |",
            "|---|---|---|---|",
            *[precision_row(name, runs, record["stages"][name][0], target) for name, runs in curves.items()],
            "",
            f"![FID against training time](results/{record['data']}/{record['record']}-time-to-fid.png)",
            "",
        ]
    return lines


def precision_row(name: str, runs: list[list[dict[str, Any]]], stages: list[dict[str, Any]], target: float) -> str:
    fids = " / ".join(f"{p['fid']:.1f}" for p in runs[0])
    counts = ", ".join(f"{e['steps']:,}" for e in stages)
    minutes = statistics.fmean(minutes_to(target, run) for run in runs)
    reached = "not within the budget" if math.isnan(minutes) else f"{minutes:.1f}"
    return f"| {SHORT_NAMES.get(name, name)} | {fids} | {counts} | {reached} |"


def write_performance(folder: Path, out: Path) -> None:
    """docs/PERFORMANCE.md from the throughput records, one section per machine kind."""
    records = performance_records(folder)
    lines = [
        "# Performance",
        "",
        "Generated by `python benchmarks/report.py --performance` from the records of `benchmarks/throughput.py "
        "--record NAME` (docs/results/performance/), one per machine kind: images/s, x a baseline timed in the same "
        "process, % of the measured matmul peaks; compare within one table (rows move 10-20% between runs). The "
        "baseline of the shipped steps is the same networks and losses in a plain fp32 loop; `*`: auto's pick; "
        "`compiled`: that pick under `--compile on`, timed after compiling. "
        "Tutorial-model tables show its reference, auto's pick and the fastest row.",
        "",
        *auto_section(records),
    ]
    for record in records:
        lines += performance_section(record)
    lines += precision_race_section(folder.parent)
    write_doc(out, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", action="store_true", help="write docs/RESULTS.md only")
    parser.add_argument("--performance", action="store_true", help="write docs/PERFORMANCE.md only")
    parser.add_argument("--grids", type=Path, default=GRIDS, help="the records' folder (docs/results)")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="where the docs go (docs)")
    args = parser.parse_args()
    both = not (args.results or args.performance)
    if args.results or both:
        drawn = write_results(args.grids, args.docs / "RESULTS.md")
        print(f"wrote {args.docs / 'RESULTS.md'} and the FID-by-budget charts of {', '.join(drawn) or 'no dataset'}")
    if args.performance or both:
        write_performance(args.grids / "performance", args.docs / "PERFORMANCE.md")
        print(f"wrote {args.docs / 'PERFORMANCE.md'}")
    if args.results or both:
        print(f"wrote the results table of {args.docs.parent / 'README.md'}")


if __name__ == "__main__":
    main()
