"""Levers 43-44: does the flow prior or G hold a trained run back? Inception FID of N samples of the run's G on z
from each row's prior, the same seed for every row, no training of G.

    PYTHONPATH=src:benchmarks python benchmarks/prior_probe.py RUN OUT.json ROW [ROW ...]

rows: flow (the run's own flow prior), posterior (the posterior means of N training images: a prior that drew
exactly the training latents), held_out (those of N held-out images: a prior as good as the data), flow_s{S}
(the default recipe fitted for S steps instead of 10,000), flow_w{W}_s{S} (and W wide instead of 256; a part
b{B} fits batches of B, l{L} draws t logit-normal of spread L), flow_t{T} (the run's flow with its base
noise scaled by T). A row is written to OUT.json as it finishes; rows already there are skipped.
"""

import json
import re
import sys
import time
from pathlib import Path

import torch

from vaegan.data import load_splits, to_float, to_uint8
from vaegan.flow_prior import RECIPE, fit_flow
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features, reference_images
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.prior import fitted_prior, posterior_means
from vaegan.runs import open_run

N = 2000
SEED = 10_000
run_dir, out, rows = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
ROW = re.compile(r"flow|posterior|held_out|flow_t[0-9.]+|flow(_[swbl][0-9.]+)+")
if unknown := [row for row in rows if not ROW.fullmatch(row)]:
    raise SystemExit(f"unknown rows {unknown}: see this file's docstring")
run = open_run(run_dir)
cfg = run.config
low, high = cfg.model.value_range
vae, g = run.vae().eval(), run.generator().eval()
splits = load_splits(cfg.data, run.path)
train = splits.train.images
net = load_fid_net()
real, real_name = real_features(net, cfg.data)
real_images = reference_images(cfg.data)[0]
results = json.loads(out.read_text()) if out.is_file() else {}


def latents(row: str) -> tuple[torch.Tensor, dict]:
    gen = torch.Generator().manual_seed(SEED)
    if row in ("posterior", "held_out"):
        images = train if row == "posterior" else splits.val.images
        pick = torch.randperm(len(images), generator=gen)[:N]
        with torch.no_grad():
            return vae.encode(to_float(images[pick], (low, high))).mean, {"images": len(images)}
    if row.startswith(("flow_s", "flow_w", "flow_b", "flow_l")):
        changes = {"w": "width", "s": "max_steps", "b": "batch", "l": "t_logit"}
        parts = {changes[part[0]]: float(part[1:]) for part in row.split("_")[1:]}
        recipe = dict(RECIPE, epochs=10**6) | {k: int(v) if v.is_integer() else v for k, v in parts.items()}
        start = time.time()
        with torch.no_grad():
            z = posterior_means(vae, train)
        prior = fit_flow(z, recipe)
        return prior.sample(N, gen), {"fit_seconds": round(time.time() - start), "recipe": recipe}
    temperature = float(row.removeprefix("flow_t")) if row.startswith("flow_t") else 1.0
    return fitted_prior(run).sample(N, gen, temperature), {}


for row in rows:
    if row in results:
        continue
    start = time.time()
    z, entry = latents(row)
    with torch.no_grad():
        fake = to_uint8(torch.cat([g(z[i : i + 250]) for i in range(0, len(z), 250)]), (low, high))
    m = fid_kid(real, embed_images(net, fake, desc=row))
    entry |= {
        "fid": round(m["fid"], 2),
        "kid": m["kid"],
        "sharpness": round(float(sharpness_ratio(fake, real_images)), 3),
        "defect": round(float(defect_score(fake, real_images)), 3),
        "samples": N,
        "real": f"{real_name} ({len(real)})",
        "seconds": round(time.time() - start),
    }
    results[row] = entry
    results["command"] = "PYTHONPATH=src:benchmarks python benchmarks/prior_probe.py " + " ".join(sys.argv[1:])
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(row, json.dumps(entry), flush=True)
