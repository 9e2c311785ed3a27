"""Levers 40: how many Heun steps the flow prior's z draw needs, on one trained run (no training).

    PYTHONPATH=src:benchmarks python benchmarks/flow_steps.py RUN OUT.json [STEPS ...]

For each step count (default 32 16 8 4): 2,000 z from the run's fitted flow with the same seed, their
distance to the 32-step z (relative to the z's spread), G's samples on them scored by Inception FID and KID
against the protocol's real features, sharpness and defect against real images, and the draw's time for a
batch on this process's threads (TIME=1: timings only, interleaved, best of 5, as ratios to the 32-step draw
timed in the same process; run it alone). A row is written to OUT.json as it finishes; rows already there
are skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path

import torch
from curve_points.score import draw

from vaegan.flow_prior import FlowPrior
from vaegan.metrics.defects import defect_score
from vaegan.metrics.inception_fid import embed_images, fid_kid, load_fid_net, real_features, reference_images
from vaegan.metrics.sharpness import sharpness_ratio
from vaegan.prior import fitted_prior
from vaegan.runs import Run, open_run
from vaegan.training.loop import Sampler

N, SEED = 2000, 10_000


def cfg_batch(run: Run) -> int:
    """The GAN stage's batch: one draw of z per GAN step."""
    return int(run.stage("gan").checkpoint.config.gan.batch_size)  # type: ignore[attr-defined]


def timings(base: FlowPrior, steps: list[int], batch: int, repeats: int = 5) -> dict[str, float]:
    """Milliseconds per draw of `batch` z at each step count, the best of `repeats`, interleaved so that a change
    in the machine's load falls on every count alike."""
    best = {k: float("inf") for k in steps}
    for i in range(repeats):
        for k in steps:
            start = time.perf_counter()
            dataclasses.replace(base, steps=k).sample(batch, torch.Generator().manual_seed(i))
            best[k] = min(best[k], time.perf_counter() - start)
    return {f"heun{k}": round(best[k] * 1000, 1) for k in steps}


def main() -> None:
    run_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    steps = [int(s) for s in sys.argv[3:]] or [32, 16, 8, 4]
    run = open_run(run_dir)
    cfg = run.config
    base = fitted_prior(run)
    assert isinstance(base, FlowPrior), f"{run_dir} samples z from a {type(base).__name__}, not a flow"
    results = json.loads(out.read_text()) if out.is_file() else {}
    if os.environ.get("TIME"):
        batch = cfg_batch(run)
        results[f"draw_ms_batch{batch}_threads{torch.get_num_threads()}"] = timings(
            base, sorted({32, *steps}, reverse=True), batch
        )
        out.write_text(json.dumps(results, indent=1))
        print(json.dumps(results, indent=1))
        return
    g = run.generator().eval().requires_grad_(False)
    results.setdefault("command", shlex.join(["python", *sys.argv]))
    results.setdefault("run", str(run_dir))
    net = load_fid_net()
    real, _ = real_features(net, cfg.data)
    real_images = reference_images(cfg.data)[0]
    reference = dataclasses.replace(base, steps=32).sample(N, torch.Generator().manual_seed(SEED))
    spread = (reference - reference.mean(0)).norm(dim=1).mean()
    for k in steps:
        row = f"heun{k}"
        if row in results:
            continue
        prior = dataclasses.replace(base, steps=k)
        z = prior.sample(N, torch.Generator().manual_seed(SEED))
        sampler = Sampler("gan", g, lambda p=prior: lambda n, gen: p.sample(n, gen), cfg.model.value_range)
        fake = draw(sampler, N, SEED)
        scores = fid_kid(real, embed_images(net, fake, desc=row))
        results[row] = {
            "fid": round(scores["fid"], 2),
            "kid": round(scores["kid"], 5),
            "sharpness": round(float(sharpness_ratio(fake, real_images)), 3),
            "defect": round(float(defect_score(fake, real_images)), 3),
            "z_distance_to_heun32": round(float((z - reference).norm(dim=1).mean() / spread), 4),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1))
        print(row, json.dumps(results[row]), flush=True)


if __name__ == "__main__":
    main()
