"""Latent-space subcommands: similar, interpolate, attribute, latent-map, kl-per-dim, curves, export, report.

Each parses its flags, calls one function of vaegan.pictures (or export / report) and prints what it wrote.
All take a run folder or checkpoint; `--stage vae|gan` picks the stage of a pipeline run (default: GAN).

Outputs follow the CLI's one convention (cli/outputs.py): `-o/--out DIR` is the folder a command writes
into, by default the run folder it reads; the file names are fixed (`similar_gan.png`, `report.html`) and
printed, so a run collects its own pictures. `-n/--num` is always how many images.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from vaegan.cli.outputs import add_out, output_path, picture_path
from vaegan.config import MAX_SEED
from vaegan.errors import VaeganError
from vaegan.export import FORMATS
from vaegan.limits import (
    MAX_ENCODED,
    MAX_GRID,
    MAX_STEPS,
    MAX_TARGETS,
    MAX_VARIANTS,
    check_count,
    check_finite,
    check_strengths,
)


def add_run(p: argparse.ArgumentParser, name: str, stage: bool = True) -> None:
    """The run argument, --stage when the picture depends on the decoder, and -o/--out DIR."""
    p.add_argument("run", type=Path, help="a run folder or checkpoint file")
    if stage:
        p.add_argument(
            "--stage",
            choices=("vae", "gan"),
            help="decode with the VAE decoder or the GAN generator (default: the GAN when the run has one)",
        )
    add_out(p, name)


def output(args: argparse.Namespace, name: str) -> Path:
    """DIR/name, where DIR is --out or the folder of the run argument (or --out itself, old style)."""
    return picture_path(args.out, args.run, name)


def check_out(args: argparse.Namespace) -> None:
    """-o can take the picture, checked before any model is loaded; output() names the file later."""
    output(args, "picture.png")


def add_targets(p: argparse.ArgumentParser, n: int) -> None:
    p.add_argument("--images", nargs="+", type=Path, help="image files or folders to start from")
    p.add_argument("--index", nargs="+", type=int, help="or: indices of images in the run's --split")
    p.add_argument("--split", choices=("train", "val"), default="val", help="dataset split for --index (default val)")
    p.add_argument("-n", "--num", type=int, default=n, help=f"how many images, picked from --split (default {n})")


def register(sub: Any) -> None:
    for add in (add_similar, add_interpolate, add_attribute, add_maps, add_outputs):
        add(sub)


def add_similar(sub: Any) -> None:
    p = sub.add_parser("similar", help="variants of images: z = mu(x) + s * sigma(x) * eps (or mu + s * eps)")
    add_run(p, "similar_STAGE.png")
    add_targets(p, 4)
    p.add_argument("--variants", type=int, default=8, help="variants per image (default 8)")
    p.add_argument("--scale", type=float, default=1.0, help="s; 0 gives the mean reconstruction (default 1)")
    p.add_argument(
        "--noise",
        choices=("posterior", "isotropic"),
        default="posterior",
        help="posterior: mu + s * sigma * eps (default); isotropic: mu + s * eps",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of eps (default 0)")
    p.set_defaults(func=run_similar)


def add_interpolate(sub: Any) -> None:
    p = sub.add_parser("interpolate", help="lerp and slerp between two images or two seeds: a PNG row and a GIF")
    add_run(p, "interpolation_STAGE.png and .gif")
    p.add_argument("--images", nargs=2, type=Path, help="two image files (encoded to their means)")
    p.add_argument("--seeds", nargs=2, type=int, help="or two seeds of z ~ N(0, I) (default 0 1)")
    p.add_argument("--steps", type=int, default=8, help="images from one end to the other (default 8)")
    p.add_argument("--method", choices=("lerp", "slerp", "both"), default="both", help="default both, one row each")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the seeds' z (default 1)")
    p.set_defaults(func=run_interpolate)


def add_attribute(sub: Any) -> None:
    p = sub.add_parser("attribute", help="attribute vector (mean z with - without) swept over images")
    add_run(p, "attribute_STAGE.png")
    add_targets(p, 6)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--label", help="a class (name or index) of the dataset's labels")
    source.add_argument(
        "--attribute",
        help="a boolean attribute of the dataset (emoji: skin_dark, smiling, man, ...) or of --attribute-file",
    )
    source.add_argument(
        "--folders",
        nargs=2,
        type=Path,
        metavar=("WITH", "WITHOUT"),
        help="two folders: images with the attribute, images without",
    )
    p.add_argument("--versus", help="the other class or attribute (default: everything else)")
    p.add_argument(
        "--attribute-file",
        type=Path,
        help="per-file attributes of a folder dataset: CelebA's "
        "list_attr_celeba.txt as is, or a CSV 'filename,attr1,...' of 1/-1",
    )
    p.add_argument(
        "--strengths",
        nargs="+",
        type=float,
        default=[-2, -1, 0, 1, 2],
        help="multiples of the vector, one column each (default -2 -1 0 1 2)",
    )
    p.set_defaults(func=run_attribute)


def add_maps(sub: Any) -> None:
    """latent-map, kl-per-dim and curves: pictures of the whole latent space or the whole run."""
    p = sub.add_parser("latent-map", help="posterior means on their 2 principal directions, and decodes over them")
    add_run(p, "latent_map_STAGE.png")
    p.add_argument("--split", choices=("train", "val"), default="val", help="dataset split (default val)")
    p.add_argument("--max-images", type=int, default=2000, help="images encoded, picked at random (default 2000)")
    p.add_argument("--grid", type=int, default=10, help="decoded images per side (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the image pick (default 0)")
    p.set_defaults(func=run_latent_map)

    # No --stage: both stages share the VAE's encoder, so the KL of either is the same.
    p = sub.add_parser("kl-per-dim", help="bar chart of KL per latent dimension and the active-unit count")
    add_run(p, "kl_per_dim.png", stage=False)
    p.add_argument("--split", choices=("train", "val"), default="val", help="dataset split (default val)")
    p.add_argument("--max-images", type=int, default=2000, help="images encoded (default 2000)")
    p.set_defaults(func=run_kl)

    p = sub.add_parser("curves", help="loss curves of both stages from metrics.jsonl")
    add_run(p, "curves.png", stage=False)
    p.set_defaults(func=run_curves)


def add_outputs(sub: Any) -> None:
    """export and report: a run turned into files to keep or share."""
    p = sub.add_parser(
        "export",
        help="the decoder / generator as ONNX, the run as Hub-style weights (--format hub) or as a static "
        "explorer site (--format web)",
        description="onnx: the decoder (VAE) or EMA generator (GAN), verified with onnxruntime: z (N, latent_dim) "
        "-> images (N, C, H, W) in [-1, 1], or [0, 1] for a model trained with --recon bce (sigmoid output). "
        "Map [-1, 1] to 0-255 by (x + 1) * 127.5. hub: every stage as a folder for vaegan.from_pretrained and the "
        "Hugging Face Hub (default -o RUN/hub): model.safetensors, config.json, the fitted prior, samples.png and a "
        "README.md model card; every vaegan tool opens it as a run. Upload it with: hf upload OWNER/NAME DIR. web: the "
        "latent explorer as a static site (default -o RUN/web): open DIR/index.html from disk or any static host; its "
        "decoders run in the page, with no server behind it.",
    )
    add_run(p, "decoder.onnx and generator.onnx (hub, web: the folder, default RUN/hub, RUN/web)", stage=False)
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (default), hub or web")
    p.add_argument("--stage", choices=("vae", "gan"), help="only this stage (default: every trained stage)")
    p.set_defaults(func=run_export)

    p = sub.add_parser("report", help="one self-contained HTML page about a run: pictures, curves and metrics")
    add_run(p, "report.html", stage=False)
    p.set_defaults(func=run_report)


def targets(args: argparse.Namespace, models: Any, default: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 images from --images, --index, `default`, or -n seeded picks of the split."""
    from vaegan.data.folder import load_image_files
    from vaegan.pictures import dataset, pick

    data_cfg = models.cfg.data
    if args.images:
        return load_image_files(args.images, data_cfg.image_size, data_cfg.channels, most=MAX_TARGETS)
    if args.index is None and default is not None:
        return default[pick(args.num, len(default), 0)]
    images = dataset(models, args.split).images
    if args.index is None:
        return images[pick(args.num, len(images), 0)]
    bad = [i for i in args.index if not 0 <= i < len(images)]
    if bad:
        raise VaeganError(f"--index {bad[0]} is outside the {args.split} split's {len(images)} images")
    return images[torch.tensor(args.index)]


