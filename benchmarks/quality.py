"""Benchmark: Inception FID against wall-clock for vaegan's two stages, their baselines and a DCGAN peer.

    python benchmarks/quality.py --data fashion-mnist --minutes 10 --seeds 3
    python benchmarks/quality.py --data emoji --minutes 30 --seeds 3
    python benchmarks/quality.py --minutes 2 --samples 500 --real 500 --seeds 1    # a quick, reduced run
    python benchmarks/quality.py --data emoji --publish-only    # redraw chart, pictures, RESULTS.md from race.json
    python benchmarks/quality.py --variants two-stage two-stage-auto --record race-precision   # auto vs fp32

Every variant (race.py, on vaegan's own training loops) gets the same training wall-clock on this machine,
in one run: the two-stage pipeline (VAE, then the GAN warm-started from its decoder), the same GAN from
scratch given the VAE's time plus the GAN's, the VAE alone, and DCGAN (dcgan.py). FID and KID in Inception
features, by the protocol of docs/FID.md, are taken at --marks evenly spaced times, which gives a
time-to-FID curve per variant; each mark also has the defect score (holes, specks and blocks against the
same real images, vaegan.metrics.defects), the checkerboard artifact score and the PSNR of held-out images
through the stage's decoder or G (records from before them have none).
Results go to docs/results/<data>/race.json with a chart and sample grids; docs/RESULTS.md is rebuilt
from every dataset's races beside the published Fashion-MNIST figures (report.py). A run under another
--record name, race-<something> (say, a subset of the variants at other settings), writes <record>.json
and <record>-*.png there instead, a section of its own in RESULTS.md after the main race's. Every run
prints the minutes each variant took to reach the FID the first one ended at (time to FID). Variants run
in the order --variants names them, and the JSON is rewritten after each one, so a long run stopped early
keeps the variants it finished (--publish-only then draws them).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from race import draw, variants
from report import DATASETS, SHORT_NAMES, VARIANTS, has_curve, machine, minutes_to, steps, write_report

from vaegan.config import DISC_KINDS, GANConfig, vae_run_config
from vaegan.data import IDX_SOURCES, build_dataset, load_splits, train_val_split
from vaegan.metrics.artifacts import artifact_score
from vaegan.metrics.copies import CopyCheck
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import (
    describe,
    embed_images,
    fid_kid,
    load_fid_net,
    protocol_samples,
    real_features,
    reference_images,
)
from vaegan.metrics.psnr import posterior_psnr
from vaegan.plots import Panel, line_charts
from vaegan.presets import dataset_defaults, merge
from vaegan.training.loop import Sampler
from vaegan.viz import label_image, save_grid, tile, upscale

PSNR_IMAGES = 1000  # held-out images each mark's PSNR through the stage's decoder or G is taken on (levers.py's)


def configs(
    source: str,
    cache_dir: str | None,
    prior_components: int | None = None,
    gan_overrides: dict[str, Any] | None = None,
    vae_overrides: dict[str, dict[str, Any]] | None = None,
) -> tuple[Any, GANConfig]:
    """Today's defaults for the dataset (presets.py), on the CPU in fp32 like the race's loops; with
    `prior_components`, a fitted prior of that many Gaussians (the VAE's sampler and the GAN's z); with
    `gan_overrides`, those GANConfig fields changed (say lr_d for two time-scale updates, Heusel et al. 2017,
    r1_every and r1_gamma for R1, disc_kind or disc_channels); with `vae_overrides`, those
    fields of the VAE's model, loss and train sections ({"loss": {"beta": 0.5}})."""
    layers = [
        dataset_defaults(source),
        {"data": {"source": source, "cache_dir": cache_dir}, "train": {"device": "cpu"}},
    ]
    if prior_components is not None:
        layers.append({"model": {"prior_components": prior_components}})
    d = merge(*layers, vae_overrides or {})
    return vae_run_config(**d), GANConfig(**{**d.get("gan", {}), "device": "cpu", **(gan_overrides or {})})


