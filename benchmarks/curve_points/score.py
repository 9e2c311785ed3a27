"""Scores curve points by the protocol of docs/FID.md, one record per point, here on the CPU.

Each point without a record (or named, with a † one: z from an older flow recipe), trained here (curve.py's run
folders) or packed by a lent GPU (pack.py), is drawn as the run draws its own samples: the protocol's count (5,000
for emoji, 10,000 for Fashion-MNIST) from each stage's sampler (the fitted prior, the GAN's EMA G; a two-stage
run's VAE too), seeded as the races seeded them. The record holds Inception FID and KID against the cached real
features, the defect score and sharpness against the same real images, the last GAN epoch's D(x) and D(G(z)), the
steps and the idle minutes they add up to on the reference kind, the commands, and where the point trained with its
wall-clock. A point with a current record is skipped and the record is written at once, so an interrupted score
redoes only the point it was at. docs/RESULTS.md, its charts and the README's table are rebuilt at the end
(report.py).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from curve import BY_NAME, Point, defaults, reference_rates
from minutes_curve import stale
from report import write_results

from curve_points.jobs import finished, train_record
from curve_points.pack import read_slim, sampler, slim, stages, unpack
from vaegan.config import VAERunConfig, from_dict
from vaegan.data import to_uint8
from vaegan.flow_prior import RECIPE
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import (
    embed_images,
    fid_kid,
    load_fid_net,
    protocol_samples,
    real_features,
    reference_images,
)
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.progress import progress_bar
from vaegan.runs import read_metrics
from vaegan.training.loop import Sampler

SEED_OFFSET = 10_000  # the wall-clock races': the samples of seed S are drawn with seed 10,000 + S


@torch.no_grad()
def draw(sampler: Sampler, n: int, seed: int, batch_size: int = 250) -> torch.Tensor:
    """n uint8 images (n, C, H, W) from the sampler's latents with a fixed seed."""
    g, latents = torch.Generator().manual_seed(seed), sampler.latents()
    parts = []
    for start in range(0, n, batch_size):
        images = sampler.decode(latents(min(batch_size, n - start), g)).float()
        parts.append(to_uint8(images, sampler.value_range))
    return torch.cat(parts)


def epochs_of(folder: Path, stage: str) -> list[dict[str, Any]]:
    """A packed stage's epoch lines of metrics.jsonl (not events such as a resume's change of settings)."""
    return [r for r in read_metrics(folder / stage) if "epoch" in r and r.get("stage", stage) == stage]


