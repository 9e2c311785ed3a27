"""`vaegan evaluate RUN`: likelihood, reconstruction and sample-quality metrics of a trained run, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vaegan.errors import VaeganError

EPILOG = """JSON keys: run, data, split, n_images, model, reconstruction, density, k;
likelihood: neg_elbo (rec + KL, nats, as in training logs), nll_elbo and nll_iwae (upper bounds on -log p(x)
in nats with the decoder's normaliser), bpd_elbo, bpd_iwae, reconstruction, kl, mse ([0, 1] scale), psnr (dB);
feature_net: kind, test_accuracy, path; reference (real training images: the floor), vae_samples and
gan_samples: fid, kid, precision, recall, density, coverage, artifact (2-pixel-period energy share over
real), and on labelled data classes_covered,
class_coverage, class_kl; inception (with --inception): fid and kid per row."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="likelihood bounds, reconstruction error and FID/KID/PR/DC of a run (no downloads)",
        epilog=EPILOG,
    )
    p.add_argument("run", type=Path, help="a train-vae, train-gan or pipeline run folder, or a checkpoint")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="held-out images (default test)")
    p.add_argument("-k", type=int, default=64, help="importance samples for the IWAE bound; 0 skips it (default 64)")
    p.add_argument("--samples", type=int, default=5000, help="generated and real images for FID etc. (default 5000)")
    p.add_argument("--max-images", type=int, help="cap on images for the likelihood (default: the whole split)")
    p.add_argument(
        "--cache-dir",
        help="where feature nets are cached (default: the run's data cache_dir or ~/.cache/vaegan)",
    )
    p.add_argument(
        "--inception",
        type=Path,
        metavar="PTH",
        help="pytorch-fid's pt_inception-2015-12-05 weights file, for literature-comparable FID (slow on a CPU)",
    )
    p.add_argument(
        "--feature-steps",
        type=int,
        default=1500,
        help="training steps of the feature net when it is not cached yet (default 1500, about a minute)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of posterior and prior samples (default 0)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics to this JSON file")
    p.set_defaults(func=run_evaluate)


def format_table(report: dict[str, Any]) -> str:
    """Sections as blocks of `name  value` rows; floats to 4 significant digits."""
    lines = [
        f"{report['run']}: {report['model']} ({report['reconstruction']}) on {report['data']} "
        f"{report['split']}, {report['n_images']} images"
    ]
    for section in ("likelihood", "feature_net", "reference", "vae_samples", "gan_samples"):
        if section in report:
            lines.append(f"[{section}]")
            lines += [
                f"  {key:<16}{value:.4g}" if isinstance(value, float) else f"  {key:<16}{value}"
                for key, value in report[section].items()
            ]
    for name, values in report.get("inception", {}).items():
        lines.append(f"[inception/{name}]  fid {values['fid']:.4g}  kid {values['kid']:.4g}")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from vaegan.metrics.evaluation import evaluate_run

    if args.k < 0:
        raise VaeganError(f"-k must be >= 0, got {args.k}")
    report = evaluate_run(
        args.run,
        split=args.split,
        k=args.k,
        samples=args.samples,
        max_images=args.max_images,
        cache_dir=args.cache_dir,
        inception=args.inception,
        seed=args.seed,
        feature_steps=args.feature_steps,
    )
    print(format_table(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"json: {args.json}")
    return 0
