"""Scratch screen: GAN variants from one trained VAE at equal steps; D gap, sharpness, defect, (Inception FID)."""

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from vaegan.config import GANConfig, GANRunConfig
from vaegan.data import load_splits, to_float, to_uint8
from vaegan.metrics.defects import defect_score
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.prior import fitted_prior
from vaegan.runs import load_generator, open_run, read_metrics
from vaegan.training.train_gan import train_gan


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vae", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=9)
    p.add_argument("--set", nargs="*", default=[])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--inception", type=int, default=0)
    a = p.parse_args()
    over = {}
    for kv in a.set:
        k, v = kv.split("=")
        try:
            v = json.loads(v)
        except json.JSONDecodeError:
            pass
        over[k] = v
    run = open_run(a.vae)
    splits = load_splits(run.config.data, run.path)
    gc = GANConfig(epochs=a.epochs, quality_every=0, **over)
    out = Path(a.out)
    t0 = time.time()
    if not (out / "checkpoint.pt").exists() or open_run(out).stage("gan").checkpoint.loop.epoch < a.epochs:
        resume = (out / "checkpoint.pt").exists()
        train_gan(
            GANRunConfig(str(Path(a.vae)), gc),
            out,
            splits=splits,
            progress=False,
            resume=resume,
            wanted={"gan": {"epochs": a.epochs}} if resume else None,
        )
    secs = time.time() - t0
    metrics = read_metrics(out)
    last = [m for m in metrics if "d_real" in m][-1]
    g, cfg = load_generator(out)
    vae = run.vae()
    vr = cfg.model.value_range
    prior = fitted_prior(run)
    z = prior.sample(a.n, torch.Generator().manual_seed(123))
    with torch.no_grad():
        fake = torch.cat([g(z[i : i + 250]).float() for i in range(0, a.n, 250)])
        base = torch.cat([vae.decode(z[i : i + 250]).float() for i in range(0, a.n, 250)])
    real = to_float(splits.train.images[: a.n], vr)
    row = {
        "set": over,
        "epochs": a.epochs,
        "seconds": secs,
        "d_real": last["d_real"],
        "d_fake": last["d_fake"],
        "gap": last["d_real"] - last["d_fake"],
        "sharp": sharpness_ratio(fake, real, value_range=vr),
        "sharp_vae": sharpness_ratio(base, real, value_range=vr),
        "defect": defect_score(fake, real, value_range=vr),
        "defect_vae": defect_score(base, real, value_range=vr),
        "apart": float((to_uint8(fake, vr).float() - to_uint8(base, vr).float()).abs().mean()),
        "epochs_log": [(m["d_real"], m["d_fake"]) for m in metrics if "d_real" in m],
    }
    if a.inception:
        from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features

        net = load_fid_net()
        feats, _ = real_features(net, run.config.data, None)
        for name, imgs in (("fid", fake), ("fid_vae", base)):
            s = fid_kid(feats, embed_images(net, to_uint8(imgs[: a.inception], vr), "cpu", desc=name))
            row[name] = s["fid"]
            row[name.replace("fid", "kid")] = s["kid"]
    from vaegan.viz import save_grid

    save_grid(torch.cat([base[:32], fake[:32]]), out / "same_z.png", vr, nrow=8)
    (out / "screen.json").write_text(json.dumps(row, indent=1))
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items() if k != "epochs_log"}))
    print("per epoch D(x)/D(G(z)):", " ".join(f"{r:.3f}/{f:.3f}" for r, f in row["epochs_log"]))


if __name__ == "__main__":
    sys.exit(main())
