"""Issue 67's quality curve: each point trained for a budget of optimiser steps, scored by docs/FID.md.

A point named "N minutes" is a number of VAE and GAN optimiser steps whose idle time adds up to N minutes
on a reference machine kind, by that kind's throughput record.

    python benchmarks/curve.py plan                   # every point's steps and the idle minutes they add up to
    python benchmarks/curve.py train POINT ...        # train (or resume) points here; --all for every one
    python benchmarks/curve.py score                  # score each trained point that has no record yet
    python benchmarks/curve.py regan POINT ...        # a point's GAN stage again at today's defaults, same VAE
    bash benchmarks/gpu_check.sh curve                # all points at once on a lent GPU, packed for `score` here

A race trained by steps gives the same model whatever else the machine is doing, so it can run beside other
work and be stopped and resumed exactly. Each point trains through the product's commands (`vaegan run`,
`vaegan train-vae`) at today's defaults, with the CPU recipe's batch sizes, widths and bf16 given explicitly:
a CUDA device then trains the CPU recipe (presets.gpu_budget and gpu_width leave given values alone), and a
rerun over a point's folder resumes it. Two stages give the VAE half the budget's idle time (as the
wall-clock races did) and the GAN what the VAE's whole epochs leave; the VAE alone gets all of it. A VAE
alone at 30 minutes trains exactly the steps of the 60-minute two stages' VAE: both are kept, as separate runs.
Item 4's peers race by wall-clock instead: the GPU default (`vaegan run --data emoji`, sized for the GPU,
capped by --max-minutes and --gan-max-minutes) against the DCGAN peer given the same minutes.
Points train as jobs (curve_points/jobs.py: a process each, several at once, stopped resumably at a
deadline), travel from a lent GPU packed (curve_points/pack.py), and are scored here (curve_points/score.py)
into docs/results/<data>/curve-<N>min-<variant>-seed<S>.json, which minutes_curve.py tables in
docs/RESULTS.md; wall-clock is reported apart from the idle minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from curve_points.jobs import Job, finished, run_jobs
from minutes_curve import TARGETS
from throughput import SHIPPED_DATA

REFERENCE = Path("docs/results/performance/epyc-f26-avx512bf16.json")  # the kind every budget is counted on
GPU_RECORD = Path("docs/results/performance/h100.json")  # the lent GPU's kind, for the time estimate
RUNS = Path("runs/curve")
VAE_SHARE = 0.5  # the wall-clock races' default VAE share, so the two kinds of record compare
PEER_MINUTES = 4.0  # item 4's wall-clock: what fits one lent-GPU call beside the curve (the issue asks for 10)
CADENCE = Path("benchmarks/curve.toml")  # checkpoints and grids every 10 epochs: they change no step
BENCHMARKS = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Point:
    data: str  # `vaegan run --data`
    minutes: float  # idle minutes on the reference kind (by steps), or item 4's wall-clock
    seed: int
    variant: str  # two-stage | vae | gpu-default | dcgan

    @property
    def name(self) -> str:
        return f"{self.data}-{self.minutes:g}min-{self.variant}-seed{self.seed}"

    @property
    def by_steps(self) -> bool:
        return self.variant in ("two-stage", "vae")

    @property
    def two_stages(self) -> bool:
        """A VAE, then a GAN from its decoder: both stages are scored on the same z."""
        return self.variant == "two-stage"

    def record_path(self, grids: Path) -> Path:
        return grids / self.data / f"curve-{self.minutes:g}min-{self.variant}-seed{self.seed}.json"


# In the order their results matter: they are packed in it when a lent GPU's output cannot hold them all.
CURVE = (
    *(Point("emoji", 6, seed, "two-stage") for seed in (0, 1, 2)),
    *(Point("emoji", 30, seed, "two-stage") for seed in (0, 1)),
    Point("emoji", 60, 0, "two-stage"),
    Point("fashion-mnist", 30, 0, "two-stage"),
    *(Point("emoji", minutes, 0, "vae") for minutes in (6, 30, 60)),
)
PEERS = (Point("emoji", PEER_MINUTES, 0, "gpu-default"), Point("emoji", PEER_MINUTES, 0, "dcgan"))
POINTS = CURVE + PEERS
BY_NAME = {p.name: p for p in POINTS}


@dataclass(frozen=True)
class Stage:
    """A stage's budget: whole epochs of `per_epoch` steps at `batch`, and the reference kind's images/s."""

    epochs: int
    per_epoch: int
    batch: int
    img_s: float

    @property
    def steps(self) -> int:
        return self.epochs * self.per_epoch

    @property
    def idle_minutes(self) -> float:
        return self.steps * self.batch / self.img_s / 60


@dataclass(frozen=True)
class Plan:
    point: Point
    vae: Stage
    gan: Stage | None  # None: the VAE alone

    @property
    def idle_minutes(self) -> float:
        return self.vae.idle_minutes + (self.gan.idle_minutes if self.gan else 0.0)


def reference_rates(record: dict[str, Any], data: str) -> dict[str, float]:
    """Images/s of the VAE and GAN steps `--precision auto` trains on the record's kind (its rows marked auto)."""
    label = {source: name for name, source in SHIPPED_DATA}[data]
    rows = [r for r in record["rows"] if r["auto"] and r["data"] == label and r.get("table", "shipped") == "shipped"]
    rates = {r["step"].lower(): float(r["img_s"]) for r in rows}
    if set(rates) != {"vae", "gan"}:
        raise SystemExit(f"{record['name']} has no auto rows for {label}'s VAE and GAN steps; pick another record")
    return rates