def vae_setting(text: str) -> tuple[str, str, float]:
    """--vae-set's SECTION.FIELD=NUMBER, for the model, loss and train sections: ("loss", "beta", 0.5)."""
    key, _, value = text.partition("=")
    section, _, field = key.partition(".")
    if section not in ("model", "loss", "train") or not field or not value:
        raise argparse.ArgumentTypeError(f"expected model., loss. or train.FIELD=NUMBER, got {text!r}")
    number = float(value)
    return section, field, int(number) if number.is_integer() and "." not in value else number


def vae_overrides(settings: list[tuple[str, str, float]] | None) -> dict[str, dict[str, Any]]:
    """--vae-set's settings by section: {"loss": {"beta": 0.5}}."""
    by_section: dict[str, dict[str, Any]] = {}
    for section, field, value in settings or []:
        by_section.setdefault(section, {})[field] = value
    return by_section


def gan_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The GAN settings given on the command line, by GANConfig field name."""
    given = {"lr_d": args.lr_d, "r1_every": args.r1_every, "r1_gamma": args.r1_gamma}
    given |= {"disc_kind": args.disc_kind, "disc_channels": args.disc_channels}
    return {field: value for field, value in given.items() if value is not None}


def real_side(net: Any, cfg: Any, args: argparse.Namespace) -> tuple[torch.Tensor, str]:
    """The protocol's real features (cached), or its first --real images for a reduced run (not cached)."""
    if args.real is None:
        return real_features(net, cfg.data, args.cache_dir)
    images, name = reference_images(cfg.data)
    return embed_images(net, images[: args.real], desc="real images"), f"first {args.real} of the {name}"


def copy_check(real: torch.Tensor, data: Any) -> CopyCheck | None:
    """The look-alike check in Inception features where the protocol's real set is the whole dataset (emoji,
    folders): its training and held-out images are rows of `real`, split as training splits them. None for
    IDX data, whose real set is the official test set (its 60,000 training images are not embedded)."""
    if data.source in IDX_SOURCES or len(real) != len(build_dataset(data, "train")):
        return None
    train_idx, val_idx = train_val_split(len(real), data.val_fraction, data.split_seed)
    return CopyCheck.fit(real[train_idx], real[val_idx])


