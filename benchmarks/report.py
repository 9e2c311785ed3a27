"""docs/RESULTS.md from the race's JSON (quality.py), beside the published Fashion-MNIST Inception FIDs."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

import torch
from race import LAST_LOSSES

from vaegan.config import DataConfig
from vaegan.metrics.inception_fid import protocol_samples
from vaegan.training.speed import cpu_model

DATASETS = ("fashion-mnist", "mnist", "emoji")  # report order
VARIANTS = {
    "two-stage": "vaegan: VAE, then GAN warm-started from its decoder (z from the fitted prior, pixel anchor, R1)",
    "scratch-gan": "vaegan's GAN from scratch, z ~ N(0, I), no anchor (the VAE's time plus the GAN's)",
    "vae": "vaegan's VAE alone, sampled through the fitted prior",
    "dcgan": "DCGAN peer (pytorch/examples architecture, width 32)",
    "two-stage-auto": "vaegan: VAE then GAN as above, at --precision/--memory-format auto (the probe's choice here)",
    "vae-auto": "vaegan's VAE alone as above, at --precision/--memory-format auto (the probe's choice here)",
    "scratch-gan-auto": "vaegan's GAN from scratch as above, at --precision/--memory-format auto (the probe's choice)",
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
# Each dataset's current figures: the records raced with today's defaults, newest first. A variant is taken
# from the first record that has it, so a newer record with more seeds hides an older one's row.
CURRENT = {
    "fashion-mnist": (
        "race-z64-fmnist3",
        "race-z64-fmnist-vae3",
        "race-dcgan-fmnist3",
        "race-scratch-fmnist-f26",
        "race-scratch-fmnist3",
        "race-z64-fmnist",
        "race-lazy-r1-fmnist",
        "race-vae-fmnist",
        "race-prior100",
    ),
    "emoji": (
        "race-msssim-f26",
        "race-protocol-f26",
        "race-protocol-scratch-f26",
        "race-four-f26",
        "race-convs2-warmup",
        "race-lazy-r1",
        "race-k100",
        "race-seeds",
        "race-scratch-seeds",
        "race",
    ),
}


def machine() -> str:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
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


def our_rows(record: dict[str, Any]) -> list[str]:
    """One row per variant: FID and KID at the end of the budget, best FID on the way, budget used."""
    rows = []
    for name, runs in record["curves"].items():
        last = [run[-1] for run in runs]
        best = [min(p["fid"] for p in run) for run in runs]
        trained = [s / 60 for s in record["trained_seconds"][name]]
        reliable = "" if all(p["reliable"] for p in last) else " (unreliable: fewer than 1,000 real images)"
        rows.append(
            f"| {VARIANTS.get(name, name)} | {cell([p['fid'] for p in last])}{reliable} | {cell(best)} | "
            f"{cell([p['kid'] for p in last])} | {counts(record)} | {cell(trained)} min, {len(runs)} seed(s) | "
            "this run (command above) |"
        )
    return rows


def current_rows(records: list[dict[str, Any]]) -> list[str]:
    """The summary that opens RESULTS.md: per dataset, today's defaults' end FIDs, each naming its record,
    and the two stages' ratio to every other row (records may differ: the ratio names both)."""
    by_name = {(r["data"], r.get("record", "race")): r for r in records}
    rows, summary = [], []
    for data, names in CURRENT.items():
        shown: dict[str, tuple[float, str, str]] = {}  # model -> (mean end FID, record, its sample counts)
        for name in names:
            record = by_name.get((data, name))
            if record is None:
                continue
            protocol = "papers' protocol" if follows_protocol(record) else "reduced run"
            for variant, runs in record["curves"].items():
                model = variant.removesuffix("-auto")  # one pipeline: a newer auto row hides an older fp32 one
                if model in shown:
                    continue
                last = [run[-1] for run in runs]
                shown[model] = (statistics.fmean(p["fid"] for p in last), name, counts(record))
                rows.append(
                    f"| {data} | {SHORT_NAMES.get(variant, variant)} | {cell([p['fid'] for p in last])} | "
                    f"{cell([p['kid'] for p in last])} | {counts(record)} ({protocol}) | "
                    f"{record['minutes']:g} min, {len(runs)} seed(s) | `{name}` |"
                )
        if "two-stage" in shown:
            ours, ours_record, ours_counts = shown["two-stage"]
            others = {model: row for model, row in shown.items() if model != "two-stage"}
            # FID is biased by the sample count, so a ratio across counts would measure the counts too
            each = [
                f"{ours / fid:.2f}x {SHORT_NAMES.get(model, model)}"
                + ("" if record == ours_record else f" (`{ours_record}` over `{record}`)")
                for model, (fid, record, n) in others.items()
                if n == ours_counts
            ]
            apart = [SHORT_NAMES.get(model, model) for model, (_, _, n) in others.items() if n != ours_counts]
            parts = ["the two stages' FID over the others': " + ", ".join(each) + "."] if each else []
            parts += ["Not compared, scored at other sample counts: " + ", ".join(apart) + "."] if apart else []
            if parts:
                summary.append(f"- {data}: " + " ".join(parts))
    if not rows:
        return []
    return [
        "## Where we stand",
        "",
        "Today's defaults, from the newest records below (mean ± standard deviation over seeds). Only rows "
        "marked papers' protocol compare with the published figures.",
        "",
        "| data | model | FID at the end | KID at the end | samples (generated vs real) | budget | record |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *summary,
        *([""] if summary else []),
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


def steps(log: list[dict[str, Any]]) -> str:
    """One run's stages as 'vae 2,345 steps, closing loss 1,301; gan ...' (race.logged's entries)."""
    return "; ".join(
        f"{e['stage']} {e['steps']:,} steps, closing loss "
        + ("n/a" if e["closing_loss"] is None else f"{e['closing_loss']:,.4g}")  # no step: the clock ran out
        for e in log
    )


def stage_lines(record: dict[str, Any]) -> list[str]:
    """Each run's steps and closing loss per stage, so a stage that never trained shows (records since
    round 17 carry them)."""
    runs = record.get("stages", {})
    first = record.get("first_seed", 0)
    return [
        f"- {SHORT_NAMES.get(name, name)}, seed {first + i}: {steps(log)}"
        for name, logs in runs.items()
        for i, log in enumerate(logs)
        if log is not None  # a merged record's run from before stage logs
    ]


def section(record: dict[str, Any]) -> list[str]:
    size = f"{record['image_size']}x{record['image_size']}, {record['channels']} channel(s)"
    prefix, data = record.get("record", "race"), record["data"]
    lines = [
        f"## {data} ({size})" + ("" if prefix == "race" else f": {record.get('title', prefix)}"),
        "",
        f"Command: `{record['command']}` (PYTHONPATH=src) on {record['machine']}; the whole run took "
        f"{record['total_minutes']:.1f} min. Each variant trained {record['minutes']:g} min of wall-clock "
        f"(the two-stage pipeline: {record['vae_share']:.0%} VAE, the rest GAN), batches {record['batch']}, "
        f"seeds {record['seeds']}. FID and KID in Inception features (docs/FID.md): {record['samples']} "
        f"generated images against {real_set(record['real']['name'])} ({record['real']['count']} images).",
        "",
        *([f"Note: {record['notes']}", ""] if record.get("notes") else []),
        *reduced_note(record),
        "| model | FID at the end | best FID on the way | KID at the end | samples (generated vs real) | "
        "budget | source |",
        "|---|---|---|---|---|---|---|",
        *our_rows(record),
    ]
    if data == "fashion-mnist" and (prefix == "race" or follows_protocol(record)):
        lines += [
            f"| {name} (published) | {fid} | – | – | 10000 vs 10000 | converged | {src} |"
            for name, fid, src in PUBLISHED
        ]
    lines += ratios(record)
    if stage_lines(record):
        closing = f"closing loss: the mean over a stage's last {LAST_LOSSES} steps"
        lines += ["", f"Steps trained per stage ({closing}):", "", *stage_lines(record)]
    if has_curve(record):
        lines += ["", f"![FID against training time](results/{data}/{prefix}-time-to-fid.png)"]
    lines += [
        "",
        f"![Samples at the end of the budget](results/{data}/{prefix}-side-by-side.png)",
        "",
        f"Samples at the end of the budget (seed {record['first_seed']}): "
        + ", ".join(f"[{name}](results/{data}/{prefix}-{name}.png)" for name in record["curves"]),
        "",
    ]
    return lines


def read_records(grids: Path, name: str) -> list[dict[str, Any]]:
    """Every dataset's <grids>/<data>/<name> that exists, in report order: each dataset reruns on its own."""
    return [json.loads((grids / d / name).read_text()) for d in DATASETS if (grids / d / name).is_file()]


def race_records(grids: Path) -> list[dict[str, Any]]:
    """Every race in report order: per dataset the main race (race.json), then its other records
    (race-*.json, say a subset of the variants at another setting)."""
    paths = [p for d in DATASETS for p in [grids / d / "race.json", *sorted((grids / d).glob("race-*.json"))]]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def write_report(grids: Path, out: Path) -> None:
    """docs/RESULTS.md from every dataset's races."""
    records = race_records(grids)
    lines = [
        "# Sample quality at equal wall-clock: vaegan, its baselines and a DCGAN peer",
        "",
        "From `benchmarks/quality.py`: every variant gets the same training wall-clock on one machine, in one "
        "run, and is scored in Inception features by the protocol of [FID.md](FID.md) along the way. "
        "These figures compare with papers; the faster figures in vaegan's own feature space (training logs, "
        "`vaegan evaluate` by default, [OWN_FEATURES.md](OWN_FEATURES.md)) compare runs on one dataset only. "
        "Published rows are converged models after long training; ours are short CPU budgets, stated per row.",
        "",
        "Every default the two-stage rows train with (resize-conv decoder, G's z from the fitted prior, pixel "
        "anchor, R1) was chosen by the ablation in [results/levers/README.md](results/levers/README.md): "
        "one row per lever, with Inception FID, KID, artifact score, PSNR through the GAN and the command. "
        "The Fashion-MNIST races below trained the Bernoulli (BCE) decoder, the grey default until that "
        "ablation's round 6 replaced it with sigma-VAE's (FID 40.3 against 52.5 for the GAN, 1,000 samples), "
        "except the records titled with the sigma-VAE default or the 100-component prior, raced with it. Every "
        "race but those titled with the 100-component prior drew z from a 10-component mixture, the "
        "default until round 7.",
        "",
        *current_rows(records),
    ]
    for record in records:
        lines += section(record)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
