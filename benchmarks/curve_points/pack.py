"""What travels between here and a lent GPU for the curve: the data it lacks, and back what the CPU needs to
score each point, in as few small files as a lent GPU returns.

A finished point travels as its samplers alone: each stage's decoder (the VAE's, the GAN's EMA G, the DCGAN
peer's G) with its config, the fitted prior file as vaegan wrote it, and the small files a record reads
(metrics.jsonl, config.json, train.json, summary.txt). An emoji VAE with its optimiser is 25 MB; its decoder
is 3.4 MB, stored with each weight's bytes grouped by significance and gzipped (18% smaller, where plain
gzip saves 8%), exactly: samples drawn here are the run's own. A point the deadline stopped travels as its
run folder instead (checkpoints gzipped), to resume on a GPU, when room is left. Everything goes into at most
MAX_FILES plain tar files of at most FILE_BYTES each, MAX_BYTES in all, in the order the results matter
(curve.POINTS): what does not fit is named in pack.json. `sampler(folder, stage)` reads a packed point back.
The data goes the other way (`carry` here, `place` there): the GPU machine has neither the emoji font nor
Debian's Fashion-MNIST, and nothing can be downloaded there.
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import math
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from curve import CURVE, POINTS, Point, train_images
from dcgan import DCGAN, NZ

from curve_points.jobs import finished
from vaegan.config import VAERunConfig, from_dict, to_dict
from vaegan.flow_prior import FLOW_NAME, RECIPE, read_flow, saved_recipe
from vaegan.models.vae import Decoder
from vaegan.prior import PRIOR_NAME, Prior, fitted_prior, read_prior
from vaegan.runs import open_run
from vaegan.training.loop import Latents, Sampler

FILE_BYTES, MAX_BYTES, MAX_FILES = 15_500_000, 62_000_000, 6  # a lent GPU's $OUT: 8 files, 16 MB each, 64 MB
TAR_END = 10_240  # what a tar file adds after its members: end blocks, padded to a 10 kB record
SLIM_FORMAT = 1
TEXT_FILES = ("metrics.jsonl", "config.json")  # each stage's, in <stage>/ as in a run folder
LOG_LINES = 200  # the end of a job's log: its errors and last epochs


def byte_planes(t: torch.Tensor) -> torch.Tensor:
    """A tensor's bytes as (element size, numel) uint8, most significant plane apart from the rest: the
    sign-and-exponent bytes of trained weights repeat, so gzip shrinks them where it cannot shrink mantissas."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).reshape(-1, t.element_size()).T.contiguous()


def from_planes(planes: torch.Tensor, dtype: torch.dtype, shape: list[int]) -> torch.Tensor:
    return planes.T.contiguous().view(dtype).reshape(shape)