def race(args: argparse.Namespace, save: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The race's record; `save` gets it after every variant, so a run stopped early keeps what it finished."""
    started, started_on = time.perf_counter(), machine()  # the load average before our own work raises it
    cfg, gan = configs(
        args.data, args.cache_dir, args.prior_components, gan_overrides(args), vae_overrides(args.vae_set)
    )
    splits = load_splits(cfg.data)
    net = load_fid_net()
    real, real_name = real_side(net, cfg, args)
    copies = copy_check(real, cfg.data)
    real_images = reference_images(cfg.data)[0][: args.real]  # the defect score's real side: the same images
    held_out = (splits.test if len(splits.test) else splits.val).images[:PSNR_IMAGES]
    samples = args.samples or protocol_samples(cfg.data)
    budget = args.minutes * 60
    marks = [budget * (i + 1) / args.marks for i in range(args.marks)]
    curves: dict[str, list[list[dict[str, Any]]]] = {}
    spent: dict[str, list[float]] = {}
    stages: dict[str, list[list[dict[str, Any]]]] = {}
    record = {
        "data": args.data,
        "record": args.record,
        "title": args.title or args.record,
        "command": shlex.join(["python", *sys.argv]),
        "machine": started_on,
        "minutes": args.minutes,
        "vae_share": args.vae_share,
        "prior_components": cfg.model.prior_components,
        "vae_overrides": vae_overrides(args.vae_set),
        "lr_warmup_steps": cfg.train.lr_warmup_steps,  # the VAE's; records without it are from before it (0)
        "gan": dataclasses.asdict(gan),  # the preset's GAN recipe, so a record names the one it raced
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "samples": samples,
        "real": {"name": real_name, "count": len(real)},
        "copy_floor": None if copies is None else copies.floor,
        "image_size": cfg.model.image_size,
        "channels": cfg.model.channels,
        "batch": {"vae": cfg.train.batch_size, "gan": gan.batch_size},
        "trained_seconds": spent,
        "stages": stages,  # per variant and seed: each stage's steps and closing loss (race.logged)
        "curves": curves,
    }
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        built = variants(cfg, gan, splits, budget, args.vae_share, seed)
        for name in args.variants or built:  # in the order asked for
            # the variant's own draws, and with --rank K those of a GAN stage ranked by its D: the same
            # training, scored twice, as a pseudo-variant NAME+rankK
            scored: dict[str, list[dict[str, Any]]] = {}

            def score(
                stage: Sampler, elapsed: float, name: str = name, scored: dict = scored, seed: int = seed
            ) -> None:
                ranks = [1] + ([args.rank] if args.rank > 1 and stage.disc is not None else [])
                for rank in ranks:
                    label = name if rank == 1 else f"{name}+rank{rank}"
                    start = time.perf_counter()
                    fake = draw(stage, samples, seed=10_000 + seed, rank=rank)
                    features = embed_images(net, fake, desc=label)
                    metrics = fid_kid(real, features)
                    if copies is not None:
                        metrics["copy_rate"] = copies.rate(features)
                    metrics["defect"] = defect_score(fake, real_images)
                    metrics["artifact"] = artifact_score(fake, real_images)
                    if stage.encode is not None:  # a VAE's decoder or a GAN's G, on held-out images' mean z
                        metrics["psnr"] = posterior_psnr(stage.encode, stage.decode, held_out, stage.value_range)
                    scored.setdefault(label, []).append({"seconds": elapsed, "stage": stage.stage, **metrics})
                    took = time.perf_counter() - start
                    at = f"seed {seed} {label} [{stage.stage}] {elapsed:.0f}s"
                    more = f"defect {metrics['defect']:.2f}, artifact {metrics['artifact']:.2f}"
                    more += f", PSNR {metrics['psnr']:.1f} dB" if "psnr" in metrics else ""
                    print(f"{at}: {describe(metrics)}, {more}; scored in {took:.0f}s")
                    if seed == args.first_seed and elapsed >= budget:
                        save_grid(fake[:64], args.grids / args.data / f"{args.record}-{label}.png", nrow=8)

            raced = built[name](marks, score)
            ends, log = raced.ends, raced.stages
            for label, points in scored.items():  # NAME+rankK only where a stage with a D was scored
                curves.setdefault(label, []).append(points)
                spent.setdefault(label, []).append(ends[-1])
                stages.setdefault(label, []).append(log)
            print(
                f"seed {seed} {name}: trained {ends[-1]:.1f}s of {budget:.0f}s (stage ends {ends}); {steps(log)}",
                flush=True,
            )
            save({**record, "total_minutes": (time.perf_counter() - started) / 60})
    return {**record, "total_minutes": (time.perf_counter() - started) / 60}


def chart(record: dict[str, Any], path: Path) -> None:
    """FID (mean over seeds) against training minutes, one line per variant."""
    series = {}
    for name, runs in record["curves"].items():
        # the marks are scheduled to the second; a variant's step can end one a few ms late (4.001 vs 4.003
        # min), and unrounded those near-equal times became overlapping tick labels
        minutes = [round(p["seconds"] / 60, 1) for p in runs[0]]
        fids = [statistics.fmean(run[i]["fid"] for run in runs) for i in range(len(runs[0]))]
        series[SHORT_NAMES.get(name, name)] = (minutes, fids)
    title = f"{record['data']}: Inception FID vs training time ({record['samples']} samples)"
    panel = Panel(title, "Inception FID", series, xlabel="training minutes")
    line_charts([panel], ncol=1, cell=(560, 340)).save(path)


def side_by_side(record: dict[str, Any], folder: Path, prefix: str) -> Path:
    """The variants' end-of-budget grids (seed first_seed) in one picture, each titled with its FID."""
    panels = []
    for name, runs in record["curves"].items():
        grid = folder / f"{prefix}-{name}.png"
        if grid.is_file():
            title = f"{SHORT_NAMES.get(name, name)}: FID {runs[0][-1]['fid']:.0f}"
            panels.append(label_image(upscale(Image.open(grid), 360), title, size=18))
    path = folder / f"{prefix}-side-by-side.png"
    tile(panels, ncol=len(panels)).save(path)
    return path


def time_to_fid(record: dict[str, Any]) -> list[str]:
    """Minutes (mean over seeds) each variant took to reach the FID the first variant ended at."""
    curves = record["curves"]
    first = next(iter(curves))
    target = statistics.fmean(run[-1]["fid"] for run in curves[first])
    lines = [f"minutes of training to reach FID {target:.1f} ({SHORT_NAMES.get(first, first)}'s end):"]
    for name, runs in curves.items():
        lines.append(f"  {SHORT_NAMES.get(name, name)}: {statistics.fmean(minutes_to(target, r) for r in runs):.1f}")
    return lines


def load_record(folder: Path, name: str) -> dict[str, Any]:
    """A race's JSON from <folder>/<name>.json, with a one-line error naming the file when it is missing."""
    path = folder / f"{name}.json"
    if not path.is_file():
        raise SystemExit(f"no race record {path}; run quality.py --record {name} first, or check --data")
    return json.loads(path.read_text())


def save_record(folder: Path, record: dict[str, Any]) -> Path:
    path = folder / f"{record['record']}.json"
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path


def publish(record: dict[str, Any], args: argparse.Namespace) -> None:
    """The race's chart and side-by-side picture; docs/RESULTS.md from the main race (record "race")."""
    folder, prefix = args.grids / record["data"], record.get("record", "race")
    side_by_side(record, folder, prefix)
    if has_curve(record):
        chart(record, folder / f"{prefix}-time-to-fid.png")
        print("\n".join(time_to_fid(record)))
    write_report(args.grids, args.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="fashion-mnist", choices=DATASETS)
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall-clock per variant (default 10)")
    parser.add_argument("--vae-share", type=float, default=0.5, help="two-stage: the VAE's share of it (0.5)")
    parser.add_argument("--marks", type=int, default=4, help="FID measurements along the way (default 4)")
    parser.add_argument("--samples", type=int, help="generated images per FID (default: the protocol's)")
    parser.add_argument("--real", type=int, help="score against the first N protocol images (reduced runs)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), help="race only these (default: all)")
    parser.add_argument("--prior-components", type=int, help="Gaussians in the fitted prior (default: the preset's)")
    parser.add_argument("--lr-d", type=float, help="the GAN's D learning rate (default: the preset's)")
    parser.add_argument("--r1-every", type=int, help="lazy R1: the penalty every N-th D step (default: the preset's)")
    parser.add_argument("--r1-gamma", type=float, help="the R1 penalty's gamma (default: the preset's)")
    parser.add_argument("--disc-kind", choices=DISC_KINDS, help="the GAN's D: conv or projected (default: conv)")
    parser.add_argument("--disc-channels", type=int, help="the GAN's D width (default: the preset's)")
    parser.add_argument(
        "--vae-set",
        type=vae_setting,
        action="append",
        metavar="SECTION.FIELD=NUMBER",
        help="a VAE model, loss or train setting other than the preset's, say loss.beta=0.5 (repeatable)",
    )
    parser.add_argument(
        "--rank",
        type=int,
        default=1,
        help="also score a GAN's samples drawn K times over and ranked by its D, as NAME+rankK (default 1: off)",
    )
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", help="data and Inception feature cache (default ~/.cache/vaegan)")
    parser.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"))
    parser.add_argument("--grids", type=Path, default=Path("docs/results"))
    parser.add_argument("--record", default="race", help="race (default) or race-<name>: the JSON's and pictures' name")
    parser.add_argument("--title", help="a record's heading in RESULTS.md (default: its name)")
    parser.add_argument("--publish-only", action="store_true", help="redraw the chart, pictures and report only")
    args = parser.parse_args()
    if args.publish_only:
        publish(load_record(args.grids / args.data, args.record), args)
        return
    if args.record != "race" and not args.record.startswith("race-"):
        parser.error(f"--record must be race or race-<name>, got {args.record}")
    if not 0 < args.vae_share < 1:
        parser.error(f"--vae-share must be between 0 and 1, got {args.vae_share}")
    torch.set_num_threads(args.threads)
    (args.grids / args.data).mkdir(parents=True, exist_ok=True)
    record = race(args, save=lambda so_far: save_record(args.grids / args.data, so_far))
    publish(record, args)
    print(f"wrote {args.grids / args.data / args.record}.json and {args.out}")


if __name__ == "__main__":
    main()
