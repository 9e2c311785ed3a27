"""Join races of one recipe run at different seeds into one record, so a seed raced later counts in the mean.

    PYTHONPATH=src:benchmarks python benchmarks/merge_races.py --data fashion-mnist \
        --records race-z64-fmnist race-z64-fmnist-s12 --variants two-stage-auto --record race-z64-fmnist3

A race of three seeds costs about 90 minutes by the papers' protocol on 2 cores, so seeds get added a
session at a time. This reads the named records (docs/results/<data>/<record>.json), refuses any that
raced another recipe than the first (budget, VAE share, prior, GAN recipe, sample counts, image size,
batches, VAE settings and learning-rate warm-up, CPU and torch) or a seed twice, and writes one record
with every seed of the chosen variants, in seed order; its note names each source, its seeds and its
command. The grid of the lowest seed is copied under the new name, and docs/RESULTS.md is rebuilt. A
--vae-set override equal to today's default counts as no override: a record raced with `--vae-set
model.latent_dim=64` before that became the preset ran the same VAE as one raced after without it.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from quality import load_record, publish, save_record
from report import DATASETS, VARIANTS

from vaegan.checkpoint import removed_at_kept
from vaegan.config import GANConfig, vae_run_config
from vaegan.presets import dataset_defaults

RECIPE = ("minutes", "vae_share", "prior_components", "gan", "samples", "real", "image_size", "channels", "batch")


def vae_changes(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The record's --vae-set overrides that differ from today's defaults for its data."""
    today = vae_run_config(**dataset_defaults(record["data"]))
    changes = {
        section: {field: value for field, value in fields.items() if getattr(getattr(today, section), field) != value}
        for section, fields in record.get("vae_overrides", {}).items()
    }
    return {section: fields for section, fields in changes.items() if fields}


def recipe(record: dict[str, Any]) -> dict[str, Any]:
    """Everything two records must share to be one experiment at different seeds."""
    machine = record["machine"].split(", load average")[0]  # the load at the start differs run to run
    warmup = record.get("lr_warmup_steps", 0)  # races before the VAE's learning-rate warm-up had none
    # A GAN setting added since a record was raced is missing from it: that race ran what is its default now;
    # one removed since, at the value that remains (checkpoint.REMOVED), is no difference either
    raced = {k: v for k, v in record["gan"].items() if not removed_at_kept("gan", k, v)}
    gan = {f.name: f.default for f in dataclasses.fields(GANConfig) if f.name not in raced} | raced
    gan.pop("min_steps", None)  # a run's step budget, which the race's own loop never reads
    return (
        {"data": record["data"], "machine": machine, "vae": vae_changes(record), "lr_warmup_steps": warmup}
        | {k: record[k] for k in RECIPE}
        | {"gan": gan}
    )


def seeds_of(record: dict[str, Any], variant: str) -> list[int]:
    """The seeds a record finished for a variant: its runs are in seed order from first_seed."""
    return [record["first_seed"] + i for i in range(len(record["curves"][variant]))]


def merged(
    records: list[dict[str, Any]], variants: list[str], name: str, title: str, command: str, note: str = ""
) -> dict[str, Any]:
    """One record with every seed of `variants` from `records`; SystemExit naming the problem if they differ.
    `note` says what the recipe cannot (say, that the code got faster between the runs)."""
    first = recipe(records[0])
    for record in records:
        missing = [v for v in variants if v not in record["curves"]]
        if missing:
            raise SystemExit(f"{record['record']} has no {', '.join(missing)}; it raced {', '.join(record['curves'])}")
        differ = [key for key, value in recipe(record).items() if first[key] != value]
        if differ:
            raise SystemExit(
                f"{record['record']} raced another recipe than {records[0]['record']} ({', '.join(differ)} differ); "
                "merge only seeds of one experiment"
            )
    ordered = sorted(records, key=lambda r: r["first_seed"])
    for variant in variants:
        seeds = [s for r in ordered for s in seeds_of(r, variant)]
        if len(set(seeds)) < len(seeds):
            raise SystemExit(f"{variant}: seeds {seeds} repeat across the records; merge each seed once")
    sources = [
        f"`{r['record']}` (seed(s) {', '.join(map(str, seeds_of(r, variants[0])))}; {r['machine']}; `{r['command']}`)"
        for r in ordered
    ]
    sourced = "merged by benchmarks/merge_races.py from " + "; ".join(sources) + "."
    return {
        **{key: ordered[0][key] for key in ("data", "machine", "vae_overrides", *RECIPE)},
        "record": name,
        "title": title,
        "command": command,
        "notes": " ".join(filter(None, [sourced, note])),
        "seeds": sum(len(r["curves"][variants[0]]) for r in ordered),
        "first_seed": ordered[0]["first_seed"],
        "trained_seconds": {v: [s for r in ordered for s in r["trained_seconds"][v]] for v in variants},
        "curves": {v: [run for r in ordered for run in r["curves"][v]] for v in variants},
        "lr_warmup_steps": first["lr_warmup_steps"],
        # each run's stage log (race.logged), None for runs of records from before it
        "stages": {
            v: [log for r in ordered for log in r.get("stages", {}).get(v, [None] * len(r["curves"][v]))]
            for v in variants
        },
        "total_minutes": sum(r["total_minutes"] for r in ordered),
        "merged_from": [r["record"] for r in ordered],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist", choices=DATASETS)
    parser.add_argument("--records", nargs="+", required=True, help="the races to join, race-<name> each")
    parser.add_argument("--variants", nargs="+", required=True, choices=tuple(VARIANTS))
    parser.add_argument("--record", required=True, help="the joined record's name, race-<name>")
    parser.add_argument("--title", help="its heading in RESULTS.md (default: its name)")
    parser.add_argument("--note", default="", help="what differs between the runs that the recipe does not show")
    parser.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"))
    parser.add_argument("--grids", type=Path, default=Path("docs/results"))
    args = parser.parse_args()
    if not args.record.startswith("race-") or args.record in args.records:
        parser.error(f"--record must be a new race-<name>, got {args.record}")
    folder = args.grids / args.data
    records = [load_record(folder, name) for name in args.records]
    command = shlex.join(["python", *sys.argv])
    record = merged(records, args.variants, args.record, args.title or args.record, command, args.note)
    lowest = min(records, key=lambda r: r["first_seed"])["record"]
    for variant in args.variants:
        grid = folder / f"{lowest}-{variant}.png"
        if grid.is_file():
            shutil.copyfile(grid, folder / f"{args.record}-{variant}.png")
    save_record(folder, record)
    publish(record, args)
    print(f"wrote {folder / args.record}.json ({record['seeds']} seeds) and {args.out}")


if __name__ == "__main__":
    main()