def stage_budget(seconds: float, img_s: float, batch: int, n_train: int) -> Stage:
    """The whole epochs nearest `seconds` of idle steps at `img_s` (at least one)."""
    per_epoch = math.ceil(n_train / batch)
    epochs = max(1, round(seconds * img_s / batch / per_epoch))
    return Stage(epochs, per_epoch, batch, img_s)


def plan(point: Point, rates: dict[str, float], batches: dict[str, int], n_train: int) -> Plan:
    """The point's steps: the VAE its share of the minutes in whole epochs, the GAN the whole epochs nearest
    what is left, so the idle time adds up to the minutes as nearly as whole epochs allow."""
    budget = point.minutes * 60
    share = 1.0 if point.variant == "vae" else VAE_SHARE
    vae = stage_budget(budget * share, rates["vae"], batches["vae"], n_train)
    if point.variant == "vae":
        return Plan(point, vae, None)
    gan = stage_budget(budget - vae.idle_minutes * 60, rates["gan"], batches["gan"], n_train)
    return Plan(point, vae, gan)


def defaults(data: str) -> tuple[Any, Any]:
    """Today's VAE and GAN configs for `data`: the presets (presets.py), on the CPU."""
    from vaegan.config import GANConfig, vae_run_config
    from vaegan.presets import dataset_defaults, merge

    d = merge(dataset_defaults(data), {"data": {"source": data, "cache_dir": None}, "train": {"device": "cpu"}})
    return vae_run_config(**d), GANConfig(**{**d.get("gan", {}), "device": "cpu"})


def train_images(data: str, root: str | None = None) -> int:
    """How many images `data` trains on (its own split), read from `root` when it is not at the default place."""
    from vaegan.data import load_splits

    return len(load_splits(replace(defaults(data)[0].data, root=root)).train)


def plans(points: tuple[Point, ...], reference: Path = REFERENCE, roots: dict[str, str] | None = None) -> list[Plan]:
    """Every by-steps point's plan on the reference record's kind, with today's batches and data (read from
    `roots` where given: data name -> --data-root)."""
    record = json.loads(reference.read_text())
    found, sizes = [], {}
    for point in (p for p in points if p.by_steps):
        if point.data not in sizes:
            cfg, gan = defaults(point.data)
            n_train = train_images(point.data, (roots or {}).get(point.data))
            sizes[point.data] = ({"vae": cfg.train.batch_size, "gan": gan.batch_size}, n_train)
        batches, n_train = sizes[point.data]
        found.append(plan(point, reference_rates(record, point.data), batches, n_train))
    return found


def plan_table(found: list[Plan], reference: dict[str, Any], gpu: dict[str, Any] | None = None) -> list[str]:
    """The plan as a Markdown table, with each point's seconds alone on the GPU record's kind when given."""
    gpu_head = f" | alone on {gpu['name']} |" if gpu else " |"
    lines = [
        f"step budgets on {reference['name']} ({reference['kind']}), idle minutes by its auto rows",
        "",
        "| point | VAE epochs x steps | GAN epochs x steps | idle minutes (VAE + GAN) | target FID" + gpu_head,
        "|---|---|---|---|---|" + ("---|" if gpu else ""),
    ]
    for p in found:
        gan = f"{p.gan.epochs} x {p.gan.per_epoch} = {p.gan.steps:,}" if p.gan else "–"
        idle = f"{p.vae.idle_minutes:.2f}" + (f" + {p.gan.idle_minutes:.2f}" if p.gan else "")
        target = TARGETS.get((p.point.data, p.point.minutes)) if p.gan else None
        row = f"| {p.point.name} | {p.vae.epochs} x {p.vae.per_epoch} = {p.vae.steps:,} | {gan} | "
        row += f"{idle} = {p.idle_minutes:.2f} | {target[0] if target else '–'} |"
        lines.append(row + (f" {gpu_seconds(p, gpu):.0f} s |" if gpu else ""))
    return lines