def check_targets(args: argparse.Namespace) -> None:
    """-n, --index and --images of a picture with a row per image, before any model is loaded or image read."""
    from vaegan.data.folder import image_files

    check_count(args.num, 1, MAX_TARGETS, "-n")
    if args.images and args.index is not None:
        raise VaeganError("--images and --index both pick the images to start from; pass one of them")
    if args.index is not None:
        check_count(len(args.index), 1, MAX_TARGETS, "the number of --index values")
    if args.images:
        image_files(args.images, most=MAX_TARGETS)


def run_similar(args: argparse.Namespace) -> int:
    from vaegan.pictures import load_models, similar_picture

    check_out(args)
    check_targets(args)
    check_count(args.variants, 1, MAX_VARIANTS, "--variants")
    check_finite(args.scale, "--scale")
    check_count(args.seed, 0, MAX_SEED, "--seed")
    models = load_models(args.run, args.stage)
    image = similar_picture(
        models,
        targets(args, models),
        args.variants,
        args.scale,
        args.seed,
        posterior=args.noise == "posterior",
    )
    print(save(image, output(args, f"similar_{models.stage}.png")))
    return 0


def run_interpolate(args: argparse.Namespace) -> int:
    from vaegan.data.folder import image_files, load_image_files
    from vaegan.pictures import endpoints_from_seeds, interpolation_frames, load_models
    from vaegan.viz import save_gif

    check_out(args)
    check_count(args.steps, 2, MAX_STEPS, "--steps")
    check_finite(args.temperature, "--temperature", low=0)
    if args.images and args.seeds is not None:
        raise VaeganError("--images and --seeds both pick the two ends; pass one of them")
    seeds = args.seeds or [0, 1]
    for seed in seeds:
        check_count(seed, 0, MAX_SEED, "--seeds")
    if args.images:
        image_files(args.images, most=2)  # a folder of thousands is refused before any is read
    models = load_models(args.run, args.stage)
    images = None
    if args.images:
        images = load_image_files(args.images, models.cfg.data.image_size, models.cfg.data.channels, most=2)
        if len(images) < 2:
            raise VaeganError(f"--images {' '.join(map(str, args.images))} hold one image; pass two image files")
        a, b = models.encode_images(images)[0]
    else:
        a, b = endpoints_from_seeds(models, seeds, args.temperature)
    methods = ("lerp", "slerp") if args.method == "both" else (args.method,)
    grid, frames, labels = interpolation_frames(models, a, b, args.steps, methods, images)
    path = save(grid, output(args, f"interpolation_{models.stage}.png"))
    print(path)
    frames = frames + frames[-2:0:-1]  # there and back, so the loop has no jump
    labels = labels + labels[-2:0:-1]
    print(save_gif(frames, path.with_suffix(".gif"), labels, ms_per_frame=250))
    return 0


