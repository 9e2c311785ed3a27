"""What a busy machine costs training: the shipped emoji VAE step alone, then two side by side, per wait policy;
and what `--precision auto`'s probe decides and caches beside a neighbour, then alone.

    python benchmarks/busy_machine.py                      # ~5 min on an idle 2-core machine
    python benchmarks/busy_machine.py --record epyc-f25    # also docs/results/busy/epyc-f25.json
    python benchmarks/busy_machine.py --only probe         # the probe's part alone, ~1 min

Each worker is a fresh process running `vaegan run`'s 64x64 VAE step (--precision, batch 64) for --seconds
of wall-clock. Two workers side by side on all the cores share them; the question is whether each gets its
share (about half its speed alone) or much less, as when OpenMP threads wait for threads the other program
holds off the cores. --settings picks the OpenMP environments, and whether the worker steps training's
ThreadShare (vaegan/training/contention.py), which runs on the cores others leave.

    python benchmarks/busy_machine.py --only share --precision bf16 --settings passive default share
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vaegan.training import speed

RECORDS = Path(__file__).resolve().parent.parent / "docs" / "results" / "busy"
# (label, environment): the wait policies, and one thread per worker, which cannot spin against itself
# (label, environment, whether the worker steps training's ThreadShare as TrainingRun does)
SETTINGS = {
    "default": ("libgomp's default (no policy: spins a while, then sleeps)", {}, False),
    "active": ("OMP_WAIT_POLICY=ACTIVE", {"OMP_WAIT_POLICY": "ACTIVE"}, False),
    "passive": ("OMP_WAIT_POLICY=PASSIVE (vaegan's before ThreadShare)", {"OMP_WAIT_POLICY": "PASSIVE"}, False),
    "spin10k": ("GOMP_SPINCOUNT=10000", {"GOMP_SPINCOUNT": "10000"}, False),
    "one-thread": ("1 thread each", {"OMP_NUM_THREADS": "1"}, False),
    "share": ("libgomp's default + ThreadShare (vaegan's)", {}, True),
    "passive-share": ("OMP_WAIT_POLICY=PASSIVE + ThreadShare", {"OMP_WAIT_POLICY": "PASSIVE"}, True),
}

WORKER = """
import sys, time, torch
from vaegan.cli.options import pipeline_configs
from vaegan.models.vae import VAE
from vaegan.training.common import adam
from vaegan.training.contention import ThreadShare
from vaegan.training.train_vae import vae_step
cfg, _, _ = pipeline_configs({"data": {"source": "emoji"}})
threads = ThreadShare() if sys.argv[3:] == ["share"] else None
torch.manual_seed(0)
model = VAE(cfg.model)
opt = adam(model.parameters(), lr=1e-4)
x, eps = torch.rand(64, 3, 64, 64), torch.randn(64, cfg.model.latent_dim)
cpu = torch.device("cpu")
def step():
    vae_step(model, opt, x, eps, loss=cfg.loss, beta=1.0, value_range=cfg.model.value_range, device=cpu, bf16=bf16)
bf16 = sys.argv[2] == "bf16"
step()
seconds, n, start = float(sys.argv[1]), 0, time.perf_counter()
while time.perf_counter() - start < seconds:
    step()
    n += 1
    if threads is not None:
        threads.step()
print(64 * n / (time.perf_counter() - start))
"""


# The real probes of `vaegan run`'s emoji stages on a fresh cache (argv[1]), as the vaegan command runs
# them (OpenMP threads sleep while they wait): one JSON line per stage.
PROBE = """
import json, sys, torch
from vaegan.cli.options import pipeline_configs
from vaegan.training import speed
from vaegan.training.contention import OthersShare
from vaegan.training.train_gan import gan_probe
from vaegan.training.train_vae import vae_probe
cfg, gan, _ = pipeline_configs({"data": {"source": "emoji"}})
images = torch.randint(0, 256, (128, 3, 64, 64), dtype=torch.uint8)  # a step's cost does not hang on its pixels
cpu, cache = torch.device("cpu"), sys.argv[1]
for stage, probe in (("VAE", vae_probe(cfg, images)), ("GAN", gan_probe(gan, cfg, images))):
    with OthersShare() as others:
        choice = speed.choose("auto", "auto", cpu, probe.shape, probe.time_steps, cache)
    key = speed.cache_key(cpu, probe.shape)
    cached = any(k.startswith(key) for k in speed.read_cache(speed.cache_file(cache)))
    print(json.dumps({"stage": stage, "verdict": choice.note, "others": others.share, "cached": cached}))
