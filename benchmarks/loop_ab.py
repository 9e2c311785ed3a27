"""A/B: whole-epoch training throughput of the loops in two source trees, interleaved (ABAB...).

    git worktree add --detach /tmp/old REV && python benchmarks/loop_ab.py /tmp/old/src src [rounds]

Each round runs, in a fresh subprocess per tree, one VAE epoch and one GAN epoch on 6,400 Fashion-MNIST
images (batch 128, fp32, contiguous) and reads images/s from metrics.jsonl (train_seconds: the steps
alone). Interleaving makes a busy neighbour slow both trees alike; the medians are compared.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, json, torch
from pathlib import Path
from vaegan.config import vae_run_config, GANConfig, GANRunConfig
from vaegan.data import load_splits, DataSplits
from vaegan.training.train_vae import train_vae
from vaegan.training.train_gan import train_gan
out = Path(sys.argv[1])
fixed = {"device": "cpu", "precision": "fp32", "memory_format": "contiguous", "quality_every": 0, "grid_size": 16}
cfg = vae_run_config(
    data={"source": "fashion-mnist", "image_size": 28, "channels": 1}, loss={"reconstruction": "bce"},
    model={"latent_dim": 32}, train={"epochs": 1, "batch_size": 128, **fixed},
)
s = load_splits(cfg.data)
splits = DataSplits(train=s.train.subset(torch.arange(6400)), val=s.val.subset(torch.arange(512)), test=s.test)
train_vae(cfg, out / "vae", splits=splits, progress=False)
g = GANConfig(epochs=1, batch_size=128, diversity_samples=64, **fixed)
gan_run = GANRunConfig(vae_checkpoint=str(out / "vae" / "checkpoint.pt"), gan=g)
train_gan(gan_run, out / "gan", splits=splits, progress=False)
for stage in ("vae", "gan"):
    r = [json.loads(line) for line in (out / stage / "metrics.jsonl").read_text().splitlines() if "epoch" in line][-1]
    print(stage, 6400 / r["train_seconds"])
"""


def run(src: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        env = {"PYTHONPATH": src, "PATH": "/usr/bin"}
        res = subprocess.run([sys.executable, "-c", CHILD, d], env=env, capture_output=True, text=True, check=True)
    return {line.split()[0]: float(line.split()[1]) for line in res.stdout.splitlines()}


def main() -> None:
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    got: dict[str, list[dict[str, float]]] = {a: [], b: []}
    for _ in range(rounds):
        for src in (a, b):
            got[src].append(run(src))
    for stage in ("vae", "gan"):
        ma = statistics.median(r[stage] for r in got[a])
        mb = statistics.median(r[stage] for r in got[b])
        each = f"{[round(r[stage]) for r in got[a]]} vs {[round(r[stage]) for r in got[b]]}"
        print(f"{stage}: {a} {ma:.0f} img/s, {b} {mb:.0f} img/s, ratio {mb / ma:.3f} (each round: {each})")


if __name__ == "__main__":
    main()