def gpu_estimate(found: list[Plan], gpu: dict[str, Any], seconds: float) -> str:
    """What one lent-GPU call asks of the GPU: every point's steps alone at the record's rates, against the
    seconds of training the call leaves (setup, epoch ends and the peers' wall-clock come on top)."""
    alone = {p.point.name: gpu_seconds(p, gpu) for p in found}
    longest = max(alone, key=alone.__getitem__)
    return (
        f"on {gpu['name']}, the steps alone take {sum(alone.values()):.0f} s in all, the longest point "
        f"{alone[longest]:.0f} s ({longest}): all at once in {seconds:.0f} s only if the GPU runs them together "
        f"at {sum(alone.values()) / seconds:.1f}x one point's rate; what is left resumes where it stopped when the "
        "call runs again (a warm machine keeps runs/curve; a cold one needs the packed run folders carried back)"
    )


def gpu_seconds(p: Plan, gpu: dict[str, Any]) -> float:
    """The plan's steps at the GPU record's rates for the same batches: steps alone, no epoch ends or setup."""
    rates = reference_rates(gpu, p.point.data)
    stages = [("vae", p.vae)] + ([("gan", p.gan)] if p.gan else [])
    return sum(s.steps * s.batch / rates[name] for name, s in stages)


# The sizes `--dry-run` trains each dataset at: a few steps per stage, on the CPU, in seconds.
DRY_RUN = {
    "emoji": {"--data": "emoji:faces", "--batch-size": 16, "--gan-batch-size": 16, "--base-channels": 8},
    "fashion-mnist": {"--batch-size": 2048, "--gan-batch-size": 2048, "--base-channels": 4},
}


def recipe(data: str, dry_run: bool) -> dict[str, Any]:
    """The flags that pin the CPU recipe of `data`: batch sizes, widths and bf16, whatever the device."""
    cfg, gan = defaults(data)
    flags = {
        "--data": data,
        "--batch-size": cfg.train.batch_size,
        "--gan-batch-size": gan.batch_size,
        "--base-channels": cfg.model.base_channels,
        "--disc-channels": gan.disc_channels,
        "--precision": "bf16",
        "--quality-every": 0,  # no feature net to train and no FID during training: scoring is Inception's
        "--config": str(CADENCE),
    }
    if dry_run:
        tiny = DRY_RUN[data]
        flags |= {**tiny, "--disc-channels": tiny["--base-channels"], "--device": "cpu"}
    return flags


def flag_list(flags: dict[str, Any]) -> list[str]:
    return [str(x) for key, value in flags.items() for x in (key, value)]


VAEGAN = [sys.executable, "-m", "vaegan"]
CURVE_PY = [sys.executable, str(BENCHMARKS / "curve.py")]


DRY_RUN_MINUTES = 0.1  # the peers' wall-clock under --dry-run: their first epoch, whatever the limit


def commands(point: Point, folder: Path, args: argparse.Namespace, found: dict[str, Plan]) -> list[list[str]]:
    """What trains the point into `folder`, in order; run again over the folder, the same commands resume it."""
    roots = next((["--data-root", r] for d, r in reversed(args.data_root) if d == point.data), [])
    flags, seed = recipe(point.data, args.dry_run), ["--seed", str(point.seed)]
    minutes = DRY_RUN_MINUTES if args.dry_run else point.minutes
    if point.variant == "dcgan":
        device = ["--device", "cpu"] if args.dry_run else []
        data = ["--data", str(flags["--data"]), *roots, *device]
        return [[*CURVE_PY, "dcgan", *data, "--minutes", f"{minutes:g}", *seed, "--out", str(folder)]]
    if point.variant == "gpu-default":  # no sizing flag: GPU sizing applies (the tiny sizes under --dry-run)
        limits = ["--max-minutes", f"{minutes / 2:g}", "--gan-max-minutes", f"{minutes / 2:g}", *seed]
        data = flag_list(flags) if args.dry_run else ["--data", point.data]
        return [[*VAEGAN, "run", *data, *roots, *limits, "--out", str(folder)]]
    p = found[point.name]
    steps = ["--epochs", str(1 if args.dry_run else p.vae.epochs), *seed]
    if p.gan is not None:
        steps += ["--gan-epochs", str(1 if args.dry_run else p.gan.epochs)]
        return [[*VAEGAN, "run", *flag_list(flags), *roots, *steps, "--out", str(folder)]]
    del flags["--gan-batch-size"], flags["--disc-channels"]
    train = [*VAEGAN, "train-vae", *flag_list(flags), *roots, *steps, "--out", str(folder)]
    if (folder / "checkpoint.pt").is_file():
        train = [*VAEGAN, "train-vae", "--resume", str(folder)]
    return [train, [*CURVE_PY, "prior", str(folder)]]  # the prior fitted where it trained: the pack holds it