def run_attribute(args: argparse.Namespace) -> int:
    from vaegan import attributes
    from vaegan.data.folder import load_image_files
    from vaegan.pictures import attribute_picture, dataset, load_models

    check_out(args)
    check_targets(args)
    check_strengths(args.strengths, "--strengths")
    if args.folders and args.folders[0].resolve() == args.folders[1].resolve():
        raise VaeganError(
            f"--folders names {args.folders[0]} twice, so the direction between them is zero; pass a folder of "
            "images with the attribute, then one without"
        )
    models = load_models(args.run, args.stage)
    size, channels = models.cfg.data.image_size, models.cfg.data.channels
    if args.folders:
        pos, neg = (load_image_files([f], size, channels) for f in args.folders)
        groups = attributes.from_folders(pos, neg, args.folders[0].name, args.folders[1].name)
    else:
        # the table before the data: a file that is no table fails at once
        read = attributes.read_attribute_table(args.attribute_file) if args.attribute_file else None
        data = dataset(models, "train")
        if args.label is not None:
            groups = attributes.from_labels(data, args.label, args.versus)
        else:
            table = attributes.align_table(data.names, *read) if read else None
            groups = attributes.from_attributes(data, args.attribute, args.versus, table)
    image = attribute_picture(models, groups, targets(args, models, groups.images[groups.negative]), args.strengths)
    print(f"direction: {groups.description}")
    print(save(image, output(args, f"attribute_{models.stage}.png")))
    return 0


