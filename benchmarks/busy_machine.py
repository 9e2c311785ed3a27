"""What a busy machine costs training: the shipped emoji VAE step alone, then two side by side, per wait policy.

    python benchmarks/busy_machine.py                      # ~4 min on an idle 2-core machine
    python benchmarks/busy_machine.py --record epyc-f25    # also docs/results/busy/epyc-f25.json

Each worker is a fresh process running `vaegan run`'s 64x64 VAE step (fp32, batch 64) for --seconds of
wall-clock. Two workers side by side on all the cores share them; the question is whether each gets its
share (about half its speed alone) or much less, as when OpenMP threads spin waiting for threads the
other program holds off the cores. The vaegan command sets OMP_WAIT_POLICY=PASSIVE unless the
environment names one (vaegan/cli/__init__.py); ACTIVE is libgomp's spinning default elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from vaegan.training import speed

RECORDS = Path(__file__).resolve().parent.parent / "docs" / "results" / "busy"
# (label, environment): the wait policies, and one thread per worker, which cannot spin against itself
SETTINGS = (
    ("OMP_WAIT_POLICY=ACTIVE", {"OMP_WAIT_POLICY": "ACTIVE"}),
    ("OMP_WAIT_POLICY=PASSIVE (vaegan's)", {"OMP_WAIT_POLICY": "PASSIVE"}),
    ("1 thread each", {"OMP_NUM_THREADS": "1"}),
)

WORKER = """
import sys, time, torch
from vaegan.cli.options import pipeline_configs
from vaegan.models.vae import VAE
from vaegan.training.common import adam
from vaegan.training.train_vae import vae_step
cfg, _, _ = pipeline_configs({"data": {"source": "emoji"}})
torch.manual_seed(0)
model = VAE(cfg.model)
opt = adam(model.parameters(), lr=1e-4)
x, eps = torch.rand(64, 3, 64, 64), torch.randn(64, cfg.model.latent_dim)
cpu = torch.device("cpu")
def step():
    vae_step(model, opt, x, eps, loss=cfg.loss, beta=1.0, value_range=cfg.model.value_range, device=cpu, bf16=False)
step()
seconds, n, start = float(sys.argv[1]), 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    step()
    n += 1
print(64 * n / (time.perf_counter() - start))
"""


def workers(count: int, env: dict[str, str], seconds: float) -> list[float]:
    """Images per second of `count` workers started together."""
    full = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(filter(None, ["src", os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(seconds)], env=full, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="wall-clock per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--record", metavar="NAME", help=f"also save the table as {RECORDS}/NAME.json")
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    rows = []
    for label, env in SETTINGS:
        alone, pair = [], []
        for _ in range(args.rounds):  # alone and side by side in turn, so a drifting machine moves both
            alone += workers(1, env, args.seconds)
            pair += workers(2, env, args.seconds)
        share = min(pair) / max(alone)  # the worse worker against the better lone run
        rows.append({"setting": label, "alone": alone, "side_by_side": pair, "worst_share": round(share, 3)})
        print(f"{label:36s} alone {max(alone):6.1f} img/s, side by side {min(pair):6.1f}-{max(pair):6.1f}: {share:.0%}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.record:
        command = shlex.join(["python", "benchmarks/busy_machine.py", *sys.argv[1:]])
        path = RECORDS / f"{args.record}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"command": command, "kind": speed.cpu_model(), "cores": os.cpu_count(), "rows": rows}
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