def shown(command: list[str]) -> str:
    """A job's command as a user types it: `vaegan ...`, `python benchmarks/curve.py ...`."""
    if command[:3] == VAEGAN:
        return shlex.join(["vaegan", *command[3:]])
    if command[:2] == CURVE_PY:
        return shlex.join(["python", "benchmarks/curve.py", *command[2:]])
    return shlex.join(command)


def train(args: argparse.Namespace) -> None:
    points = POINTS if args.all else tuple(BY_NAME[name] for name in args.points)
    found = {p.point.name: p for p in plans(points, roots=dict(args.data_root))}
    jobs = []
    for point in points:
        folder = args.runs / point.name
        if finished(folder):
            print(f"{point.name}: trained already ({folder})")
            continue
        run = commands(point, folder, args, found)
        jobs.append(Job(point.name, folder, run, [shown(c) for c in run], {"point": asdict(point)}))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "CI": "true"}  # no progress bars in the logs
    run_jobs(jobs, args.jobs, args.seconds, env)


def fit_prior(run: Path) -> None:
    """The run's fitted prior, fitted and saved beside its VAE checkpoint (on the GPU where there is one)."""
    from vaegan.prior import fitted_prior
    from vaegan.runs import open_run

    fitted_prior(open_run(run), device=torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def dcgan(args: argparse.Namespace) -> None:
    """The DCGAN peer as the wall-clock races trained it (width 32, the data's GAN batch), for --minutes of
    wall-clock on --device; its G and how long it trained go to OUT/dcgan.pt for scoring."""
    from dcgan import DCGAN, Batches, train_dcgan

    from vaegan.data import load_splits
    from vaegan.training.stopping import Clock

    cfg, gan = defaults(args.data)
    images = load_splits(replace(cfg.data, root=args.data_root)).train.images
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    net = DCGAN(images.shape[-1], images.shape[1], width=32, seed=args.seed, device=device)
    last: dict[str, Any] = {"steps": 0}
    batches = Batches(images, gan.batch_size, args.seed + 5)
    seconds = train_dcgan(
        net, batches, args.minutes * 60, Clock(), lambda _, losses: last.update(losses, steps=last["steps"] + 1)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    generator = {k: v.cpu() for k, v in net.g.state_dict().items()}
    facts = {"data": args.data, "image_size": images.shape[-1], "channels": images.shape[1], "width": 32}
    torch.save(
        {"generator": generator, **facts, **last, "seconds": seconds, "batch": gan.batch_size}, args.out / "dcgan.pt"
    )
    print(f"dcgan: {last['steps']} steps in {seconds:.0f} s on {device}")


def add_roots(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        type=data_root,
        action="append",
        default=[],
        metavar="DATA=PATH",
        help="where a dataset lives when not at vaegan's default place (repeatable; curve.py place prints them)",
    )


def data_root(text: str) -> tuple[str, str]:
    data, _, root = text.partition("=")
    if not root:
        raise argparse.ArgumentTypeError(f"expected DATA=PATH, got {text!r}")
    return data, root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="each point's steps and the idle minutes they add up to")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="the throughput record budgets count on")
    p.add_argument(
        "--gpu", type=Path, help=f"a GPU's throughput record: each point's seconds alone there ({GPU_RECORD})"
    )
    p.add_argument("--seconds", type=float, default=450.0, help="with --gpu: the training seconds of one call (450)")
    add_roots(p)
    p = sub.add_parser("train", help="train (or resume) points here, each in a process of its own")
    p.add_argument("points", nargs="*", metavar="POINT", help=", ".join(BY_NAME))
    p.add_argument("--all", action="store_true", help="every point")
    p.add_argument("--runs", type=Path, default=RUNS, help=f"the points' run folders ({RUNS})")
    p.add_argument("--jobs", type=int, default=1, help="points trained at once (1)")
    p.add_argument("--threads", type=int, default=2, help="torch threads per point (2)")
    p.add_argument("--seconds", type=float, help="stop what still trains after this long, resumable (none)")
    p.add_argument("--dry-run", action="store_true", help="a few steps per stage on the CPU at tiny sizes")
    add_roots(p)
    p = sub.add_parser("regan", help="train trained two-stage points' GAN stage again on their VAE stage")
    p.add_argument("points", nargs="+", metavar="POINT")
    p.add_argument("--runs", type=Path, default=RUNS, help=f"the points' run folders ({RUNS})")
    p.add_argument("--grids", type=Path, default=Path("docs/results"), help="where the records are")
    p = sub.add_parser("pack", help="what the CPU needs to score the trained points, in a few tar files")
    p.add_argument("runs", type=Path, help=f"the points' run folders ({RUNS})")
    p.add_argument("out", type=Path, help="where the tar files and pack.json go")
    p = sub.add_parser("score", help="score each trained or packed point without a record (docs/FID.md)")
    p.add_argument("points", nargs="*", metavar="POINT", help="only these, a † record too (default: all without one)")
    p.add_argument("--packed", type=Path, action="append", default=[], help="a lent GPU's output (repeatable)")
    p.add_argument("--unpacked", type=Path, default=Path("runs/curve-packed"), help="where packed points go")
    p.add_argument("--runs", type=Path, default=RUNS, help=f"run folders trained here ({RUNS})")
    p.add_argument("--samples", type=int, help="generated images per stage (default: the protocol's)")
    p.add_argument("--real", type=int, help="score against the first N protocol images (reduced runs, not cached)")
    p.add_argument("--cache-dir", help="data and Inception feature cache (default ~/.cache/vaegan)")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="the throughput record budgets count on")
    p.add_argument("--grids", type=Path, default=Path("docs/results"), help="where the records go")
    p.add_argument("--out", type=Path, default=Path("docs/RESULTS.md"), help="the report rebuilt from them")
    p = sub.add_parser("carry", help="write the data a lent GPU lacks into a folder (gpu_check.sh curve)")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("place", help="put carried data where vaegan reads it; prints the --data-root flags left")
    p.add_argument("folder", type=Path)
    p = sub.add_parser("prior", help="fit and save a run's prior (train runs it after a VAE alone)")
    p.add_argument("run", type=Path)
    p = sub.add_parser("dcgan", help="train the DCGAN peer for a wall-clock budget (train runs it)")
    p.add_argument("--data", default="emoji")
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="default: CUDA when present")
    p.add_argument("--data-root", help="where the data lives when not at vaegan's default place")
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "plan":
        reference = json.loads(args.reference.read_text())
        gpu = json.loads(args.gpu.read_text()) if args.gpu else None
        found = plans(POINTS, args.reference, dict(args.data_root))
        print("\n".join(plan_table(found, reference, gpu)))
        if gpu:
            print("\n" + gpu_estimate(found, gpu, args.seconds))
    elif args.command == "train":
        unknown = [name for name in args.points if name not in BY_NAME]
        if unknown or not (args.all or args.points):
            parser.error(f"unknown points {unknown}" if unknown else "name the points to train, or --all")
        train(args)
    elif args.command == "regan":
        from curve_points.regan import regan

        for name in args.points:
            point = BY_NAME.get(name)
            if point is None or not point.two_stages:
                parser.error(f"{name} is not a two-stage point; pick from {', '.join(BY_NAME)}")
            reused = regan(args.runs / name, point.record_path(args.grids))
            print(f"{name}: VAE stage kept, the rest moved to {reused['from']}; next: curve.py train {name}")
    elif args.command == "pack":
        from curve_points.pack import pack

        print(json.dumps(pack(args.runs, args.out), indent=1))
    elif args.command == "score":
        from curve_points.score import score

        if unknown := [name for name in args.points if name not in BY_NAME]:
            parser.error(f"unknown points {unknown}")
        score(args)
    elif args.command in ("carry", "place"):
        from curve_points.pack import carry, place

        (carry if args.command == "carry" else place)(args.folder)
    elif args.command == "prior":
        fit_prior(args.run)
    else:
        dcgan(args)


if __name__ == "__main__":
    main()
