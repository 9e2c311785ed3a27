#!/usr/bin/env bash
# What a lent GPU machine runs for docs/PERFORMANCE.md's CUDA section, in one go: vaegan's CUDA tests,
# the throughput benchmark on the GPU, `vaegan run --preset quick` on emoji as a folder, and both
# stages launched by torchrun (one process: vaegan joins no process group then, so this checks the launch,
# not DistributedDataParallel or nccl, which need two GPUs).
#
# The GPU machine has torch but neither the emoji package nor the data, so first, here:
#   python benchmarks/throughput.py --save-arrays devdata      # 4,096 images per setup, 15 MiB
#   pip download --no-deps -d .whl emoji==2.16.0               # vaegan.data imports it
# then there, from the repository root (with devdata and .whl carried): bash benchmarks/gpu_check.sh
# Everything it prints and the runs' last grids land in $OUT (or /tmp/gpu-check).
#
# `bash benchmarks/gpu_check.sh curve` runs issue 67's curve instead (benchmarks/curve.py), in one call of
# CURVE_SECONDS (540): every point at once, each a process of its own, stopped resumably where the deadline
# finds it, then packed into $OUT (curve-K.tar, pack.json, curve.txt) for `curve.py score --packed` here.
# First, here: python benchmarks/curve.py carry .curve-data   (font, emoji cache, Fashion-MNIST: 52 MiB)
#              pip download --no-deps -d .whl emoji==2.16.0
# and carry .curve-data and .whl. CURVE_POINTS names points to train instead of all of them.
# `bash benchmarks/gpu_check.sh curve-dry-run` runs the same here on the CPU at a few steps per stage, into
# /tmp/curve-dry-run (CURVE_SECONDS 3600), then scores what it packed at 50 samples against 50 real images.
# A point the deadline stopped comes back as its run folder (runs/curve-packed/POINT/run after `score`) where
# room is left: move it to runs/curve/POINT and rerun `train` on a GPU to resume it (a CUDA run's random state
# does not load on a CPU).
set -uo pipefail
if [ "${1:-}" = curve ] || [ "${1:-}" = curve-dry-run ]; then
    started=$(date +%s)
    if [ "$1" = curve ]; then
        out=${OUT:-/tmp/gpu-check} python=python3 runs=runs/curve jobs=16 threads=1 dry= limit=540
        python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=src:/tmp/site
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    else
        out=${OUT:-/tmp/curve-dry-run} python=${PYTHON:-.venv/bin/python} runs=/tmp/curve-dry-run-runs jobs=2 threads=1
        dry=--dry-run limit=3600
        rm -rf "$out" "$runs" /tmp/curve-dry-run-records
    fi
    mkdir -p "$out"
    export PYTHONUNBUFFERED=1 CI=true
    {
        roots=
        if [ "$1" = curve ]; then
            roots=$($python benchmarks/curve.py place .curve-data) || exit 1
        fi
        echo "data roots: ${roots:-the defaults}"
        # shellcheck disable=SC2086  # the roots are a word list
        $python benchmarks/curve.py plan --gpu docs/results/performance/h100.json $roots
        # the rest of the call: 20 s for stopped jobs to checkpoint, about a minute to pack
        seconds=$((${CURVE_SECONDS:-$limit} - ($(date +%s) - started) - 90))
        # shellcheck disable=SC2086  # the points and roots are word lists
        $python benchmarks/curve.py train ${CURVE_POINTS:---all} --runs "$runs" --jobs $jobs --threads $threads \
            --seconds $seconds $dry $roots
        $python benchmarks/curve.py pack "$runs" "$out"
        for log in "$runs"/*/log.txt; do
            echo "== $log"
            tail -n 4 "$log"
        done
        echo "curve: $(($(date +%s) - started)) s"
    } 2>&1 | tee "$out/curve.txt"
    if [ "$1" = curve-dry-run ]; then
        $python benchmarks/curve.py score --packed "$out" --unpacked /tmp/curve-dry-run-records/packed \
            --runs /nonexistent --samples 50 --real 50 --grids /tmp/curve-dry-run-records \
            --out /tmp/curve-dry-run-records/RESULTS.md
    fi
    exit 0
fi
out=${OUT:-/tmp/gpu-check}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
export PYTHONUNBUFFERED=1 CI=true PYTHONPATH=src:/tmp/site
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"

python3 -m pytest -p no:cacheprovider tests/training/test_cuda.py tests/training/test_placement.py 2>&1 |
    tee "$out/pytest.txt"

# The run's record: bring $out/<record>.json back to docs/results/performance/, then
# `python benchmarks/report.py --performance` rebuilds docs/PERFORMANCE.md.
record=${RECORD:-h200}
python3 benchmarks/throughput.py --device cuda --arrays devdata --check-steps 0 --threads 8 --record "$record" 2>&1 |
    tee "$out/throughput.txt"
cp "docs/results/performance/$record.json" "$out/" || true

# The quick preset end to end on the GPU: the emoji arrays as a folder of PNGs, as a user's own data.
python3 - <<'EOF'
from pathlib import Path

import numpy as np
from PIL import Image

folder = Path("/tmp/emoji_png")
folder.mkdir(exist_ok=True)
for i, image in enumerate(np.load("devdata/emoji.npz")["images"]):
    Image.fromarray(image.transpose(1, 2, 0)).save(folder / f"{i:05d}.png")
EOF
# `vaegan run --preset quick` sized for the GPU (presets.gpu_budget), twice: the first run trains the feature
# network, the second finds it cached. Wall-clock against training time
# (summary.txt's "training time") is what PERFORMANCE.md reports for the GPU.
{
    for pass in cold warm; do
        started=$(date +%s%N)
        python3 -m vaegan run --data /tmp/emoji_png --preset quick --out "/tmp/gpu-run-$pass" 2>&1 |
            grep -E "on a GPU|steps on|cached in|training time|one-time"
        echo "vaegan run --preset quick ($pass): $((($(date +%s%N) - started) / 1000000)) ms"
    done
    cp /tmp/gpu-run-warm/vae_vs_gan.png "$out/"
} 2>&1 | tee "$out/cli.txt"

# One process under torchrun on the GPU: torchrun's launch and environment only (at world size 1 vaegan
# joins no process group, so neither DDP nor nccl runs; that needs a machine with two GPUs).
{
    torchrun --standalone --nproc_per_node=1 -m vaegan train-vae --data /tmp/emoji_png --epochs 3 --device cuda \
        -o /tmp/ddp-vae 2>&1 | grep -E "epoch 3/|checkpoint:|rror"
    torchrun --standalone --nproc_per_node=1 -m vaegan train-gan --vae /tmp/ddp-vae --gan-epochs 2 --device cuda \
        -o /tmp/ddp-gan 2>&1 | grep -E "epoch 2/|checkpoint:|rror"
} 2>&1 | tee "$out/torchrun.txt"
