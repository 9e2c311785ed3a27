"""Benchmark: does the GAN redraw what its VAE blurred? Both stages of `vaegan run` folders on the same z.

    python benchmarks/same_z.py runs/emoji --samples 2000 --record same-z-quick

For each run: N z from the run's own prior (the flow or mixture saved beside its VAE, seeded), decoded by the
VAE and by the GAN's EMA generator; Inception FID and KID of each set against the protocol's real images
(docs/FID.md, real features cached once per machine), the GAN's FID over the VAE's, sharpness (Laplacian
variance over real's, metrics/sharpness.py), the defect score and the mean difference per pixel between
the two sets, plus the last GAN epoch's D(x) and D(G(z)). Runs sharing one VAE (its checkpoint's bytes)
score its samples once. Writes docs/results/<data>/<record>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import torch
from report import machine

from vaegan.data import load_splits, to_uint8
from vaegan.latent import decode_batched
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.prior import fitted_prior
from vaegan.runs import open_run, read_metrics


def scores(images: torch.Tensor, real: torch.Tensor, net: Any, real_feats: torch.Tensor, desc: str) -> dict[str, float]:
    """Inception FID/KID, sharpness and defect of uint8 `images` against uint8 `real`."""
    measured = fid_kid(real_feats, embed_images(net, images, desc=desc))
    return {
        "fid": measured["fid"],
        "kid": measured["kid"],
        "sharpness": sharpness_ratio(images, real),
        "defect": defect_score(images, real),
    }


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="vaegan run folders (vae/ and gan/ inside)")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", required=True, help="the record's name: docs/results/<data>/<record>.json")
    args = parser.parse_args()
    net, rows, by_vae = load_fid_net(), {}, {}
    for folder in args.runs:
        run = open_run(folder)
        data = run.config.data
        real_feats, real_name = real_features(net, data)
        real = load_splits(data, run.path).train.images
        prior = fitted_prior(run)
        value_range = run.config.model.value_range
        z = prior.sample(args.samples, torch.Generator().manual_seed(args.seed))
        vae_key = hashlib.sha1(run.stage("vae").checkpoint_path.read_bytes()).hexdigest()
        vae_images = to_uint8(decode_batched(run.vae().decode, z).float(), value_range)
        if vae_key not in by_vae:
            by_vae[vae_key] = scores(vae_images, real, net, real_feats, f"{folder.name} VAE")
        gan_images = to_uint8(decode_batched(run.generator(), z).float(), value_range)
        gan = scores(gan_images, real, net, real_feats, f"{folder.name} GAN")
        last = [m for m in read_metrics(run.stage("gan").folder) if "d_real" in m][-1]
        rows[str(folder)] = {
            "config": {k: v for k, v in run.stage("gan").checkpoint.config.gan.__dict__.items() if k != "device"},
            "vae": by_vae[vae_key],
            "gan": gan,
            "gan_over_vae_fid": gan["fid"] / by_vae[vae_key]["fid"],
            "apart": float((gan_images.float() - vae_images.float()).abs().mean()),
            "d_real": last["d_real"],
            "d_fake": last["d_fake"],
            "real": real_name,
        }
        print(folder, json.dumps({k: v for k, v in rows[str(folder)].items() if k != "config"}), flush=True)
    record = {
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "samples": args.samples,
        "seed": args.seed,
        "rows": rows,
    }
    out = Path("docs/results") / data.source / f"{args.record}.json"
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(out)


if __name__ == "__main__":
    main()