"""
# (label, whether a neighbour trains beside the probe): the same cache throughout, so the rows show what a
# busy run leaves behind for the next one.
PROBE_RUNS = (("beside a neighbour", True), ("alone, next", False), ("alone, again", False))


def environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without its OpenMP settings, then `env`'s."""
    mine = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"))}
    return {**mine, **env, "PYTHONPATH": os.pathsep.join(filter(None, ["src", os.environ.get("PYTHONPATH")]))}


def workers(
    count: int, env: dict[str, str], seconds: float, precision: str = "fp32", share: bool = False
) -> list[float]:
    """Images per second of `count` workers started together."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(seconds), precision, "share" if share else "fixed"],
            env=environment(env),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    return [float(p.communicate()[0].strip().splitlines()[-1]) for p in procs]


def probes(seconds: float) -> list[dict[str, object]]:
    """What the probe decided and cached, per stage, beside a neighbour (the step of WORKER under libgomp's
    spinning default, as a plain PyTorch program runs), then alone twice, on one fresh cache."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as cache:
        for label, busy in PROBE_RUNS:
            neighbour = None
            if busy:
                args = [sys.executable, "-c", WORKER, str(seconds), "fp32", "fixed"]
                neighbour = subprocess.Popen(
                    args, env=environment({"OMP_WAIT_POLICY": "ACTIVE"}), stdout=subprocess.DEVNULL
                )
                time.sleep(3)  # past its imports and first step: computing
            try:
                done = subprocess.run(
                    [sys.executable, "-c", PROBE, cache],
                    env=environment({"OMP_WAIT_POLICY": "PASSIVE"}),
                    capture_output=True,
                    text=True,
                    check=True,
                )
            finally:
                if neighbour is not None:
                    neighbour.kill()
                    neighbour.wait()
            for line in done.stdout.splitlines():
                row = {"run": label, **json.loads(line)}
                rows.append(row)
                print(
                    f"{label:20s} {row['stage']}: {row['verdict']}; others {row['others']:.0%}; cached {row['cached']}"
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="wall-clock per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--record", metavar="NAME", help=f"also save the table as {RECORDS}/NAME.json")
    parser.add_argument("--only", choices=("share", "probe"), help="one of the two parts (default: both)")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="the workers' step")
    parser.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), default=["passive", "default", "share"])
    args = parser.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    rows = []
    for label, env, share in [SETTINGS[name] for name in args.settings] if args.only != "probe" else ():
        alone, pair = [], []
        for _ in range(args.rounds):  # alone and side by side in turn, so a drifting machine moves both
            alone += workers(1, env, args.seconds, args.precision, share)
            pair += workers(2, env, args.seconds, args.precision, share)
        share = min(pair) / max(alone)  # the worse worker against the better lone run
        row = {"setting": label, "precision": args.precision, "alone": alone, "side_by_side": pair}
        rows.append({**row, "worst_share": round(share, 3)})
        print(f"{label:36s} alone {max(alone):6.1f} img/s, side by side {min(pair):6.1f}-{max(pair):6.1f}: {share:.0%}")
    probe_rows = probes(60.0) if args.only != "share" else []
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.record:
        command = shlex.join(["python", "benchmarks/busy_machine.py", *sys.argv[1:]])
        path = RECORDS / f"{args.record}.json"
        old = json.loads(path.read_text()) if path.exists() else {}
        record = {
            "kind": speed.cpu_model(),
            "cores": os.cpu_count(),
            "command": old.get("command") if args.only == "probe" else command,
            "rows": rows or old.get("rows", []),
            "probe_command": old.get("probe_command") if args.only == "share" else command,
            "probe": probe_rows or old.get("probe", []),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