def run_latent_map(args: argparse.Namespace) -> int:
    from vaegan.pictures import dataset, latent_map_picture, load_models

    check_out(args)
    check_count(args.grid, 2, MAX_GRID, "--grid")
    check_count(args.max_images, 3, MAX_ENCODED, "--max-images")
    check_count(args.seed, 0, MAX_SEED, "--seed")
    models = load_models(args.run, args.stage)
    print(
        save(
            latent_map_picture(models, dataset(models, args.split), args.max_images, args.grid, args.seed),
            output(args, f"latent_map_{models.stage}.png"),
        )
    )
    return 0


def run_kl(args: argparse.Namespace) -> int:
    from vaegan.latent import active_units
    from vaegan.pictures import dataset, kl_picture, load_models, pick

    check_out(args)
    check_count(args.max_images, 1, MAX_ENCODED, "--max-images")
    models = load_models(args.run)  # either stage: the encoder is the VAE's
    images = dataset(models, args.split).images
    chart, kl = kl_picture(models, images[pick(args.max_images, len(images), 0)])
    print(f"active units: {int(active_units(kl).sum())} of {len(kl)}")
    print(save(chart, output(args, "kl_per_dim.png")))
    return 0


def run_curves(args: argparse.Namespace) -> int:
    from vaegan.pictures import curves_picture

    check_out(args)
    print(save(curves_picture(args.run), output(args, "curves.png")))
    return 0


def run_export(args: argparse.Namespace) -> int:
    from vaegan.export import export_run

    if args.format in ("hub", "web"):
        return run_folder_export(args)
    for result in export_run(args.run, args.out, args.stage, args.format):
        lo, hi = result.value_range
        print(
            f"{result.path} ({result.stage}; outputs images in [{lo:g}, {hi:g}]; "
            f"max abs difference from torch {result.max_abs_error:.1e})"
        )
    return 0


def run_folder_export(args: argparse.Namespace) -> int:
    """--format hub or web: a folder holding every stage of the run."""
    from vaegan.explorer.site import export_site
    from vaegan.hub import save_pretrained

    if args.stage is not None:
        raise VaeganError(
            f"--stage picks an ONNX file; a {args.format} export holds every stage of the run, so drop --stage"
        )
    out = args.out or output_path(None, args.run, args.format)
    if args.format == "web":
        site = export_site(args.run, out)
        print(f"{site.index} ({site.files} files, {site.bytes / 1e6:.1f} MB): open it in a browser")
        return 0
    for path in sorted(save_pretrained(args.run, out).iterdir()):
        print(path)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from vaegan.runs import open_run, read_metrics

    path = output_path(args.out, args.run, "report.html")
    for stage in open_run(args.run).stages.values():
        read_metrics(stage.folder)  # a damaged log is refused before the report's pictures load their models
    from vaegan.report import write_report

    print(write_report(args.run, path))
    return 0


def save(image: Any, path: Path) -> Path:
    from vaegan.viz import check_image_path

    check_image_path(path)  # a clear message for an unwritable folder, and the folder made
    image.save(path)
    return path
