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
set -uo pipefail
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