def steps_done(folder: Path, point: Point, reference: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
    """Each stage's epochs, steps and batch as trained, and the idle minutes they add up to on the reference
    kind (None for the peers, which race by wall-clock)."""
    found, idle = {}, 0.0
    rates = reference_rates(reference, point.data) if point.by_steps else {}
    for stage in ("vae", "gan"):
        lines, config = epochs_of(folder, stage), folder / stage / "config.json"
        if not lines or not config.is_file():
            continue
        settings = json.loads(config.read_text())["train" if stage == "vae" else "gan"]
        entry = {"epochs": lines[-1]["epoch"], "steps": lines[-1]["step"], "batch": settings["batch_size"]}
        entry |= {"precision": settings["precision"], "seconds": round(sum(r.get("seconds", 0.0) for r in lines), 1)}
        if rates:
            entry["idle_minutes"] = round(entry["steps"] * entry["batch"] / rates[stage] / 60, 3)
            idle += entry["idle_minutes"]
        found[stage] = entry
    return found, (round(idle, 3) if rates else None)


def wall_clock(
    tried: list[dict[str, Any]], steps: dict[str, Any], reused: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The attempts' wall-clock (setup included), or the stages' own seconds where those are more: before
    jobs.py wrote attempts as they ran, one killed with its session went unrecorded, and the stages' seconds
    (every epoch the final model trained, its checks included) are a floor on any honest wall-clock. A VAE
    stage reused from an earlier run (curve_points/regan.py) counts its own seconds."""
    attempts = round(sum(a["wall_seconds"] for a in tried), 1)
    if reused:
        return {
            "wall_seconds": round(reused["vae_seconds"] + attempts, 1),
            "wall_from": f"the reused VAE stage's own seconds ({reused['vae_seconds']:g}) and these attempts' "
            f"wall-clock ({attempts:g}), the prior's fit included",
        }
    stages = round(sum(s.get("seconds", 0.0) for s in steps.values() if isinstance(s, dict)), 1)
    if stages > attempts:
        return {"wall_seconds": stages, "wall_from": "the stages' own seconds (some attempts went unrecorded)"}
    return {"wall_seconds": attempts, "wall_from": "the attempts"}


def load_beside(tried: list[dict[str, Any]]) -> float | None:
    """The machine's load average over the attempts, weighted by their wall-clock, other work included: None
    where an attempt predates jobs.py's sampling, since its job count alone would flatter the wall-clock."""
    seconds = sum(a["wall_seconds"] for a in tried)
    if not seconds or any(a.get("load") is None for a in tried):
        return None
    return round(sum(a["load"] * a["wall_seconds"] for a in tried) / seconds, 2)


def discriminator(folder: Path) -> dict[str, Any] | None:
    """The last GAN epoch's D(x) and D(G(z)), from its metrics line, and D's updates per G update: the same
    command trains 1 or 4 by the defaults of its day, so the record says which (and from which step D and G
    alternate, where the stage got past d_steps_until: a shorter one never switched)."""
    lines = epochs_of(folder, "gan")
    if not lines:
        return None
    gan = json.loads((folder / "gan" / "config.json").read_text())["gan"]
    switched = gan["d_steps"] > 1 and 0 < gan.get("d_steps_until", 0) < lines[-1].get("step", 0)
    until = {"d_steps_until": gan["d_steps_until"]} if switched else {}
    return {**{k: lines[-1].get(k) for k in ("epoch", "d_real", "d_fake")}, "d_steps": gan["d_steps"], **until}


class Scorer:
    """The Inception net, and per dataset the protocol's real features and real images, loaded once."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.net, self.real = args, load_fid_net(), dict[tuple, tuple]()

    def real_side(self, cfg: VAERunConfig) -> tuple[Any, str, Any]:
        data = replace(cfg.data, root=None, cache_dir=self.args.cache_dir)  # where the data lives here
        key = (data.source, data.image_size, data.channels)
        if key not in self.real:
            images, name = reference_images(data)
            images = images[: self.args.real]
            if self.args.real is None:  # the protocol's real features, cached
                features, name = real_features(self.net, data, self.args.cache_dir)
            else:  # a reduced run's first --real images, not cached
                features = embed_images(self.net, images, desc="real images")
                name = f"first {self.args.real} of the {name}"
            self.real[key] = (features, name, images)
        return self.real[key]

    def stage(self, folder: Path, stage: str, point: Point, cfg: VAERunConfig) -> dict[str, Any]:
        features, _, images = self.real_side(cfg)
        n = self.args.samples or protocol_samples(cfg.data)
        fake = draw(sampler(folder, stage), n, seed=SEED_OFFSET + point.seed)
        metrics = fid_kid(features, embed_images(self.net, fake, desc=f"{point.name} {stage}"))
        metrics["defect"] = defect_score(fake, images)
        metrics["sharpness"] = sharpness_ratio(fake, images)
        return metrics


def config_of(folder: Path, point: Point) -> VAERunConfig:
    """The run's VAE config (its data and model), as packed; for DCGAN today's defaults for the data it trained on."""
    if point.variant == "dcgan":
        return defaults(read_slim(folder / "dcgan.pt.gz")[1]["data"])[0]
    return from_dict(VAERunConfig, json.loads((folder / "vae" / "config.json").read_text()))


def score_point(folder: Path, point: Point, scorer: Scorer, reference: dict[str, Any]) -> dict[str, Any]:
    cfg = config_of(folder, point)
    scores = {stage: scorer.stage(folder, stage, point, cfg) for stage in stages(point)}
    _, real_name, _ = scorer.real_side(cfg)
    facts = train_record(folder)
    tried, reused = facts["attempts"], facts.get("reused")
    steps, idle = steps_done(folder, point, reference)
    trained_by = [c for a in (reused["attempts"] if reused else []) + tried for c in a["commands"]]
    record: dict[str, Any] = {
        "record": point.record_path(Path()).stem,
        "point": asdict(point),
        "data_source": cfg.data.source,  # emoji:faces in a dry run
        "reference": {"record": reference["name"], "kind": reference["kind"]} if point.by_steps else None,
        "steps": steps,
        "idle_minutes": idle,
        "commands": {"train": trained_by, "score": shlex.join(["python", *sys.argv])},
        "trained": {
            "device": tried[-1]["device"] if tried else "unknown",
            **wall_clock(tried, steps, reused),
            "attempts": len(tried),
            "jobs_at_once": max((a["jobs_at_once"] for a in tried), default=1),
            "load": load_beside((reused["attempts"] if reused else []) + tried),
            "cores": max((a.get("cores", 0) for a in tried), default=0) or None,
        },
        "samples": next(iter(scores.values()))["n_fake"],
        "real": {"name": real_name, "count": next(iter(scores.values()))["n_real"]},
        "scores": scores,
        "discriminator": discriminator(folder),
    }
    if point.variant != "dcgan":  # RESULTS.md marks the records of another recipe (pack.py refuses to refit G's)
        record["flow_recipe"] = dict(RECIPE) if cfg.model.prior == "flow" else None
    if reused:
        record["note"] = (
            f"the VAE stage is the one behind commit {reused['replaces_record_of']}'s record of this point "
            "(the same command); the prior was fitted again and the GAN stage trained again at the defaults of "
            "the commit that scored this record"
        )
    if point.variant == "dcgan":
        _, facts = read_slim(folder / "dcgan.pt.gz")
        record["steps"] = {
            "dcgan": {"steps": facts["steps"], "batch": facts["batch"], "seconds": round(facts["seconds"], 1)}
        }
    return record


def due(point: Point, args: argparse.Namespace) -> bool:
    """Whether to score a point: it has no record, or it is named and its record drew z from an older flow
    recipe (it was trained again by `curve.py regan`; packing refuses a run that was not)."""
    path = point.record_path(args.grids)
    return not path.is_file() or (point.name in args.points and stale([{"record": json.loads(path.read_text())}]))


def sources(args: argparse.Namespace, scratch: Path) -> list[tuple[Point, Path]]:
    """Each point to score with its packed folder: the --packed GPU output unpacked, else its run folder here
    packed into `scratch` (the same files, so both are scored alike)."""
    found: dict[str, Path] = {}
    wanted = set(args.points or BY_NAME)  # two scorers at once each name their own points
    for packed in args.packed:
        for folder in unpack(packed, args.unpacked):
            if folder.name in wanted and (folder / "train.json").is_file() and finished(folder):
                found[folder.name] = folder
    for name, point in BY_NAME.items():
        run = args.runs / name
        if name in wanted and name not in found and finished(run) and due(point, args):
            slim(run, point, scratch / name)
            found[name] = scratch / name
    return [(BY_NAME[name], folder) for name, folder in found.items()]


def score(args: argparse.Namespace) -> None:
    reference = json.loads(args.reference.read_text())
    with tempfile.TemporaryDirectory() as scratch:
        todo = [(p, f) for p, f in sources(args, Path(scratch)) if due(p, args)]
        scorer = Scorer(args) if todo else None
        with progress_bar(len(todo), "curve points scored", unit="point") as bar:
            for point, folder in todo:
                assert scorer is not None
                record = score_point(folder, point, scorer, reference)
                path = point.record_path(args.grids)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.with_suffix(".tmp").write_text(json.dumps(record, indent=1) + "\n")
                path.with_suffix(".tmp").replace(path)  # a point is scored whole or not at all
                fid = ", ".join(f"{s} FID {m['fid']:.1f}" for s, m in record["scores"].items())
                print(f"{point.name}: {fid} -> {path}", flush=True)
                bar.update(1)
    write_results(args.grids, args.out)
    print(f"scored {len(todo)} point(s); wrote {args.out}, its charts and the README's table")