def write_slim(path: Path, weights: dict[str, torch.Tensor], **facts: Any) -> None:
    """A stage's weights (byte planes, gzipped) and the facts that rebuild its sampler, as `path`."""
    payload = {
        "format": SLIM_FORMAT,
        "planes": {k: byte_planes(t) for k, t in weights.items()},
        "dtypes": {k: str(t.dtype).removeprefix("torch.") for k, t in weights.items()},
        "shapes": {k: list(t.shape) for k, t in weights.items()},
        **facts,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.write_bytes(gzip.compress(buffer.getvalue(), compresslevel=6, mtime=0))


def read_slim(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(the weights, the facts) of a file write_slim wrote."""
    payload = torch.load(io.BytesIO(gzip.decompress(path.read_bytes())), weights_only=True)
    if payload.get("format") != SLIM_FORMAT:
        raise SystemExit(f"{path} is no curve sampler of format {SLIM_FORMAT}; pack the run again")
    planes, dtypes, shapes = payload.pop("planes"), payload.pop("dtypes"), payload.pop("shapes")
    return {k: from_planes(p, getattr(torch, dtypes[k]), shapes[k]) for k, p in planes.items()}, payload


def stages(point: Point) -> tuple[str, ...]:
    """The stages a point is scored on, the first the one its result is: two stages score the VAE's too."""
    if point.two_stages:
        return ("gan", "vae")
    return {"vae": ("vae",), "gpu-default": ("gan",), "dcgan": ("dcgan",)}[point.variant]


def slim(run: Path, point: Point, dest: Path) -> None:
    """The point's samplers and small files into `dest`, from its run folder; the prior fitted first where
    none is (on a GPU when there is one)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("train.json", "summary.txt"):
        if (run / name).is_file():
            shutil.copyfile(run / name, dest / name)
    if (run / "log.txt").is_file():
        (dest / "log.txt").write_text(
            "\n".join((run / "log.txt").read_text(errors="replace").splitlines()[-LOG_LINES:])
        )
    if point.variant == "dcgan":
        saved = torch.load(run / "dcgan.pt", weights_only=True)  # curve.py's dcgan command wrote it
        write_slim(dest / "dcgan.pt.gz", saved.pop("generator"), **saved)
        return
    opened = open_run(run)
    vae_folder = opened.stage("vae").folder
    flow = vae_folder / FLOW_NAME
    if "gan" in opened.stages and flow.is_file() and saved_recipe(flow) != RECIPE:  # refitting would hide it
        raise SystemExit(f"{run.name}'s GAN stage drew z from an older flow recipe; curve.py regan {run.name}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    fitted_prior(opened, device=device)
    for name in (FLOW_NAME, PRIOR_NAME):
        if (vae_folder / name).is_file():
            shutil.copyfile(vae_folder / name, dest / name)
    config, step = to_dict(opened.config), opened.stage("vae").checkpoint.loop.step
    for stage, found in opened.stages.items():
        (dest / stage).mkdir(exist_ok=True)
        for name in TEXT_FILES:
            if (found.folder / name).is_file():
                shutil.copyfile(found.folder / name, dest / stage / name)
    for stage in stages(point):
        if stage == "vae":
            weights, latents = opened.vae().decoder.state_dict(), "fitted"
        else:
            weights, latents = (
                opened.generator(ema=True).state_dict(),
                opened.stage("gan").checkpoint.config.gan.latents,
            )
        write_slim(dest / f"{stage}.pt.gz", weights, config=config, vae_step=step, latents=latents)


def packed_prior(folder: Path, cfg: VAERunConfig, step: int) -> Prior:
    """The prior packed beside a point's samplers, checked to be the one fitted to its VAE's step."""
    dim = cfg.model.latent_dim
    found = read_flow(folder / FLOW_NAME, dim) if cfg.model.prior == "flow" else read_prior(folder / PRIOR_NAME, dim)
    if found is None or found[1] != step:
        raise SystemExit(f"{folder} holds no prior fitted to its VAE's step {step}; pack the run again")
    return found[0]


def normal(latent_dim: int) -> Latents:
    return lambda n, g: torch.randn(n, latent_dim, generator=g)


def sampler(folder: Path, stage: str) -> Sampler:
    """A packed stage as a Sampler: its decoder in eval mode on the CPU and z as the run draws its own (the
    fitted prior, or N(0, I) for a GAN trained on it; the DCGAN peer's noise, BatchNorm on batch statistics)."""
    weights, facts = read_slim(folder / f"{stage}.pt.gz")
    if stage == "dcgan":
        net = DCGAN(facts["image_size"], facts["channels"], width=facts["width"])
        net.g.load_state_dict(weights)
        return Sampler("dcgan", net.sample, lambda: normal(NZ), (-1.0, 1.0))
    cfg = from_dict(VAERunConfig, facts["config"])
    decoder = Decoder(cfg.model)
    decoder.load_state_dict(weights)
    decoder.eval().requires_grad_(False)
    if facts["latents"] == "fitted":
        prior = packed_prior(folder, cfg, facts["vae_step"])
        return Sampler(stage, decoder, lambda: lambda n, g: prior.sample(n, g), cfg.model.value_range)
    return Sampler(stage, decoder, lambda: normal(cfg.model.latent_dim), cfg.model.value_range)


def run_files(run: Path, dest: Path) -> None:
    """An unfinished point's run folder without its pictures, checkpoints gzipped: what resuming needs."""
    for path in sorted(run.rglob("*")):
        if path.is_file() and "grids" not in path.parts and path.suffix not in (".png", ".gif", ".html"):
            target = dest / path.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".pt":
                target.with_name(target.name + ".gz").write_bytes(gzip.compress(path.read_bytes(), 6, mtime=0))
            else:
                shutil.copyfile(path, target)


@dataclass(frozen=True)
class Item:
    """Files packed together, `root`/name under `staging`, in the order `rank` (lowest first)."""

    rank: tuple[int, int]
    point: str
    files: tuple[Path, ...]
    staging: Path

    @property
    def size(self) -> int:  # as tar stores it: a 512-byte header per file, data padded to 512 bytes
        return sum(512 + 512 * math.ceil(f.stat().st_size / 512) for f in self.files)


def items(runs: Path, staging: Path) -> list[Item]:
    """Each trained point's files in the order they matter: finished points' results (the curve's, then the
    peers'), two stages' VAE decoders, how far unfinished points got (logs, metrics), then their checkpoints."""
    found = []
    for index, point in enumerate(POINTS):
        run, dest = runs / point.name, staging / point.name
        if not (run / "train.json").is_file():
            continue
        if finished(run):
            slim(run, point, dest)
            files = {p for p in dest.rglob("*") if p.is_file()}
            extra = {dest / "vae.pt.gz"} if point.two_stages else set()
            found.append(Item((0 if point in CURVE else 1, index), point.name, tuple(sorted(files - extra)), staging))
        else:
            run_files(run, dest / "run")
            files = {p for p in (dest / "run").rglob("*") if p.is_file()}
            extra = {p for p in files if p.name.endswith(".pt.gz")}
            found.append(Item((3, index), point.name, tuple(sorted(files - extra)), staging))
        if extra:
            rank = (2, index + 100 * point.seed) if finished(run) else (4, index)  # seed 0's VAEs first
            found.append(Item(rank, point.name, tuple(sorted(extra)), staging))
    return sorted(found, key=lambda item: item.rank)


def pack(runs: Path, out: Path) -> dict[str, Any]:
    """The points under `runs` into out/curve-K.tar (first fit, in rank order) and out/pack.json."""
    bins: list[list[Item]] = []
    left_out = []
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        for item in items(runs, Path(staging)):
            room = next((b for b in bins if sum(i.size for i in b) + item.size <= FILE_BYTES - TAR_END), None)
            new = room is None and len(bins) < MAX_FILES and item.size <= FILE_BYTES - TAR_END
            total = sum(i.size for b in bins for i in b) + TAR_END * (len(bins) + new) + item.size
            if (room is None and not new) or total > MAX_BYTES:
                left_out.append({"point": item.point, "files": [f.name for f in item.files], "bytes": item.size})
                continue
            if room is None:
                room = []
                bins.append(room)
            room.append(item)
        listing: dict[str, Any] = {"tars": {}, "left_out": left_out}
        for k, chosen in enumerate(bins, 1):
            path = out / f"curve-{k}.tar"
            with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:  # PAX adds a header per file
                for item in chosen:
                    for f in item.files:
                        tar.add(f, arcname=str(f.relative_to(item.staging)))
            listing["tars"][path.name] = {"bytes": path.stat().st_size, "points": sorted({i.point for i in chosen})}
    (out / "pack.json").write_text(json.dumps(listing, indent=1) + "\n")
    return listing


def unpack(packed: Path, dest: Path) -> list[Path]:
    """Every curve-K.tar in `packed` into dest/<point>/ (an unfinished point's run folder, checkpoints
    gunzipped, into dest/<point>/run/); the point folders found."""
    for path in sorted(packed.glob("curve-*.tar")):
        with tarfile.open(path) as tar:
            tar.extractall(dest, filter="data")
    for gz in dest.glob("*/run/**/*.pt.gz"):
        gz.with_suffix("").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    return sorted(p for p in dest.iterdir() if p.is_dir())


def carry(folder: Path) -> None:
    """The data a lent GPU lacks, for it to train every point: the emoji font (the render cache is keyed by its
    hash), that cache xz-compressed (rendering there could draw other pixels), Debian's Fashion-MNIST files."""
    from vaegan.data.emoji import FONT_PATH, _cache_file
    from vaegan.data.idx import FASHION_MNIST_ROOT

    train_images("emoji")  # renders the cache here if it is missing
    cache = _cache_file(Path(FONT_PATH), 64, 3, None)
    (folder / "fashion-mnist").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(FONT_PATH, folder / Path(FONT_PATH).name)
    (folder / (cache.name + ".xz")).write_bytes(lzma.compress(cache.read_bytes()))
    for path in Path(FASHION_MNIST_ROOT).glob("*.gz"):
        shutil.copyfile(path, folder / "fashion-mnist" / path.name)
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    print(f"wrote {folder}: {total / 2**20:.1f} MiB")


def place(folder: Path) -> None:
    """`carry`'s files where vaegan reads them, or where a --data-root flag (printed) points it; the emoji
    cache under ~/.cache/vaegan, its name as carried (the font's hash, the emoji package, the size)."""
    from vaegan.data.emoji import FONT_PATH
    from vaegan.data.idx import FASHION_MNIST_ROOT

    roots = []
    for source, target, data in (
        (folder / Path(FONT_PATH).name, Path(FONT_PATH), "emoji"),
        (folder / "fashion-mnist", Path(FASHION_MNIST_ROOT), "fashion-mnist"),
    ):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            else:
                shutil.copyfile(source, target)
        except OSError:  # not ours to write: vaegan reads it where it was carried
            roots.append(f"--data-root {data}={source.resolve()}")
    for xz in folder.glob("*.pt.xz"):
        cache = Path("~/.cache/vaegan/emoji").expanduser() / xz.name.removesuffix(".xz")
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(lzma.decompress(xz.read_bytes()))
    print(" ".join(roots))
