"""Levers 33: which prior feeds G best, on one trained run (no training): Inception FID of 2,000 samples of G
(and the VAE's decoder, unless GAN_ONLY=1) on z from each row's prior, the same seed for every row.

    GAN_ONLY=1 PYTHONPATH=src:benchmarks python benchmarks/prior_screen.py RUN OUT.json ROW [ROW ...]

rows: flow (the run's own flow), flow_t0.9 (its base noise at temperature 0.9), flowbig (width 256, depth 6,
30,000 steps), flow_w{W}_d{D}_s{S} (width, depth, steps), posterior (the posterior means of 2,000 training
images: what a prior that drew exactly the training latents would give). Each row also gives the Inception
copy rate and, for rows run after the first ones, the latent copy rate (sampled z nearer a training mean
than the held-out median) beside the held-out floor. A row is written to OUT.json as it finishes; rows
already there are skipped. The samples' z are kept under /work/z.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch
from quality import copy_check

from vaegan.data import load_splits
from vaegan.flow_prior import RECIPE, fit_flow
from vaegan.metrics.copies import CopyCheck
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features, reference_images
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.prior import fitted_prior, posterior_means
from vaegan.runs import open_run

N = 2000
torch.set_num_threads(1)
run_dir, out, rows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
run = open_run(run_dir)
cfg = run.config
vr = cfg.model.value_range
vae = run.vae()
g = run.generator()
train = load_splits(cfg.data, run.path).train.images
results = json.loads(out.read_text()) if out.is_file() else {}
net = load_fid_net()
real, _ = real_features(net, cfg.data)
real_images = reference_images(cfg.data)[0]
copies = copy_check(real, cfg.data)


def to_uint8(x):
    return ((x.float() - vr[0]) / (vr[1] - vr[0]) * 255).round().clamp(0, 255).to(torch.uint8)


def decode(net_, z):
    with torch.no_grad():
        return torch.cat([to_uint8(net_(z[i : i + 250])) for i in range(0, len(z), 250)])


def latents(row):
    gen = torch.Generator().manual_seed(10_000)
    if row.startswith("posterior"):
        idx = torch.randperm(len(train), generator=gen)[:N]
        from vaegan.data import to_float

        with torch.no_grad():
            q = vae.encode(to_float(train[idx], vr))
            if row == "posterior":
                return q.mean
            return q.mean + (0.5 * q.logvar).exp() * torch.randn(q.mean.shape, generator=gen)
    if row.startswith("flowbig") or row.startswith("flow_w"):
        with torch.no_grad():
            z = posterior_means(vae, train)
        recipe = dict(RECIPE, width=256, depth=6, max_steps=30_000, epochs=10_000)
        if row.startswith("flow_w"):  # flow_w{width}_d{depth}_s{steps}
            w, d, st = (int(part[1:]) for part in row.split("_")[1:4])
            recipe = dict(RECIPE, width=w, depth=d, max_steps=st, epochs=10**6)
        t0 = time.time()
        prior = fit_flow(z, recipe)
        print(row, "fit", round(time.time() - t0), "s", flush=True)
        return prior.sample(N, gen)
    prior = fitted_prior(run)
    t = float(row.split("_t")[1]) if "_t" in row else 1.0
    return prior.sample(N, gen, temperature=t)


for row in rows:
    if row in results:
        continue
    start = time.time()
    z = latents(row)
    Path("/work/z").mkdir(exist_ok=True)
    torch.save(z, f"/work/z/{run_dir.name}-{row}.pt")
    with torch.no_grad():
        mu_train = posterior_means(vae, train)
        mu_held = posterior_means(vae, load_splits(cfg.data, run.path).val.images)
    latent = CopyCheck.fit(mu_train, mu_held)
    entry = {}
    for name, net_ in (("gan", g), ("vae", vae.decode))[: 1 if os.environ.get("GAN_ONLY") else 2]:
        fake = decode(net_, z)
        feats = embed_images(net, fake, desc=f"{row} {name}")
        m = fid_kid(real, feats)
        m["copy_rate"] = round(copies.rate(feats), 3)
        entry[name] = {
            "fid": round(m["fid"], 2),
            "kid": round(m["kid"], 5) if not isinstance(m["kid"], dict) else m["kid"],
            "sharpness": round(float(sharpness_ratio(fake, real_images)), 3),
            "defect": round(float(defect_score(fake, real_images)), 3),
            "copy_rate": m["copy_rate"],
            "copy_floor": round(copies.floor, 3),
        }
    entry["latent_copy_rate"], entry["latent_copy_floor"] = round(latent.rate(z), 3), round(latent.floor, 3)
    entry["seconds"] = round(time.time() - start)
    results[row] = entry
    out.write_text(json.dumps(results, indent=1))
    print(row, json.dumps(entry), flush=True)
